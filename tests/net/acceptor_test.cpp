// Acceptor (bind errors, EMFILE in a forked child) and Connector (success, refused, timeout).
#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "net_test_util.h"
#include "reactor/connector.h"

namespace {

using namespace std::chrono_literals;
using nettest::Client;
using nettest::runUntil;
using nettest::Server;
using reactor::SockAddr;

TEST(Acceptor, AddressInUseNamesTheAddressAndReason) {
  reactor::EventLoop loop(reactor::createPoller("auto"));
  Server server(loop);
  const SockAddr taken = server.acceptor->localAddress();
  try {
    reactor::Acceptor second(loop, taken, {}, [](reactor::UniqueFd, const SockAddr&) {});
    FAIL() << "binding a taken port succeeded";
  } catch (const std::system_error& e) {
    EXPECT_EQ(std::string(e.what()), taken.toString() + ": Address already in use");
    EXPECT_EQ(e.code().value(), EADDRINUSE);
  }
}

TEST(Acceptor, StopIsIdempotentAndRefusesNewClients) {
  reactor::EventLoop loop(reactor::createPoller("auto"));
  Server server(loop);
  const uint16_t port = server.port();
  Client c = Client::connect(port);
  ASSERT_NE(server.accept(), nullptr);
  server.acceptor->stop();
  server.acceptor->stop();
  int err = 0;
  testsupport::Fd refused = testsupport::connectTcp("127.0.0.1", port, 1000ms, {}, &err);
  EXPECT_FALSE(refused);
  EXPECT_EQ(err, ECONNREFUSED);
}

// Exit codes of the EMFILE child, so the parent can say what went wrong.
enum EmfileResult : int {
  kOk = 0,
  kNoExhaustion = 10,
  kNoEmfileSeen = 11,
  kSpun = 12,
  kNotRefused = 13,
  kNotServedAgain = 14,
  kException = 15,
};

int emfileChild() {
  try {
    reactor::EventLoop loop(reactor::createPoller("auto"));
    reactor::AcceptorOptions options;
    options.emfileBackoff = 50ms;
    Server server(loop, options);
    const uint16_t port = server.port();
    // Client sockets made before the exhaustion: connect() needs no new descriptor.
    testsupport::Fd refusedClient(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    testsupport::Fd laterClient(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    rlimit limit{256, 256};
    if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) return kNoExhaustion;
    std::vector<testsupport::Fd> hogs;
    for (int i = 0; i < 512; ++i) {
      int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (fd < 0) break;
      hogs.emplace_back(fd);
    }
    if (::open("/dev/null", O_RDONLY | O_CLOEXEC) >= 0 || errno != EMFILE) return kNoExhaustion;
    SockAddr addr = SockAddr::parse("127.0.0.1", port);
    if (::connect(refusedClient.get(), addr.get(), addr.length()) != 0) return kNoExhaustion;
    // The listener is readable but no descriptor is free: the acceptor must not spin.
    const uint64_t before = loop.stats().iterations;
    runUntil(
        loop, [] { return false; }, 200ms);
    const uint64_t turns = loop.stats().iterations - before;
    if (server.acceptor->stats().emfile == 0) return kNoEmfileSeen;
    // runUntil waits at most 5 ms a turn: about 40 turns in 200 ms; a spin makes thousands.
    if (turns > 200) return kSpun;
    char c;
    const ssize_t r = ::recv(refusedClient.get(), &c, 1, MSG_DONTWAIT);
    if (!(r == 0 || (r < 0 && (errno == ECONNRESET || errno == EPIPE)))) return kNotRefused;
    // Descriptors free again: service resumes after the back-off.
    hogs.clear();
    if (::connect(laterClient.get(), addr.get(), addr.length()) != 0) return kNotServedAgain;
    if (::send(laterClient.get(), "ping", 4, MSG_NOSIGNAL) != 4) return kNotServedAgain;
    std::string echoed;
    const bool served = runUntil(loop, [&] {
      char buf[16];
      const ssize_t n = ::recv(laterClient.get(), buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0) echoed.append(buf, static_cast<size_t>(n));
      return echoed == "ping";
    });
    return served ? kOk : kNotServedAgain;
  } catch (...) {
    return kException;
  }
}

TEST(Acceptor, SurvivesEmfileWithoutSpinningAndServesAgain) {
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) ::_exit(emfileChild());
  int status = 0;
  pid_t reaped = 0;
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while ((reaped = ::waitpid(pid, &status, WNOHANG)) == 0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  if (reaped == 0) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    FAIL() << "the EMFILE child did not finish in time";
  }
  ASSERT_TRUE(WIFEXITED(status)) << "child status " << status;
  EXPECT_EQ(WEXITSTATUS(status), kOk) << "see EmfileResult";
}

struct ConnectOutcome {
  bool called = false;
  bool calledInsideStart = false;
  bool inStart = false;
  reactor::UniqueFd socket;
  std::error_code error;
};

std::unique_ptr<reactor::Connector> startConnector(reactor::EventLoop& loop, const SockAddr& to,
                                                   ConnectOutcome& out,
                                                   reactor::ConnectOptions options = {}) {
  out.inStart = true;
  auto connector = std::make_unique<reactor::Connector>(
      loop, to, std::move(options), [&out](reactor::UniqueFd s, std::error_code ec) {
        out.called = true;
        out.calledInsideStart = out.inStart;
        out.socket = std::move(s);
        out.error = ec;
      });
  connector->start();
  out.inStart = false;
  return connector;
}

TEST(Connector, ConnectsToAListener) {
  reactor::EventLoop loop(reactor::createPoller("auto"));
  Server server(loop);
  ConnectOutcome out;
  reactor::ConnectOptions options;
  options.source = SockAddr::parse("127.0.0.1", 0);
  auto connector = startConnector(loop, server.acceptor->localAddress(), out, options);
  EXPECT_FALSE(out.called);
  ASSERT_TRUE(runUntil(loop, [&] { return out.called; }));
  EXPECT_FALSE(out.calledInsideStart);
  EXPECT_FALSE(out.error) << out.error.message();
  ASSERT_TRUE(out.socket);
  EXPECT_EQ(SockAddr::peer(out.socket.get()).port(), server.port());
  ASSERT_NE(server.accept(), nullptr);
}

TEST(Connector, RefusedIsReportedThroughTheCallback) {
  reactor::EventLoop loop(reactor::createPoller("auto"));
  // A port that was just free: bound, never listened on, closed.
  uint16_t port;
  {
    reactor::UniqueFd probe = reactor::makeTcpSocket(AF_INET);
    SockAddr any = SockAddr::parse("127.0.0.1", 0);
    ASSERT_EQ(::bind(probe.get(), any.get(), any.length()), 0);
    port = SockAddr::local(probe.get()).port();
  }
  ConnectOutcome out;
  auto connector = startConnector(loop, SockAddr::parse("127.0.0.1", port), out);
  EXPECT_FALSE(out.called);
  ASSERT_TRUE(runUntil(loop, [&] { return out.called; }));
  EXPECT_EQ(out.error, std::error_code(ECONNREFUSED, std::system_category()));
  EXPECT_FALSE(out.socket);
}

TEST(Connector, TimesOutAgainstAFullBacklog) {
  reactor::EventLoop loop(reactor::createPoller("auto"));
  // A listener that never accepts: once its queue is full, Linux drops further SYNs, so a new
  // connect stays in progress until our timeout. Fill the queue until a plain connect shows it:
  // on loopback a handshake that is answered completes within the connect() call or just after,
  // so one that gives no POLLOUT for 200 ms (heavy load included) was dropped.
  reactor::UniqueFd listener = reactor::listenOn(SockAddr::parse("127.0.0.1", 0), 0, false);
  const SockAddr addr = SockAddr::local(listener.get());
  std::vector<reactor::UniqueFd> fillers;
  int probe = -1;
  for (int i = 0; i < 16 && probe < 0; ++i) {
    reactor::UniqueFd s = reactor::makeTcpSocket(AF_INET);
    ASSERT_TRUE(s) << std::strerror(errno);
    if (::connect(s.get(), addr.get(), addr.length()) != 0) {
      ASSERT_EQ(errno, EINPROGRESS) << std::strerror(errno);
      if (testsupport::waitForPoll(s.get(), POLLOUT, 200ms) == 0) probe = s.get();
    }
    fillers.push_back(std::move(s));
  }
  ASSERT_GE(probe, 0) << "16 connects to a listener with backlog 0 all completed";
  ConnectOutcome out;
  reactor::ConnectOptions options;
  options.timeout = 150ms;
  const auto started = std::chrono::steady_clock::now();
  auto connector = startConnector(loop, addr, out, options);
  // Without its own timeout the connect would go on for the kernel's minutes of SYN retries.
  ASSERT_TRUE(runUntil(
      loop, [&] { return out.called; }, 10s));
  EXPECT_EQ(out.error, std::error_code(ETIMEDOUT, std::system_category())) << out.error.message();
  EXPECT_FALSE(out.socket);
  EXPECT_GE(std::chrono::steady_clock::now() - started, options.timeout);
  // The premise held throughout: the queue is still full, the probe still in progress.
  EXPECT_EQ(testsupport::waitForPoll(probe, POLLOUT, 0ms), 0);
}

TEST(Connector, DestroyedBeforeCompletionNeverCallsBack) {
  reactor::EventLoop loop(reactor::createPoller("auto"));
  Server server(loop);
  ConnectOutcome out;
  auto connector = startConnector(loop, server.acceptor->localAddress(), out);
  connector.reset();
  runUntil(
      loop, [] { return false; }, 50ms);
  EXPECT_FALSE(out.called);
}

}  // namespace
