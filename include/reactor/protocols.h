// The server's protocols: echo, and the sockets tutorial's app protocol (see app_codec.h).
// Each comes with the HandlerFactory a TcpServer takes. Loop-thread only.
#pragma once

#include <cstddef>

#include "reactor/connection.h"
#include "reactor/tcp_server.h"

namespace reactor {

/// Every byte back, in order. Stateless: one instance serves every connection. On the peer's
/// EOF it finishes writing and closes (the default onPeerShutdown).
class EchoHandler final : public ConnectionHandler {
 public:
  void onMessage(Connection& conn, Buffer& input) override;
};

/// Hands the same handler to every connection.
class SharedHandlerFactory final : public HandlerFactory {
 public:
  explicit SharedHandlerFactory(ConnectionHandler& handler) : handler_(handler) {}
  ConnectionHandler* create(Connection& /*conn*/) override { return &handler_; }

 private:
  ConnectionHandler& handler_;
};

/// The app protocol's server side. Requests are answered in order (pipelining included);
/// bad input gets one {"error": ...} answer, then the connection is shut down after that
/// answer is written, and nothing more it sends is read as a request. What still arrives is
/// discarded for a bounded time and byte count (so the answer is not lost to a reset), then the
/// connection is closed (nginx's lingering close).
///
/// Memory: a connection between messages holds no protocol state at all (a shared handler);
/// a per-connection decoder exists only while a message is incomplete. It relies on
/// TcpServer's convention that conn.context holds the current protocol handler.
class AppFactory final : public HandlerFactory {
 public:
  explicit AppFactory(size_t maxMessageBytes);
  ~AppFactory() override;
  ConnectionHandler* create(Connection& conn) override;
  void release(Connection& conn, ConnectionHandler* handler) override;

  class Handler;  // shared, between messages
  class Session;  // per connection, while a message is incomplete
  class Failed;   // per connection, after bad input: discards what arrives, for a while

 private:
  std::unique_ptr<Handler> handler_;
};

}  // namespace reactor
