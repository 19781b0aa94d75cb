#include "reactor/io.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "reactor/buffer.h"
#include "reactor/fd.h"

namespace reactor {
namespace {

// Installs an injector for one test and always restores the real calls.
class ScopedHooks {
 public:
  explicit ScopedHooks(io::Hooks* hooks) { io::setHooks(hooks); }
  ~ScopedHooks() { io::setHooks(nullptr); }
  ScopedHooks(const ScopedHooks&) = delete;
  ScopedHooks& operator=(const ScopedHooks&) = delete;
};

std::pair<UniqueFd, UniqueFd> socketPair() {
  int fds[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
  return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

std::string pattern(size_t n, unsigned salt = 0) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + salt) % 251);
  return s;
}

struct Counts {
  size_t eintr = 0;
  size_t eagain = 0;
  size_t shortWrites = 0;
  size_t calls = 0;
};

// Moves `data` from a to b through the seam, alternating write and writev, read and
// readv (Buffer::readFd), and returns what arrived. Every injected EINTR/EAGAIN is retried.
std::string transfer(int a, int b, const std::string& data, Counts* counts) {
  Buffer in;
  size_t sent = 0;
  for (int round = 0; round < 200000 && in.readableBytes() < data.size(); ++round) {
    if (sent < data.size()) {
      const size_t left = data.size() - sent;
      ssize_t n;
      if (round % 2 == 0) {
        n = io::write(a, data.data() + sent, left);
      } else {
        const size_t half = left / 2;
        iovec iov[3] = {{const_cast<char*>(data.data() + sent), half},
                        {nullptr, 0},
                        {const_cast<char*>(data.data() + sent + half), left - half}};
        n = io::writev(a, iov, 3);
      }
      ++counts->calls;
      if (n < 0) {
        EXPECT_TRUE(errno == EINTR || errno == EAGAIN) << std::strerror(errno);
        counts->eintr += errno == EINTR;
        counts->eagain += errno == EAGAIN;
      } else {
        counts->shortWrites += static_cast<size_t>(n) < left;
        sent += static_cast<size_t>(n);
      }
    }
    int err = 0;
    ssize_t n;
    if (round % 3 == 0) {
      char small[512];
      n = io::read(b, small, sizeof(small));
      err = errno;
      if (n > 0) in.append(small, static_cast<size_t>(n));
    } else {
      n = in.readFd(b, &err, 1 << 20);
    }
    if (n < 0) {
      EXPECT_TRUE(err == EINTR || err == EAGAIN) << std::strerror(err);
    }
    EXPECT_NE(n, 0) << "unexpected EOF";
  }
  return std::string(in.view());
}

TEST(FaultInjector, DataPassesIntactThroughSocketpair) {
  io::FaultInjector injector(12345);
  ScopedHooks hooks(&injector);
  auto [a, b] = socketPair();
  const std::string data = pattern(300000);
  Counts counts;
  EXPECT_EQ(transfer(a.get(), b.get(), data, &counts), data);
  EXPECT_GT(counts.eintr, 0u);
  EXPECT_GT(counts.eagain, 0u);
  EXPECT_GT(counts.shortWrites, 0u);
}

TEST(FaultInjector, ManySeeds) {
  for (uint64_t seed = 0; seed < 20; ++seed) {
    io::FaultInjector injector(seed);
    ScopedHooks hooks(&injector);
    auto [a, b] = socketPair();
    const std::string data = pattern(5000 + seed * 311, static_cast<unsigned>(seed));
    Counts counts;
    ASSERT_EQ(transfer(a.get(), b.get(), data, &counts), data) << "seed " << seed;
  }
}

// The outcome of each of `calls` writes of 100 bytes: the byte count, or -errno.
std::vector<long> writeOutcomes(uint64_t seed, int calls) {
  io::FaultInjector injector(seed);
  ScopedHooks hooks(&injector);
  auto [a, b] = socketPair();
  const std::string chunk = pattern(100);
  std::vector<long> out;
  for (int i = 0; i < calls; ++i) {
    const ssize_t n = io::write(a.get(), chunk.data(), chunk.size());
    out.push_back(n < 0 ? -errno : n);
  }
  return out;
}

TEST(FaultInjector, DeterministicForASeed) {
  const auto first = writeOutcomes(42, 300);
  EXPECT_EQ(first, writeOutcomes(42, 300));
  EXPECT_NE(first, writeOutcomes(43, 300));
  EXPECT_EQ(io::FaultInjector(42).seed(), 42u);
}

TEST(FaultInjector, ThreadsEachGetTheirOwnStream) {
  io::FaultInjector injector(7);
  ScopedHooks hooks(&injector);
  std::vector<std::thread> threads;
  std::vector<std::string> results(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&results, t] {
      auto [a, b] = socketPair();
      Counts counts;
      results[t] = transfer(a.get(), b.get(), pattern(50000, t), &counts);
    });
  }
  for (auto& t : threads) t.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(results[t], pattern(50000, t));
}

