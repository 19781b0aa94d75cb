#include "reactor/tcp_server.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "reactor/log.h"
#include "reactor/trace.h"

namespace reactor {

struct TcpServer::Impl final : public ConnectionHandler {
  Impl(EventLoop& l, const ServerOptions& o, HandlerFactory& f) : loop(l), options(o), factory(f) {}

  static ConnectionHandler* protocol(Connection& conn) {
    return static_cast<ConnectionHandler*>(conn.context);
  }

  void onMessage(Connection& conn, Buffer& input) override {
    protocol(conn)->onMessage(conn, input);
  }
  void onPeerShutdown(Connection& conn) override { protocol(conn)->onPeerShutdown(conn); }
  void onWriteComplete(Connection& conn) override {
    // While shutting down, a connection whose output has drained is done.
    if (shuttingDown) {
      conn.close(CloseReason::kLocal);
      return;
    }
    protocol(conn)->onWriteComplete(conn);
  }
  void onClose(Connection& conn, CloseReason reason) override {
    unlink(&conn);
    open.fetch_sub(1, std::memory_order_relaxed);
    closed.fetch_add(1, std::memory_order_relaxed);
    closedBytesIn.fetch_add(conn.bytesIn(), std::memory_order_relaxed);
    closedBytesOut.fetch_add(conn.bytesOut(), std::memory_order_relaxed);
    unreserve();
    log::debug("connection closed: {}", toString(reason));
    ConnectionHandler* handler = protocol(conn);
    conn.context = nullptr;
    handler->onClose(conn, reason);
    factory.release(conn, handler);
    if (shuttingDown && head == nullptr) finishShutdown();
  }

  // Takes one place under the connection limit. With a shared counter the increment comes
  // first, so two loops cannot both take the last place.
  bool reserve() {
    if (options.sharedOpen == nullptr) {
      return open.load(std::memory_order_relaxed) < options.maxConnections;
    }
    if (options.sharedOpen->fetch_add(1, std::memory_order_relaxed) < options.maxConnections) {
      return true;
    }
    options.sharedOpen->fetch_sub(1, std::memory_order_relaxed);
    return false;
  }
  void unreserve() {
    if (options.sharedOpen != nullptr) options.sharedOpen->fetch_sub(1, std::memory_order_relaxed);
  }

  // From the acceptor: served here, or handed to another loop.
  void onAccepted(UniqueFd socket) {
    if (options.distribute) {
      options.distribute(std::move(socket));
    } else {
      onNewConnection(std::move(socket));
    }
  }

