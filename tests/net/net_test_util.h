// Helpers for the loop-level tests: a loop driven by the test thread, a small server made of an
// Acceptor and Connections, and non-blocking raw clients polled from inside the loop's turns.
#pragma once

#include <gtest/gtest.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <functional>
#include <memory>
#include <set>
#include <string>

#include "reactor/acceptor.h"
#include "reactor/connection.h"
#include "reactor/event_loop.h"
#include "reactor/io.h"
#include "support/socket_client.h"

namespace nettest {

using namespace std::chrono_literals;

/// Runs loop turns until pred() holds or the time is up. Returns pred().
inline bool runUntil(reactor::EventLoop& loop, const std::function<bool()>& pred,
                     std::chrono::milliseconds limit = 5000ms) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return pred();
    loop.runOnce(5);
  }
  return true;
}

/// Whether socket calls are faulted process-wide (REACTOR_FAULT_SEED with the fault-aware main):
/// tests that count exact reads or need two reads in one batch skip then.
inline bool faultsInjected() { return reactor::io::detail::gHooks != nullptr; }

/// A deterministic pattern so that order and completeness can be checked byte by byte.
inline std::string pattern(size_t n, size_t salt = 0) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 251 + salt) % 26);
  return s;
}

/// A non-blocking client socket; its I/O never blocks, so it can run between loop turns.
struct Client {
  testsupport::Fd fd;
  std::string received;
  bool eof = false;
  int error = 0;

  static Client connect(uint16_t port, const std::string& host = "127.0.0.1") {
    Client c;
    c.fd = testsupport::connectTcp(host, port);
    return c;
  }
  /// Sends what the kernel takes now; returns the count (0 when full).
  size_t sendSome(std::string_view data) {
    ssize_t n = ::send(fd.get(), data.data(), data.size(), MSG_NOSIGNAL);
    return n > 0 ? static_cast<size_t>(n) : 0;
  }
  /// Reads what is there now into `received`.
  void poll() {
    char buf[65536];
    for (;;) {
      ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
      if (n > 0) {
        received.append(buf, static_cast<size_t>(n));
        continue;
      }
      if (n == 0) eof = true;
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) error = errno;
      return;
    }
  }
  void closeWithReset() { testsupport::closeWithReset(fd); }
};

/// Counts what a connection reports; echoes if asked.
class RecordingHandler : public reactor::ConnectionHandler {
 public:
  bool echo = true;
  std::function<void(reactor::Connection&, reactor::Buffer&)> onMessageHook;
  std::set<reactor::Connection*> live;
  std::vector<reactor::CloseReason> closes;
  int messages = 0;
  int peerShutdowns = 0;
  int writeCompletes = 0;
  size_t maxPending = 0;

  void onMessage(reactor::Connection& conn, reactor::Buffer& input) override {
    ++messages;
    if (onMessageHook) {
      onMessageHook(conn, input);
    } else if (echo) {
      conn.send(input);
    }
    maxPending = std::max(maxPending, conn.closed() ? 0 : conn.pendingOutput());
  }
  void onPeerShutdown(reactor::Connection& conn) override {
    ++peerShutdowns;
    ConnectionHandler::onPeerShutdown(conn);
  }
  void onWriteComplete(reactor::Connection&) override { ++writeCompletes; }
  void onClose(reactor::Connection& conn, reactor::CloseReason reason) override {
    live.erase(&conn);
    closes.push_back(reason);
  }
};

/// An Acceptor on 127.0.0.1:0 whose connections all use one handler and one set of options.
struct Server {
  reactor::EventLoop& loop;
  RecordingHandler handler;
  reactor::ConnectionOptions options;
  std::unique_ptr<reactor::Acceptor> acceptor;
  std::function<void(reactor::Connection&)> onAccepted;
  std::vector<reactor::Connection*> accepted;  // in order; valid while in handler.live

  explicit Server(reactor::EventLoop& l, reactor::AcceptorOptions acceptorOptions = {}) : loop(l) {
    acceptor = std::make_unique<reactor::Acceptor>(
        loop, reactor::SockAddr::parse("127.0.0.1", 0), acceptorOptions,
        [this](reactor::UniqueFd fd, const reactor::SockAddr&) {
          // As TcpServer does: the rest of a short write must not wait for a delayed ACK.
          const int on = 1;
          ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
          std::error_code ec;
          reactor::Connection* conn =
              reactor::Connection::create(loop, std::move(fd), &handler, &options, ec);
          if (conn == nullptr) {
            ADD_FAILURE() << "Connection::create: " << ec.message();
            return;
          }
          handler.live.insert(conn);
          accepted.push_back(conn);
          if (onAccepted) onAccepted(*conn);
        });
  }
  ~Server() {
    // Close what is left while the loop is alive; the deferred deletes run in ~EventLoop.
    auto live = handler.live;
    for (auto* conn : live) conn->close();
  }
  uint16_t port() const { return acceptor->localAddress().port(); }
  /// The newest accepted connection (waits for it).
  /// Waits until `count` connections were accepted in all; returns the newest.
  reactor::Connection* accept(size_t count = 1) {
    runUntil(loop, [&] { return accepted.size() >= count; });
    return accepted.size() >= count ? accepted.back() : nullptr;
  }
};

}  // namespace nettest