TEST(FaultInjector, AcceptFailsNowAndThenWithoutLosingConnections) {
  UniqueFd listener(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(listener);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(listener.get(), 64), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr), &len), 0);

  constexpr int kClients = 20;
  std::vector<UniqueFd> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    ASSERT_EQ(io::connect(clients.back().get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)),
              0);
  }
  io::FaultInjector injector(99);
  ScopedHooks hooks(&injector);
  std::vector<UniqueFd> accepted;
  size_t failures = 0;
  for (int i = 0; i < 10000 && accepted.size() < kClients; ++i) {
    const int fd = io::accept(listener.get(), nullptr, nullptr);
    if (fd < 0) {
      EXPECT_TRUE(errno == EINTR || errno == EAGAIN || errno == ECONNABORTED)
          << std::strerror(errno);
      ++failures;
      continue;
    }
    accepted.emplace_back(fd);
    EXPECT_TRUE(::fcntl(fd, F_GETFL) & O_NONBLOCK);
    EXPECT_TRUE(::fcntl(fd, F_GETFD) & FD_CLOEXEC);
  }
  EXPECT_EQ(accepted.size(), static_cast<size_t>(kClients));
  EXPECT_GT(failures, 0u);
  // Linger 0: no TIME_WAIT left behind on 127.0.0.1.
  const linger lg{1, 0};
  for (auto& c : clients) ::setsockopt(c.get(), SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

TEST(Io, WriteToClosedPeerIsEpipeNotSigpipe) {
  auto [a, b] = socketPair();
  b.reset();
  const char byte = 'x';
  EXPECT_EQ(io::write(a.get(), &byte, 1), -1);
  EXPECT_EQ(errno, EPIPE);
  iovec iov{const_cast<char*>(&byte), 1};
  EXPECT_EQ(io::writev(a.get(), &iov, 1), -1);
  EXPECT_EQ(errno, EPIPE);
}

TEST(Io, WriteFallsBackOnPipes) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  UniqueFd r(fds[0]);
  UniqueFd w(fds[1]);
  EXPECT_EQ(io::write(w.get(), "ab", 2), 2);
  iovec iov[2] = {{const_cast<char*>("c"), 1}, {const_cast<char*>("de"), 2}};
  EXPECT_EQ(io::writev(w.get(), iov, 2), 3);
  char got[8] = {};
  EXPECT_EQ(io::read(r.get(), got, sizeof(got)), 5);
  EXPECT_STREQ(got, "abcde");
}

TEST(Io, InstallFromEnvironment) {
  ::unsetenv("REACTOR_FAULT_SEED");
  EXPECT_FALSE(io::installFaultInjectionFromEnv());
  ::setenv("REACTOR_FAULT_SEED", "12x", 1);
  testing::internal::CaptureStderr();
  EXPECT_FALSE(io::installFaultInjectionFromEnv());
  EXPECT_NE(testing::internal::GetCapturedStderr().find("bad REACTOR_FAULT_SEED '12x'"),
            std::string::npos);
  EXPECT_EQ(io::detail::gHooks, nullptr);

  ::setenv("REACTOR_FAULT_SEED", "777", 1);
  testing::internal::CaptureStderr();
  EXPECT_TRUE(io::installFaultInjectionFromEnv());
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "reactor: fault injection on, seed=777\n");
  EXPECT_NE(io::detail::gHooks, nullptr);
  io::setHooks(nullptr);
  ::unsetenv("REACTOR_FAULT_SEED");
}

}  // namespace
}  // namespace reactor
