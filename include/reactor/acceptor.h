// Acceptor: the listening socket, registered on its own handler, separate from the client
// sockets (the tutorial's `data=None`, muduo's Acceptor).
//
// Accepts up to a bounded number of connections per readiness (accept4, non-blocking and
// close-on-exec). On EMFILE/ENFILE it frees a spare descriptor, accepts and closes the pending
// connection so the kernel's queue does not make the listener spin readable, re-takes the spare
// and pauses accepting for a short back-off (libuv's EMFILE trick plus nginx's timer).
// Loop-thread only.
#pragma once

#include <cstdint>
#include <functional>

#include "reactor/address.h"
#include "reactor/event_loop.h"
#include "reactor/fd.h"

namespace reactor {

struct AcceptorOptions {
  int backlog = 4096;
  bool reusePort = false;    // SO_REUSEPORT (several loops listening on one port)
  int acceptsPerEvent = 64;  // bound per readiness
  std::chrono::milliseconds emfileBackoff{100};
};

struct AcceptorStats {
  uint64_t accepted = 0;
  uint64_t emfile = 0;  // EMFILE/ENFILE episodes (each cost one refused connection)
};

class Acceptor final : public IoHandler {
 public:
  using NewConnection = std::function<void(UniqueFd socket, const SockAddr& peer)>;

  /// Creates, binds and listens (SO_REUSEADDR always). Throws std::system_error whose what()
  /// names the address and the system's reason (e.g. "127.0.0.1:65432: Address already in use").
  Acceptor(EventLoop& loop, const SockAddr& address, const AcceptorOptions& options,
           NewConnection onNewConnection);
  /// Accepts on a socket that is already listening (inherited from a master process or from
  /// systemd; options.backlog and reusePort do not apply). Throws std::system_error if it cannot
  /// be registered.
  Acceptor(EventLoop& loop, UniqueFd listening, const AcceptorOptions& options,
           NewConnection onNewConnection);
  ~Acceptor();

  /// The bound address (the real port after binding port 0).
  const SockAddr& localAddress() const { return local_; }
  /// Stops accepting and closes the listening socket. Idempotent.
  void stop();
  const AcceptorStats& stats() const { return stats_; }

  void handleEvent(const Event& event) override;

 private:
  void handleFdExhaustion();

  EventLoop& loop_;
  AcceptorOptions options_;
  NewConnection onNewConnection_;
  UniqueFd listenFd_;
  UniqueFd spareFd_;
  SockAddr local_;
  AcceptorStats stats_;
  TimerId backoffTimer_ = 0;
};

/// A listening socket without a loop (for --threads without SO_REUSEPORT, and tests):
/// non-blocking, close-on-exec, SO_REUSEADDR, optional SO_REUSEPORT. Throws like Acceptor.
UniqueFd listenOn(const SockAddr& address, int backlog, bool reusePort);

}  // namespace reactor
