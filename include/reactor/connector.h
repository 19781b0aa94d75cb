// Connector: a non-blocking connect, completed on writability with SO_ERROR checked (the
// tutorial's connect_ex). Reports refused, unreachable and timed-out connections by errno.
// Loop-thread only. One Connector makes one attempt; destroy it (or let it finish) freely.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <system_error>

#include "reactor/address.h"
#include "reactor/event_loop.h"
#include "reactor/fd.h"

namespace reactor {

struct ConnectOptions {
  std::chrono::milliseconds timeout{10000};
  /// Bind the socket to this source address first (port 0; IP_BIND_ADDRESS_NO_PORT where
  /// available), e.g. to spread clients over 127.0.0.x.
  std::optional<SockAddr> source;
  bool noDelay = true;  // TCP_NODELAY
};

class Connector final : public IoHandler {
 public:
  /// On success: a connected non-blocking socket and an empty error. On failure: an invalid
  /// socket and the error (ECONNREFUSED, ENETUNREACH, ETIMEDOUT, ...). Called exactly once,
  /// on the loop thread, never from inside start().
  using Callback = std::function<void(UniqueFd socket, std::error_code error)>;

  Connector(EventLoop& loop, const SockAddr& address, ConnectOptions options, Callback callback);
  ~Connector();  // cancels a pending attempt silently

  void start();
  const SockAddr& address() const { return address_; }

  void handleEvent(const Event& event) override;

 private:
  std::error_code connectNow();  // error at once, or success / in progress (registered_)
  void finish(std::error_code error);

  EventLoop& loop_;
  SockAddr address_;
  ConnectOptions options_;
  Callback callback_;
  UniqueFd fd_;
  TimerId timer_ = 0;
  bool done_ = false;
  bool registered_ = false;
};

/// A blocking-free helper: creates a non-blocking, close-on-exec TCP socket for family.
UniqueFd makeTcpSocket(int family);

}  // namespace reactor