  void onNewConnection(UniqueFd socket) {
    if (shuttingDown) return;  // the socket closes here
    if (!reserve()) {
      if (trace::enabled()) trace::line(socket.get(), "closed at once: connection limit reached");
      refuse("connection limit reached ({})", options.maxConnections);
      return;  // accept-and-close: the socket closes here
    }
    // Small request/response messages must not wait for Nagle's algorithm.
    int one = 1;
    if (::setsockopt(socket.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0) {
      // ECONNRESET/EINVAL: the peer already went away; the connection's first read reports it.
      log::debug("TCP_NODELAY: {}", std::strerror(errno));
    }
    const int fd = socket.get();
    std::error_code error;
    Connection* conn =
        Connection::create(loop, std::move(socket), this, &options.connection, error);
    if (conn == nullptr) {
      if (trace::enabled()) trace::line(fd, "closed at once: {}", error.message());
      unreserve();
      refuse("cannot watch fd {}: {}", fd, error.message());
      return;
    }
    accepted.fetch_add(1, std::memory_order_relaxed);
    open.fetch_add(1, std::memory_order_relaxed);
    linkTail(conn);
    conn->context = factory.create(*conn);
  }

  template <typename... Args>
  void refuse(fmt::format_string<Args...> f, Args&&... args) {
    refused.fetch_add(1, std::memory_order_relaxed);
    refusedLog.warn("refusing a connection: {}", fmt::format(f, std::forward<Args>(args)...));
  }

  void linkTail(Connection* conn) {
    conn->prev = tail;
    conn->next = nullptr;
    if (tail != nullptr) {
      tail->next = conn;
    } else {
      head = conn;
    }
    tail = conn;
  }

  void unlink(Connection* conn) {
    if (conn->prev != nullptr) {
      conn->prev->next = conn->next;
    } else {
      head = conn->next;
    }
    if (conn->next != nullptr) {
      conn->next->prev = conn->prev;
    } else {
      tail = conn->prev;
    }
    conn->prev = conn->next = nullptr;
  }

  // Once per interval. The data path only stamps Connection::lastActivity(); ordering happens
  // here, lazily: connections active since the previous sweep move to the tail, so the quiet
  // ones gather at the head, oldest first. The walk ends at the first connection it moved, so
  // each connection is looked at once per sweep (10,000 of them: tens of microseconds).
  void sweepIdle() {
    const Clock::time_point now = loop.now();
    const Clock::time_point cutoff = now - options.idleTimeout;
    size_t budget = static_cast<size_t>(open.load(std::memory_order_relaxed));
    Connection* conn = head;
    Connection* firstMoved = nullptr;
    while (conn != nullptr && conn != firstMoved && budget-- > 0) {
      Connection* next = conn->next;
      if (conn->lastActivity() <= cutoff) {
        if (trace::enabled()) {
          trace::line(conn->fd(), "idle timeout: no byte moved for {} s",
                      options.idleTimeout.count());
        }
        conn->close(CloseReason::kIdle);  // onClose unlinks it
      } else if (conn->lastActivity() > lastSweep && conn != tail) {
        unlink(conn);
        linkTail(conn);
        if (firstMoved == nullptr) firstMoved = conn;
      }
      conn = next;
    }
    lastSweep = now;
  }

  void finishShutdown() {
    if (graceTimer != 0) {
      loop.cancel(graceTimer);
      graceTimer = 0;
    }
    if (shutdownDone) {
      auto done = std::move(shutdownDone);
      shutdownDone = nullptr;
      done();
    }
  }

  void closeAll(CloseReason reason) {
    while (head != nullptr) head->close(reason);
  }

  EventLoop& loop;
  ServerOptions options;
  HandlerFactory& factory;
  std::unique_ptr<Acceptor> acceptor;
  SockAddr local;
  Connection* head = nullptr;
  Connection* tail = nullptr;
  TimerId sweepTimer = 0;
  TimerId graceTimer = 0;
  Clock::time_point lastSweep{};
  bool shuttingDown = false;
  std::function<void()> shutdownDone;
  log::RateLimitedLog refusedLog;

  std::atomic<uint64_t> open{0};
  std::atomic<uint64_t> accepted{0};
  std::atomic<uint64_t> closed{0};
  std::atomic<uint64_t> refused{0};
  std::atomic<uint64_t> closedBytesIn{0};
  std::atomic<uint64_t> closedBytesOut{0};
};

TcpServer::TcpServer(EventLoop& loop, const ServerOptions& options, HandlerFactory& factory)
    : impl_(std::make_unique<Impl>(loop, options, factory)) {
  Impl* impl = impl_.get();
  if (options.idleTimeout.count() > 0) {
    // A quarter of the timeout, within [100 ms, 1 s]: a connection closes at most that late.
    auto interval = std::clamp<std::chrono::milliseconds>(
        options.idleTimeout / 4, std::chrono::milliseconds(100), std::chrono::milliseconds(1000));
    impl->sweepTimer = loop.runEvery(interval, [impl] { impl->sweepIdle(); });
  }
}

TcpServer::TcpServer(EventLoop& loop, const SockAddr& address, const ServerOptions& options,
                     HandlerFactory& factory)
    : TcpServer(loop, options, factory) {
  Impl* impl = impl_.get();
  impl->acceptor = std::make_unique<Acceptor>(
      loop, address, options.acceptor,
      [impl](UniqueFd socket, const SockAddr&) { impl->onAccepted(std::move(socket)); });
  impl->local = impl->acceptor->localAddress();
}

TcpServer::TcpServer(EventLoop& loop, UniqueFd listening, const ServerOptions& options,
                     HandlerFactory& factory)
    : TcpServer(loop, options, factory) {
  Impl* impl = impl_.get();
  impl->acceptor = std::make_unique<Acceptor>(
      loop, std::move(listening), options.acceptor,
      [impl](UniqueFd socket, const SockAddr&) { impl->onAccepted(std::move(socket)); });
  impl->local = impl->acceptor->localAddress();
}

TcpServer::~TcpServer() {
  Impl* impl = impl_.get();
  if (impl->sweepTimer != 0) impl->loop.cancel(impl->sweepTimer);
  if (impl->graceTimer != 0) impl->loop.cancel(impl->graceTimer);
  impl->shutdownDone = nullptr;
  impl->shuttingDown = false;
  impl->closeAll(CloseReason::kLocal);
}

const SockAddr& TcpServer::localAddress() const { return impl_->local; }

void TcpServer::adopt(UniqueFd socket) { impl_->onNewConnection(std::move(socket)); }

void TcpServer::stopAccepting() {
  if (impl_->acceptor) impl_->acceptor->stop();
}

void TcpServer::shutdown(std::chrono::milliseconds grace, std::function<void()> done) {
  Impl* impl = impl_.get();
  stopAccepting();
  impl->shuttingDown = true;
  impl->shutdownDone = std::move(done);
  // Connections with nothing pending close now; the others close once their output drains
  // (onWriteComplete) or at the deadline. Walk with the next pointer taken first: close()
  // unlinks the connection.
  for (Connection* conn = impl->head; conn != nullptr;) {
    Connection* next = conn->next;
    if (conn->pendingOutput() == 0) {
      conn->close(CloseReason::kLocal);
    } else {
      conn->shutdownAfterWrite();
    }
    conn = next;
  }
  if (impl->head == nullptr) {
    impl->finishShutdown();
    return;
  }
  impl->graceTimer = impl->loop.runAfter(grace, [impl] {
    impl->graceTimer = 0;
    impl->closeAll(CloseReason::kLocal);
  });
}

ServerStats TcpServer::stats() const {
  const Impl* impl = impl_.get();
  ServerStats s;
  s.open = impl->open.load(std::memory_order_relaxed);
  s.accepted = impl->accepted.load(std::memory_order_relaxed);
  s.closed = impl->closed.load(std::memory_order_relaxed);
  s.refused = impl->refused.load(std::memory_order_relaxed);
  s.bytesIn = impl->closedBytesIn.load(std::memory_order_relaxed);
  s.bytesOut = impl->closedBytesOut.load(std::memory_order_relaxed);
  if (impl->loop.inLoopThread()) {
    if (impl->acceptor) s.refused += impl->acceptor->stats().emfile;
    for (const Connection* conn = impl->head; conn != nullptr; conn = conn->next) {
      s.bytesIn += conn->bytesIn();
      s.bytesOut += conn->bytesOut();
    }
  }
  return s;
}

}  // namespace reactor
