// The Poller conformance suite, run against every backend of the build (and the kqueue backend
// through the Linux emulation). Events are gathered mio-style: a spurious event never fails a
// test, only a missing expected one or a forbidden flag does.
#include "reactor/poller.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "poller/backends.h"
#include "reactor/fd.h"

namespace reactor {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr uint8_t R = Event::kReadable;
constexpr uint8_t W = Event::kWritable;

struct Pair {
  UniqueFd a;
  UniqueFd b;
};

// Portable spellings (no SOCK_NONBLOCK, accept4 or dup3): on BSD and macOS this suite runs
// the real kqueue backend.
void setCloexec(int fd) { ::fcntl(fd, F_SETFD, FD_CLOEXEC); }
void setNonBlocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

#ifdef MSG_NOSIGNAL
constexpr int kSendFlags = MSG_NOSIGNAL;
#else
constexpr int kSendFlags = 0;
#endif

Pair socketPair() {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
    ADD_FAILURE() << "socketpair: " << std::strerror(errno);
    return {};
  }
  for (int fd : sv) {
    setCloexec(fd);
    setNonBlocking(fd);
  }
  return {UniqueFd(sv[0]), UniqueFd(sv[1])};
}

// Moves fd onto descriptor number `number` (closing what was there), close-on-exec.
UniqueFd moveTo(UniqueFd fd, int number) {
  if (fd.get() == number) return fd;
  if (::dup2(fd.get(), number) != number) {
    ADD_FAILURE() << "dup2 to " << number << ": " << std::strerror(errno);
    return {};
  }
  setCloexec(number);
  return UniqueFd(number);
}

UniqueFd tcpSocket() {
  UniqueFd s(::socket(AF_INET, SOCK_STREAM, 0));
  if (s) setCloexec(s.get());
  return s;
}

