// TcpServer in process: the shutdown callback, the idle sweep, adopt() and live statistics.
// The loop runs on the test thread (runOnce) between the raw client's calls.
#include "reactor/tcp_server.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <functional>

#include "reactor/protocols.h"
#include "support/socket_client.h"

namespace reactor {
namespace {

using namespace std::chrono_literals;
using testsupport::Fd;

struct Fixture : public ::testing::Test {
  EventLoop loop{createPoller("auto")};
  EchoHandler echo;
  SharedHandlerFactory factory{echo};

  // Runs the loop until pred() holds or the timeout passes.
  bool runUntil(const std::function<bool()>& pred, std::chrono::milliseconds timeout = 5s) {
    const auto deadline = Clock::now() + timeout;
    while (!pred()) {
      if (Clock::now() >= deadline) return false;
      loop.runOnce(10);
    }
    return true;
  }

  Fd connect(const TcpServer& server) {
    int error = 0;
    Fd fd = testsupport::connectTcp("127.0.0.1", server.localAddress().port(), 2000ms, {}, &error);
    EXPECT_TRUE(fd) << error;
    return fd;
  }

  // Sends and drives the loop until the echo is back.
  bool echoes(int fd, const std::string& text) {
    if (testsupport::sendAll(fd, text) != 0) return false;
    std::string got;
    runUntil([&] {
      char buf[256];
      ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0) got.append(buf, static_cast<size_t>(n));
      return got.size() >= text.size() || n == 0;
    });
    return got == text;
  }

  static ServerOptions options(std::chrono::seconds idle = 0s) {
    ServerOptions o;
    o.idleTimeout = idle;
    return o;
  }
};

TEST_F(Fixture, ShutdownWithoutConnectionsCallsDoneAtOnce) {
  TcpServer server(loop, SockAddr::parse("127.0.0.1", 0), options(), factory);
  bool done = false;
  server.shutdown(1s, [&] { done = true; });
  EXPECT_TRUE(done);
}

TEST_F(Fixture, ShutdownClosesIdleConnectionsAndCallsDone) {
  TcpServer server(loop, SockAddr::parse("127.0.0.1", 0), options(), factory);
  Fd a = connect(server);
  Fd b = connect(server);
  ASSERT_TRUE(runUntil([&] { return server.stats().open == 2; }));
  ASSERT_TRUE(echoes(a.get(), "abc"));
  bool done = false;
  server.shutdown(5s, [&] { done = true; });
  ASSERT_TRUE(runUntil([&] { return done; }, 1s));
  EXPECT_EQ(server.stats().open, 0u);
  EXPECT_TRUE(testsupport::waitForClose(a.get(), 1000ms));
  EXPECT_TRUE(testsupport::waitForClose(b.get(), 1000ms));
  // No longer accepting.
  int error = 0;
  Fd late = testsupport::connectTcp("127.0.0.1", server.localAddress().port(), 500ms, {}, &error);
  EXPECT_FALSE(late);
}

TEST_F(Fixture, IdleSweepClosesOnlyTheIdle) {
  TcpServer server(loop, SockAddr::parse("127.0.0.1", 0), options(1s), factory);
  Fd idle = connect(server);
  Fd busy = connect(server);
  const auto connected = Clock::now();
  ASSERT_TRUE(runUntil([&] { return server.stats().open == 2; }));
  // The busy one moves a byte every turn or so until the sweep has closed someone (bounded:
  // a loaded machine may take far longer than the 1 s timeout plus one 250 ms sweep).
  const auto limit = connected + 20s;
  while (server.stats().open == 2 && Clock::now() < limit) {
    ASSERT_TRUE(echoes(busy.get(), "x"));
    runUntil([] { return false; }, 50ms);
  }
  EXPECT_GE(Clock::now() - connected, 1s) << "closed before the idle timeout";
  EXPECT_EQ(server.stats().open, 1u);
  EXPECT_TRUE(testsupport::waitForClose(idle.get(), 1000ms));
  EXPECT_TRUE(echoes(busy.get(), "still"));
}

TEST_F(Fixture, AdoptServesASocketAcceptedElsewhere) {
  TcpServer listener(loop, SockAddr::parse("127.0.0.1", 0), options(), factory);
  TcpServer adopter(loop, options(), factory);
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair), 0);
  Fd client(pair[0]);
  adopter.adopt(UniqueFd(pair[1]));
  EXPECT_EQ(adopter.stats().open, 1u);
  EXPECT_TRUE(echoes(client.get(), "adopted"));
  ServerStats s = adopter.stats();  // on the loop thread: live bytes included
  EXPECT_EQ(s.bytesIn, 7u);
  EXPECT_EQ(s.bytesOut, 7u);
  EXPECT_EQ(s.accepted, 1u);
}

TEST_F(Fixture, OverTheLimitIsAcceptedAndClosed) {
  ServerOptions o = options();
  o.maxConnections = 1;
  TcpServer server(loop, SockAddr::parse("127.0.0.1", 0), o, factory);
  Fd first = connect(server);
  ASSERT_TRUE(runUntil([&] { return server.stats().open == 1; }));
  Fd second = connect(server);
  ASSERT_TRUE(runUntil([&] { return server.stats().refused == 1; }));
  EXPECT_TRUE(testsupport::waitForClose(second.get(), 1000ms));
  EXPECT_TRUE(echoes(first.get(), "ok"));
}

}  // namespace
}  // namespace reactor
