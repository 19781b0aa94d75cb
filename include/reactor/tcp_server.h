// TcpServer: one loop's server. An Acceptor, the live connections (an intrusive list that the
// idle sweep keeps in last-activity order lazily: the data path does nothing per message), the
// connection limit, and counters. Protocols plug in through a HandlerFactory.
//
// TcpServer is the ConnectionHandler of every connection it owns and forwards to the protocol
// handler, which it keeps in conn.context (so the server learns of every close without a
// per-connection callback object). A protocol handler may replace itself there (e.g. with a
// per-connection state object created only while a message is incomplete); release() receives
// the one in place at close.
//
// Several TcpServers (one per loop thread) can share one port through SO_REUSEPORT
// (options.acceptor.reusePort) and one connection limit (options.sharedOpen).
// Loop-thread only, except stats(), see there.
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
  /// The limit on open connections: this server's own, or the total of all servers sharing
  /// `sharedOpen` (an atomic touched once per accept and close, never on the data path).
  size_t maxConnections = 10000;
  std::atomic<size_t>* sharedOpen = nullptr;
  /// When set, every accepted socket is handed to it instead of being served here: one
  /// acceptor feeding several loops (round-robin through their adopt()) where the kernel does
  /// not balance SO_REUSEPORT listeners.
  std::function<void(UniqueFd)> distribute;
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
/// per-connection one; `release` is called right after the handler's onClose (from inside a
/// callback: free per-connection state through EventLoop::defer, not at once).
class HandlerFactory {
 public:
  virtual ~HandlerFactory() = default;
  virtual ConnectionHandler* create(Connection& conn) = 0;
  virtual void release(Connection& /*conn*/, ConnectionHandler* /*handler*/) {}
};

class TcpServer {
 public:
  /// Listens at once (throws std::system_error naming the address, see Acceptor).
  TcpServer(EventLoop& loop, const SockAddr& address, const ServerOptions& options,
            HandlerFactory& factory);
  /// Accepts on a socket that is already listening (see Acceptor).
  TcpServer(EventLoop& loop, UniqueFd listening, const ServerOptions& options,
            HandlerFactory& factory);
  /// Listens on nothing: connections arrive through adopt() only.
  TcpServer(EventLoop& loop, const ServerOptions& options, HandlerFactory& factory);
  ~TcpServer();

  const SockAddr& localAddress() const;
  /// Adopts a connected socket accepted elsewhere (round-robin hand-off between loops).
  void adopt(UniqueFd socket);
  /// Stops accepting; existing connections go on.
  void stopAccepting();
  /// Graceful end: stop accepting, shut down every connection after its pending output is
  /// written, and force-close whatever remains after `grace`. Calls done() once all are closed
  /// (at once if none is open).
  void shutdown(std::chrono::milliseconds grace, std::function<void()> done);

  /// Counters. On the loop thread the bytes of live connections are included; from another
  /// thread, a racy snapshot of the counters with the bytes of closed connections only.
  ServerStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace reactor