// A close that sends RST instead of FIN, so tests leave no TIME_WAIT behind on 127.0.0.1.
void closeAbortive(UniqueFd& fd) {
  if (!fd) return;
  linger lg{1, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  fd.reset();
}

UniqueFd listenLoopback(sockaddr_in& addr) {
  UniqueFd l = tcpSocket();
  addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (!l || ::bind(l.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      ::listen(l.get(), 16) != 0 ||
      ::getsockname(l.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ADD_FAILURE() << "listen on loopback: " << std::strerror(errno);
    return {};
  }
  return l;
}

// A connected loopback TCP pair, both ends non-blocking. Tear down with closeAbortive().
struct TcpPair {
  UniqueFd client;
  UniqueFd server;
  ~TcpPair() {
    closeAbortive(client);
    closeAbortive(server);
  }
};

void tcpPair(TcpPair& p) {
  sockaddr_in addr{};
  UniqueFd l = listenLoopback(addr);
  p.client = tcpSocket();
  ASSERT_EQ(::connect(p.client.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0)
      << std::strerror(errno);
  p.server = UniqueFd(::accept(l.get(), nullptr, nullptr));
  ASSERT_TRUE(p.server) << std::strerror(errno);
  setCloexec(p.server.get());
  setNonBlocking(p.server.get());
  setNonBlocking(p.client.get());
}

void sendByte(int fd) { ASSERT_EQ(::send(fd, "x", 1, kSendFlags), 1) << std::strerror(errno); }

// Writes into fd until its send buffer is full (EAGAIN): big writes, then single bytes.
// Returns the bytes queued.
size_t fillSendBuffer(int fd) {
  std::vector<char> chunk(65536, 'x');
  size_t queued = 0;
  size_t len = chunk.size();
  for (int i = 0; i < 10000; ++i) {
    const ssize_t n = ::send(fd, chunk.data(), len, kSendFlags);
    if (n >= 0) {
      queued += static_cast<size_t>(n);
      continue;
    }
    EXPECT_TRUE(errno == EAGAIN || errno == EWOULDBLOCK) << std::strerror(errno);
    if (len == 1) break;
    len = 1;
  }
  return queued;
}

std::unique_ptr<Poller> makeBackend(const std::string& name) {
#ifdef REACTOR_TEST_KQUEUE_EMULATED
  if (name == "kqueue-emulated") return makeKqueuePoller();
#endif
  return createPoller(name);
}

std::vector<std::string> backendsUnderTest() {
  std::vector<std::string> names;
  for (std::string_view n : availableBackends()) names.emplace_back(n);
#ifdef REACTOR_TEST_KQUEUE_EMULATED
  names.emplace_back("kqueue-emulated");
#endif
  return names;
}

class PollerTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { poller_ = makeBackend(GetParam()); }

  bool isSelect() const { return GetParam() == "select"; }

  void add(int fd, uint64_t token, Interest interest) {
    ASSERT_FALSE(poller_->add(fd, token, interest)) << "add fd " << fd;
    fds_[token] = fd;
  }
  void modify(int fd, uint64_t token, Interest interest) {
    ASSERT_FALSE(poller_->modify(fd, token, interest)) << "modify fd " << fd;
    fds_[token] = fd;
  }

  // One wait; the flags seen per token (invalidated entries skipped). Every event must carry
  // the descriptor its token was registered with.
  std::map<uint64_t, uint8_t> waitOnce(int timeoutMs) {
    std::map<uint64_t, uint8_t> seen;
    int n = poller_->wait(batch_, timeoutMs);
    EXPECT_GE(n, 0) << "wait: " << std::strerror(-n);
    for (int i = 0; i < n; ++i) {
      const Event& ev = batch_[static_cast<size_t>(i)];
      if (ev.flags == 0) continue;
      auto it = fds_.find(ev.token);
      EXPECT_TRUE(it != fds_.end() && it->second == ev.fd)
          << "token " << ev.token << " came with fd " << ev.fd;
      seen[ev.token] |= ev.flags;
    }
    return seen;
  }

  // Waits (up to 2 s in all) until every token in `want` has shown at least its flags; returns
  // the union of everything seen, spurious events included.
  std::map<uint64_t, uint8_t> expectEvents(const std::map<uint64_t, uint8_t>& want) {
    std::map<uint64_t, uint8_t> seen;
    const auto deadline = Clock::now() + milliseconds(2000);
    for (int round = 0; round < 200; ++round) {
      for (auto [token, flags] : waitOnce(10)) seen[token] |= flags;
      bool all = true;
      for (auto [token, flags] : want) all = all && (seen[token] & flags) == flags;
      if (all || Clock::now() > deadline) break;
    }
    for (auto [token, flags] : want) {
      EXPECT_EQ(seen[token] & flags, flags)
          << "token " << token << " saw flags " << int(seen[token]) << ", wanted " << int(flags);
    }
    return seen;
  }

  std::unique_ptr<Poller> poller_;
  std::vector<Event> batch_ = std::vector<Event>(1024);
  std::map<uint64_t, int> fds_;  // token -> fd, to check Event::fd
};

TEST_P(PollerTest, ReportsItsName) {
  const std::string want = GetParam() == "kqueue-emulated" ? "kqueue" : GetParam();
  EXPECT_EQ(poller_->name(), want);
}

TEST_P(PollerTest, ReadableAfterPeerWrites) {
  Pair p = socketPair();
  add(p.a.get(), 1, Interest::kReadable);
  EXPECT_EQ(waitOnce(0)[1] & R, 0);
  sendByte(p.b.get());
  expectEvents({{1, R}});
}

TEST_P(PollerTest, NothingReadyHonoursTimeout) {
  Pair p = socketPair();
  add(p.a.get(), 1, Interest::kReadable);
  const auto start = Clock::now();
  const int n = poller_->wait(batch_, 200);
  const auto elapsed = Clock::now() - start;
  EXPECT_EQ(n, 0);
  EXPECT_GE(elapsed, milliseconds(190));
  EXPECT_LT(elapsed, milliseconds(5000));
}

TEST_P(PollerTest, WaitZeroDoesNotBlock) {
  Pair p = socketPair();
  add(p.a.get(), 1, Interest::kReadable);
  const auto start = Clock::now();
  EXPECT_EQ(poller_->wait(batch_, 0), 0);
  EXPECT_LT(Clock::now() - start, milliseconds(1000));
  sendByte(p.b.get());
  expectEvents({{1, R}});
}

TEST_P(PollerTest, WritableWhenConnectedNotWhenSendBufferFull) {
  Pair p = socketPair();
  add(p.a.get(), 1, Interest::kWritable);
  expectEvents({{1, W}});

  const size_t queued = fillSendBuffer(p.a.get());
  ASSERT_GT(queued, 0u);
  EXPECT_EQ(waitOnce(100)[1] & W, 0) << "writable with a full send buffer";

  // Drain the peer: writable again.
  std::vector<char> chunk(65536);
  for (size_t got = 0; got < queued;) {
    ssize_t n = ::recv(p.b.get(), chunk.data(), chunk.size(), 0);
    ASSERT_GT(n, 0) << std::strerror(errno);
    got += static_cast<size_t>(n);
  }
  expectEvents({{1, W}});
}

TEST_P(PollerTest, ModifyInterestBothWays) {
  Pair p = socketPair();
  sendByte(p.b.get());  // a is now readable and writable
  add(p.a.get(), 1, Interest::kReadable);
  EXPECT_EQ(expectEvents({{1, R}})[1] & W, 0);

  modify(p.a.get(), 1, Interest::kWritable);
  EXPECT_EQ(expectEvents({{1, W}})[1] & R, 0);

  modify(p.a.get(), 2, Interest::kBoth);
  EXPECT_EQ(expectEvents({{2, R | W}}).count(1), 0u) << "old token after modify";

  modify(p.a.get(), 3, Interest::kReadable);
  EXPECT_EQ(expectEvents({{3, R}})[3] & W, 0);
}

TEST_P(PollerTest, RemoveThenSilence) {
  Pair p = socketPair();
  add(p.a.get(), 1, Interest::kBoth);
  expectEvents({{1, W}});
  ASSERT_FALSE(poller_->remove(p.a.get()));
  sendByte(p.b.get());
  p.b.reset();
  EXPECT_EQ(waitOnce(100).count(1), 0u);
  EXPECT_TRUE(poller_->remove(p.a.get())) << "second remove succeeded";
}

TEST_P(PollerTest, HangupOnPeerClose) {
  Pair p = socketPair();
  add(p.a.get(), 1, Interest::kReadable);
  p.b.reset();
  // select() has no hang-up flag: it reports readable, and read() returns 0.
  const uint8_t want = isSelect() ? R : (R | Event::kHangup);
  expectEvents({{1, want}});
  char c;
  EXPECT_EQ(::recv(p.a.get(), &c, 1, 0), 0);
}

TEST_P(PollerTest, HangupOnPeerShutdownWrite) {
  TcpPair t;
  ASSERT_NO_FATAL_FAILURE(tcpPair(t));
  add(t.server.get(), 1, Interest::kReadable);
  ASSERT_EQ(::shutdown(t.client.get(), SHUT_WR), 0);
  expectEvents({{1, isSelect() ? R : (R | Event::kHangup)}});
  char c;
  EXPECT_EQ(::recv(t.server.get(), &c, 1, 0), 0);
  // Half-closed: our direction still works.
  modify(t.server.get(), 1, Interest::kWritable);
  expectEvents({{1, W}});
  sendByte(t.server.get());
}

TEST_P(PollerTest, HalfClosedPeerDoesNotWakeAPausedReader) {
  // A connection waiting only for writability (reading paused, send buffer full) whose peer
  // shuts down its write side must stay quiet: a hang-up reported here every wait is a busy
  // loop.
  Pair p = socketPair();
  ASSERT_GT(fillSendBuffer(p.a.get()), 0u);
  ASSERT_EQ(::shutdown(p.b.get(), SHUT_WR), 0);
  add(p.a.get(), 1, Interest::kWritable);
  EXPECT_EQ(waitOnce(100).count(1), 0u);
  modify(p.a.get(), 1, Interest::kBoth);
  expectEvents({{1, isSelect() ? R : (R | Event::kHangup)}});
}

TEST_P(PollerTest, ResetGivesErrorOrHangup) {
  TcpPair t;
  ASSERT_NO_FATAL_FAILURE(tcpPair(t));
  add(t.server.get(), 1, Interest::kReadable);
  closeAbortive(t.client);
  auto seen = expectEvents({{1, R}});
  if (!isSelect()) {
    EXPECT_NE(seen[1] & (Event::kError | Event::kHangup), 0) << int(seen[1]);
  }
  char c;
  EXPECT_EQ(::recv(t.server.get(), &c, 1, 0), -1);
  EXPECT_EQ(errno, ECONNRESET);
}

TEST_P(PollerTest, ListeningSocketReadableOnIncomingConnection) {
  sockaddr_in addr{};
  UniqueFd l = listenLoopback(addr);
  ASSERT_TRUE(l);
  setNonBlocking(l.get());
  add(l.get(), 1, Interest::kReadable);
  EXPECT_EQ(waitOnce(50).count(1), 0u);
  UniqueFd c = tcpSocket();
  ASSERT_EQ(::connect(c.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  expectEvents({{1, R}});
  UniqueFd accepted(::accept(l.get(), nullptr, nullptr));
  EXPECT_TRUE(accepted);
  closeAbortive(c);
  closeAbortive(accepted);
}

TEST_P(PollerTest, ThousandDescriptors) {
  // 500 pairs, both ends registered: 1,000 descriptors, all below FD_SETSIZE for select.
  std::vector<Pair> pairs;
  for (int i = 0; i < 500; ++i) {
    pairs.push_back(socketPair());
    ASSERT_TRUE(pairs.back().a && pairs.back().b);
    add(pairs.back().a.get(), static_cast<uint64_t>(2 * i), Interest::kReadable);
    add(pairs.back().b.get(), static_cast<uint64_t>(2 * i + 1), Interest::kReadable);
  }
  EXPECT_TRUE(waitOnce(0).empty());
  const int writers[] = {0, 1, 137, 250, 498, 499};
  std::map<uint64_t, uint8_t> want;
  for (int i : writers) {
    sendByte(pairs[static_cast<size_t>(i)].b.get());
    want[static_cast<uint64_t>(2 * i)] = R;
  }
  auto seen = expectEvents(want);
  for (auto [token, flags] : seen) {
    EXPECT_TRUE(want.count(token) != 0 || (flags & R) == 0) << "token " << token << " readable";
  }
  for (int i = 0; i < 500; i += 2) ASSERT_FALSE(poller_->remove(pairs[size_t(i)].a.get()));
}

TEST_P(PollerTest, DescriptorAtOrAboveFdSetsize) {
  rlimit rl{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &rl), 0);
  constexpr int kHigh = 1500;
  static_assert(kHigh >= FD_SETSIZE);
  if (rl.rlim_cur <= kHigh) GTEST_SKIP() << "RLIMIT_NOFILE too low for fd " << kHigh;
  ASSERT_EQ(::fcntl(kHigh, F_GETFD), -1) << "fd " << kHigh << " already in use";
  Pair p = socketPair();
  UniqueFd high = moveTo(UniqueFd(::dup(p.a.get())), kHigh);
  ASSERT_EQ(high.get(), kHigh);
  if (isSelect()) {
    EXPECT_EQ(poller_->add(kHigh, 1, Interest::kReadable), std::errc::value_too_large);
    EXPECT_EQ(poller_->add(FD_SETSIZE, 1, Interest::kReadable), std::errc::value_too_large);
    // The refusal leaves the poller working for everyone else.
    add(p.a.get(), 2, Interest::kReadable);
    sendByte(p.b.get());
    expectEvents({{2, R}});
    return;
  }
  add(kHigh, 1, Interest::kReadable);
  sendByte(p.b.get());
  expectEvents({{1, R}});
  EXPECT_FALSE(poller_->remove(kHigh));
}

TEST_P(PollerTest, AddTwiceAndUnknownDescriptorsAreErrors) {
  Pair p = socketPair();
  add(p.a.get(), 1, Interest::kReadable);
  EXPECT_EQ(poller_->add(p.a.get(), 2, Interest::kWritable), std::errc::file_exists);
  EXPECT_EQ(poller_->modify(p.b.get(), 2, Interest::kReadable),
            std::errc::no_such_file_or_directory);
  EXPECT_EQ(poller_->remove(p.b.get()), std::errc::no_such_file_or_directory);

  const int closed = p.b.release();
  ::close(closed);
  EXPECT_EQ(poller_->add(closed, 3, Interest::kReadable), std::errc::bad_file_descriptor);
  // The first registration is untouched by the refusals.
  modify(p.a.get(), 1, Interest::kBoth);
  expectEvents({{1, R | W}});  // readable: the peer is gone
}

// Waits until one batch holds events for both tokens 1 and 2 (they are ready already).
int waitForBoth(Poller& poller, std::vector<Event>& batch) {
  for (int tries = 0; tries < 20; ++tries) {
    const int n = poller.wait(batch, 100);
    bool one = false, two = false;
    for (int i = 0; i < n; ++i) {
      one = one || batch[size_t(i)].token == 1;
      two = two || batch[size_t(i)].token == 2;
    }
    if (one && two) return n;
  }
  return -1;
}

TEST_P(PollerTest, NoStaleEventAfterRemoveAndReuseInOneBatch) {
  Pair p1 = socketPair();
  Pair p2 = socketPair();
  sendByte(p1.b.get());
  sendByte(p2.b.get());
  add(p1.a.get(), 1, Interest::kReadable);
  add(p2.a.get(), 2, Interest::kReadable);
  const int n = waitForBoth(*poller_, batch_);
  ASSERT_GT(n, 0) << "never saw both descriptors in one batch";

  // The first handler removes and closes the other descriptor, then a new socket takes the
  // same number and is registered, already readable: nothing left in this batch is for it.
  std::vector<uint64_t> dispatched;
  Pair fresh;
  for (int i = 0; i < n; ++i) {
    const Event ev = batch_[size_t(i)];
    if (ev.flags == 0) continue;
    dispatched.push_back(ev.token);
    if (dispatched.size() > 1) continue;
    UniqueFd& victim = ev.token == 1 ? p2.a : p1.a;
    const int number = victim.get();
    ASSERT_FALSE(poller_->remove(number));
    victim.reset();
    fresh = socketPair();
    if (fresh.a.get() != number) fresh.a = moveTo(std::move(fresh.a), number);
    ASSERT_EQ(fresh.a.get(), number);
    sendByte(fresh.b.get());
    add(number, 3, Interest::kReadable);
  }
  ASSERT_EQ(dispatched.size(), 1u) << "a stale event was dispatched";
  // The new owner gets its event from the next wait.
  expectEvents({{3, R}});
}

TEST_P(PollerTest, ModifyDuringDispatchIsHonoured) {
  Pair p1 = socketPair();
  Pair p2 = socketPair();
  sendByte(p1.b.get());
  sendByte(p2.b.get());
  add(p1.a.get(), 1, Interest::kBoth);
  add(p2.a.get(), 2, Interest::kBoth);
  const int n = waitForBoth(*poller_, batch_);
  ASSERT_GT(n, 0) << "never saw both descriptors in one batch";

  // The first handler drops the other's write interest and gives it a new token.
  uint64_t first = 0;
  for (int i = 0; i < n; ++i) {
    const Event ev = batch_[size_t(i)];
    if (ev.flags == 0) continue;
    if (first == 0) {
      first = ev.token;
      const int other = first == 1 ? p2.a.get() : p1.a.get();
      modify(other, 20, Interest::kReadable);
      continue;
    }
    if (ev.token == first) continue;
    EXPECT_EQ(ev.token, 20u) << "event kept the old token";
    EXPECT_FALSE(ev.writable()) << "write interest dropped, yet writable was dispatched";
  }
}

// A batch large enough for the poller's fd -> slot index (past its linear-scan limit): the
// first handler removes every other descriptor and narrows the rest to write interest only
// with new tokens; none of the removed is dispatched, and the rest arrive masked and renamed.
TEST_P(PollerTest, LargeBatchRemoveAndModifyDuringDispatch) {
  constexpr int kCount = 64;
  std::vector<Pair> pairs;
  for (int i = 0; i < kCount; ++i) {
    pairs.push_back(socketPair());
    sendByte(pairs.back().b.get());
    add(pairs.back().a.get(), uint64_t(i + 1), Interest::kBoth);
  }
  int n = 0;
  for (int attempt = 0; attempt < 50 && n < kCount; ++attempt) n = poller_->wait(batch_, 100);
  ASSERT_EQ(n, kCount) << "never saw every descriptor in one batch";

  const uint64_t first = batch_[0].token;
  std::set<uint64_t> removed;
  for (int i = 0; i < kCount; ++i) {
    const uint64_t token = uint64_t(i + 1);
    if (token == first) continue;
    if (i % 2 == 0) {
      ASSERT_FALSE(poller_->remove(pairs[size_t(i)].a.get()));
      removed.insert(token);
    } else {
      modify(pairs[size_t(i)].a.get(), token + 1000, Interest::kWritable);
    }
  }
  for (int i = 1; i < n; ++i) {
    const Event ev = batch_[size_t(i)];
    if (ev.flags == 0) continue;
    EXPECT_GT(ev.token, 1000u) << "event of a removed or renamed descriptor kept its token";
    EXPECT_FALSE(ev.readable()) << "read interest dropped, yet readable was dispatched";
    EXPECT_FALSE(removed.count(ev.token - 1000)) << "a removed descriptor was dispatched";
  }
}

std::atomic<int> gSignals{0};
std::atomic<bool> gInWait{false};
// Counts only the signals that land while the test thread is in wait(): signals sent before or
// after it prove nothing about the EINTR retry.
void onSignal(int) {
  if (gInWait.load(std::memory_order_relaxed)) gSignals.fetch_add(1, std::memory_order_relaxed);
}

TEST_P(PollerTest, InterruptedWaitKeepsItsTimeout) {
  struct sigaction sa {};
  struct sigaction old {};
  sa.sa_handler = onSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: the wait really sees EINTR
  ASSERT_EQ(::sigaction(SIGUSR1, &sa, &old), 0);
  Pair p = socketPair();
  add(p.a.get(), 1, Interest::kReadable);

  gSignals = 0;
  std::atomic<bool> waited{false};
  const pthread_t waiter = ::pthread_self();
  // Signals every 20 ms until the wait is over (at most 10 s of them): a 400 ms wait is
  // interrupted many times, even on a loaded machine. A retry that lost its deadline
  // would only end once they stop.
  std::thread killer([waiter, &waited] {
    for (int i = 0; i < 500 && !waited.load(); ++i) {
      std::this_thread::sleep_for(milliseconds(20));
      ::pthread_kill(waiter, SIGUSR1);
    }
  });
  const auto start = Clock::now();
  gInWait = true;
  const int n = poller_->wait(batch_, 400);
  gInWait = false;
  const auto elapsed = Clock::now() - start;
  waited = true;
  killer.join();
  ::sigaction(SIGUSR1, &old, nullptr);

  EXPECT_EQ(n, 0);
  EXPECT_GT(gSignals.load(), 0);
  EXPECT_GE(elapsed, milliseconds(390));
  EXPECT_LT(elapsed, milliseconds(5000));
}

INSTANTIATE_TEST_SUITE_P(Backends, PollerTest, ::testing::ValuesIn(backendsUnderTest()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param;
                           for (char& c : name) c = c == '-' ? '_' : c;
                           return name;
                         });

TEST(PollerFactory, UnknownBackendListsTheAvailableOnes) {
  try {
    createPoller("no-such-backend");
    FAIL() << "no exception";
  } catch (const UnknownBackend& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("no-such-backend"), std::string::npos) << what;
    for (std::string_view name : availableBackends()) {
      EXPECT_NE(what.find(name), std::string::npos) << what;
    }
  }
}

TEST(PollerFactory, EveryAvailableBackendIsCreatedByName) {
  ASSERT_FALSE(availableBackends().empty());
  for (std::string_view name : availableBackends()) {
    EXPECT_EQ(createPoller(name)->name(), name);
  }
}

TEST(PollerFactory, AutoPicksTheBestOrTheEnvironmentOverride) {
  const char* env = std::getenv("REACTOR_BACKEND");
  const std::string_view want =
      env != nullptr && *env != '\0' ? std::string_view(env) : availableBackends().front();
  EXPECT_EQ(createPoller("auto")->name(), want);
}

}  // namespace
}  // namespace reactor
