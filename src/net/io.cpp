#include "reactor/io.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

namespace reactor::io {

namespace detail {

Hooks* gHooks = nullptr;

#ifdef MSG_NOSIGNAL
constexpr int kSendFlags = MSG_NOSIGNAL;
#else
constexpr int kSendFlags = 0;  // macOS: the programs ignore SIGPIPE at start instead
#endif

ssize_t sysRead(int fd, void* buf, size_t n) { return ::read(fd, buf, n); }

ssize_t sysReadv(int fd, const iovec* iov, int iovcnt) { return ::readv(fd, iov, iovcnt); }

// send/sendmsg carry MSG_NOSIGNAL so a peer's reset shows up as EPIPE instead of killing the
// process. They only work on sockets: a pipe (tests, stdout) falls back to write/writev.
ssize_t sysWrite(int fd, const void* buf, size_t n) {
  const ssize_t r = ::send(fd, buf, n, kSendFlags);
  if (r < 0 && errno == ENOTSOCK) return ::write(fd, buf, n);
  return r;
}

ssize_t sysWritev(int fd, const iovec* iov, int iovcnt) {
  msghdr msg{};
  msg.msg_iov = const_cast<iovec*>(iov);
  msg.msg_iovlen = static_cast<decltype(msg.msg_iovlen)>(iovcnt);
  const ssize_t r = ::sendmsg(fd, &msg, kSendFlags);
  if (r < 0 && errno == ENOTSOCK) return ::writev(fd, iov, iovcnt);
  return r;
}

int sysAccept(int fd, sockaddr* addr, socklen_t* len) {
#if defined(SOCK_NONBLOCK) && defined(SOCK_CLOEXEC)
  return ::accept4(fd, addr, len, SOCK_NONBLOCK | SOCK_CLOEXEC);
#else
  // No accept4 (macOS): the two fcntl calls cannot fail on a descriptor we just got.
  const int conn = ::accept(fd, addr, len);
  if (conn >= 0) {
    ::fcntl(conn, F_SETFD, FD_CLOEXEC);
    ::fcntl(conn, F_SETFL, ::fcntl(conn, F_GETFL) | O_NONBLOCK);
  }
  return conn;
#endif
}

int sysConnect(int fd, const sockaddr* addr, socklen_t len) { return ::connect(fd, addr, len); }

}  // namespace detail

void setHooks(Hooks* hooks) { detail::gHooks = hooks; }

namespace {

std::atomic<uint64_t> gNextInjectorId{1};
std::atomic<uint64_t> gNextThreadIndex{0};

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// The calling thread's generator for the injector `id`; reseeded when another injector takes
// over, so one seed always replays the same faults on the same thread.
uint64_t nextRandom(uint64_t id, uint64_t seed) {
  thread_local uint64_t threadIndex = gNextThreadIndex.fetch_add(1);
  thread_local uint64_t owner = 0;
  thread_local uint64_t state = 0;
  if (owner != id) {
    owner = id;
    state = seed ^ (threadIndex * 0xd1b54a32d192ed03ULL);
  }
  return splitmix64(state);
}

// The errno a read or write fails with instead of being made, or 0 to make the (shortened)
// real call: 1 in 16 calls fail with EINTR, 1 in 16 with EAGAIN.
int injectedErrno(uint64_t r) {
  switch (r & 15) {
    case 0:
      return EINTR;
    case 1:
      return EAGAIN;
    default:
      return 0;
  }
}

// A length in [1, n], log-uniform so tiny transfers (1, 2, 7 bytes) are as common as big ones.
size_t shorten(uint64_t r, size_t n) {
  if (n <= 1) return n;
  const unsigned bits = static_cast<unsigned>((r >> 8) % 17);  // limit 1 .. 64 KiB
  const size_t limit = std::min(n, size_t{1} << bits);
  return 1 + static_cast<size_t>((r >> 16) % limit);
}

ssize_t fail(int err) {
  errno = err;
  return -1;
}

// Copies the front of iov covering at most `keep` bytes into out (at most kMaxIov entries).
constexpr int kMaxIov = 64;
int truncateIov(const iovec* iov, int iovcnt, size_t keep, iovec* out) {
  int count = 0;
  for (int i = 0; i < iovcnt && count < kMaxIov && keep > 0; ++i) {
    if (iov[i].iov_len == 0) continue;
    const size_t len = std::min(iov[i].iov_len, keep);
    out[count++] = {iov[i].iov_base, len};
    keep -= len;
  }
  return count;
}

size_t totalLength(const iovec* iov, int iovcnt) {
  size_t total = 0;
  for (int i = 0; i < iovcnt; ++i) total += iov[i].iov_len;
  return total;
}

}  // namespace

FaultInjector::FaultInjector(uint64_t seed) : seed_(seed), id_(gNextInjectorId.fetch_add(1)) {}

ssize_t FaultInjector::read(int fd, void* buf, size_t n) {
  const uint64_t r = nextRandom(id_, seed_);
  if (n == 0) return detail::sysRead(fd, buf, n);
  if (const int err = injectedErrno(r)) return fail(err);
  return detail::sysRead(fd, buf, shorten(r, n));
}

ssize_t FaultInjector::write(int fd, const void* buf, size_t n) {
  const uint64_t r = nextRandom(id_, seed_);
  if (n == 0) return detail::sysWrite(fd, buf, n);
  if (const int err = injectedErrno(r)) return fail(err);
  return detail::sysWrite(fd, buf, shorten(r, n));
}

ssize_t FaultInjector::readv(int fd, const iovec* iov, int iovcnt) {
  const uint64_t r = nextRandom(id_, seed_);
  const size_t total = totalLength(iov, iovcnt);
  if (total == 0) return detail::sysReadv(fd, iov, iovcnt);
  if (const int err = injectedErrno(r)) return fail(err);
  iovec shortIov[kMaxIov];
  const int count = truncateIov(iov, iovcnt, shorten(r, total), shortIov);
  return detail::sysReadv(fd, shortIov, count);
}

ssize_t FaultInjector::writev(int fd, const iovec* iov, int iovcnt) {
  const uint64_t r = nextRandom(id_, seed_);
  const size_t total = totalLength(iov, iovcnt);
  if (total == 0) return detail::sysWritev(fd, iov, iovcnt);
  if (const int err = injectedErrno(r)) return fail(err);
  iovec shortIov[kMaxIov];
  const int count = truncateIov(iov, iovcnt, shorten(r, total), shortIov);
  return detail::sysWritev(fd, shortIov, count);
}

int FaultInjector::accept(int fd, sockaddr* addr, socklen_t* len) {
  // The pending connection stays queued on an injected failure, as with a real EINTR.
  switch (nextRandom(id_, seed_) & 31) {
    case 0:
    case 1:
      return static_cast<int>(fail(EINTR));
    case 2:
    case 3:
      return static_cast<int>(fail(EAGAIN));
    case 4:
      return static_cast<int>(fail(ECONNABORTED));
    default:
      return detail::sysAccept(fd, addr, len);
  }
}

// Not faulted: an interrupted connect completes asynchronously, and callers treat EINTR as
// EINPROGRESS; injecting it would only test that one branch at the cost of every connect.
int FaultInjector::connect(int fd, const sockaddr* addr, socklen_t len) {
  return detail::sysConnect(fd, addr, len);
}

bool installFaultInjectionFromEnv() {
  const char* env = std::getenv("REACTOR_FAULT_SEED");
  if (env == nullptr || *env == '\0') return false;
  uint64_t seed = 0;
  const std::string value(env);
  if (value == "random") {
    std::random_device rd;
    seed = (uint64_t{rd()} << 32) ^ rd();
  } else {
    char* end = nullptr;
    errno = 0;
    seed = std::strtoull(env, &end, 10);
    if (errno != 0 || end == env || *end != '\0' || value.front() == '-') {
      std::fprintf(stderr,
                   "reactor: bad REACTOR_FAULT_SEED '%s' (a number or \"random\"); "
                   "fault injection off\n",
                   env);
      return false;
    }
  }
  // Never destroyed: loops on other threads may still be inside a hook while the process exits.
  static FaultInjector* injector = new FaultInjector(seed);
  setHooks(injector);
  std::fprintf(stderr, "reactor: fault injection on, seed=%llu\n",
               static_cast<unsigned long long>(injector->seed()));
  return true;
}

}  // namespace reactor::io
