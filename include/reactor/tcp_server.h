// TcpServer: one loop's server. An Acceptor, the live connections (an intrusive list kept in
// last-activity order, so the idle sweep looks only at the oldest), the connection limit, and
// counters. Protocols plug in through a HandlerFactory. Loop-thread only, except stats(),
// which returns a racy snapshot for statistics.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

#include "reactor/acceptor.h"
#include "reactor/connection.h"
#include "reactor/event_loop.h"

namespace reactor {

struct ServerOptions {
  size_t maxConnections = 10000;
  std::chrono::seconds idleTimeout{300};  // 0 = off
  AcceptorOptions acceptor;
  ConnectionOptions connection;
};

struct ServerStats {
  uint64_t open = 0;
  uint64_t accepted = 0;
  uint64_t closed = 0;
  uint64_t refused = 0;  // over max-connections, poller refused (FD_SETSIZE), EMFILE
  uint64_t bytesIn = 0;
  uint64_t bytesOut = 0;
};

/// Gives each new connection its protocol handler. Return a shared handler (echo) or a
/// per-connection one; `release` is called from onClose for per-connection handlers.
class HandlerFactory {
 public:
  virtual ~HandlerFactory() = default;
  virtual ConnectionHandler* create(Connection& conn) = 0;
  virtual void release(Connection& /*conn*/, ConnectionHandler* /*handler*/) {}
};

class TcpServer {
 public:
  /// Listens at once (throws std::system_error naming the address, see Acceptor), unless
  /// `listenFd` is given: then that already-listening socket is used (SO_REUSEPORT siblings
  /// or a socket handed over).
  TcpServer(EventLoop& loop, const SockAddr& address, const ServerOptions& options,
            HandlerFactory& factory);
  ~TcpServer();

  const SockAddr& localAddress() const;
  /// Adopts a connected socket accepted elsewhere (round-robin hand-off between loops).
  void adopt(UniqueFd socket);
  /// Stops accepting; existing connections go on.
  void stopAccepting();
  /// Graceful end: stop accepting, shut down every connection after its pending output is
  /// written, and force-close whatever remains after `grace`. Calls done() once all are closed.
  void shutdown(std::chrono::milliseconds grace, std::function<void()> done);

  ServerStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace reactor
