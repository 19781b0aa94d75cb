// The I/O seam: every socket call of the library goes through here, so tests can shorten
// reads and writes and inject EINTR or a spurious EAGAIN, deterministically from a seed.
// When no fault injector is installed the cost is one predictable branch per call.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <cstdint>
#include <memory>

namespace reactor::io {

/// A replaceable implementation of the socket calls. Return values and errno as the syscalls.
class Hooks {
 public:
  virtual ~Hooks() = default;
  virtual ssize_t read(int fd, void* buf, size_t n) = 0;
  virtual ssize_t readv(int fd, const iovec* iov, int iovcnt) = 0;
  virtual ssize_t write(int fd, const void* buf, size_t n) = 0;      // send(MSG_NOSIGNAL)
  virtual ssize_t writev(int fd, const iovec* iov, int iovcnt) = 0;  // sendmsg(MSG_NOSIGNAL)
  virtual int accept(int fd, sockaddr* addr, socklen_t* len) = 0;    // accept4(NONBLOCK|CLOEXEC)
  /// EINTR from connect() means the connection goes on asynchronously (POSIX): treat it like
  /// EINPROGRESS, never retry the call.
  virtual int connect(int fd, const sockaddr* addr, socklen_t len) = 0;
};

namespace detail {
extern Hooks* gHooks;  // nullptr: the real syscalls
ssize_t sysRead(int fd, void* buf, size_t n);
ssize_t sysReadv(int fd, const iovec* iov, int iovcnt);
ssize_t sysWrite(int fd, const void* buf, size_t n);
ssize_t sysWritev(int fd, const iovec* iov, int iovcnt);
int sysAccept(int fd, sockaddr* addr, socklen_t* len);
int sysConnect(int fd, const sockaddr* addr, socklen_t len);
}  // namespace detail

inline ssize_t read(int fd, void* buf, size_t n) {
  if (__builtin_expect(detail::gHooks != nullptr, 0)) return detail::gHooks->read(fd, buf, n);
  return detail::sysRead(fd, buf, n);
}
inline ssize_t readv(int fd, const iovec* iov, int iovcnt) {
  if (__builtin_expect(detail::gHooks != nullptr, 0)) return detail::gHooks->readv(fd, iov, iovcnt);
  return detail::sysReadv(fd, iov, iovcnt);
}
inline ssize_t write(int fd, const void* buf, size_t n) {
  if (__builtin_expect(detail::gHooks != nullptr, 0)) return detail::gHooks->write(fd, buf, n);
  return detail::sysWrite(fd, buf, n);
}
inline ssize_t writev(int fd, const iovec* iov, int iovcnt) {
  if (__builtin_expect(detail::gHooks != nullptr, 0))
    return detail::gHooks->writev(fd, iov, iovcnt);
  return detail::sysWritev(fd, iov, iovcnt);
}
inline int accept(int fd, sockaddr* addr, socklen_t* len) {
  if (__builtin_expect(detail::gHooks != nullptr, 0)) return detail::gHooks->accept(fd, addr, len);
  return detail::sysAccept(fd, addr, len);
}
inline int connect(int fd, const sockaddr* addr, socklen_t len) {
  if (__builtin_expect(detail::gHooks != nullptr, 0)) return detail::gHooks->connect(fd, addr, len);
  return detail::sysConnect(fd, addr, len);
}

/// Installs hooks process-wide (nullptr restores the real calls). Not thread-safe against
/// concurrent I/O: install before starting loops.
void setHooks(Hooks* hooks);

/// Random faults from a seed: each read/write is shortened to a random length (down to 1 byte),
/// and with small probabilities fails with EINTR or a spurious EAGAIN (no data lost: the real
/// call is not made). accept() also fails now and then with EINTR, EAGAIN or ECONNABORTED
/// (without taking a connection); connect() is passed through untouched. Thread-safe: each
/// thread draws from its own generator, seeded from the seed and the thread's index.
class FaultInjector final : public Hooks {
 public:
  explicit FaultInjector(uint64_t seed);
  uint64_t seed() const { return seed_; }
  ssize_t read(int fd, void* buf, size_t n) override;
  ssize_t readv(int fd, const iovec* iov, int iovcnt) override;
  ssize_t write(int fd, const void* buf, size_t n) override;
  ssize_t writev(int fd, const iovec* iov, int iovcnt) override;
  int accept(int fd, sockaddr* addr, socklen_t* len) override;
  int connect(int fd, const sockaddr* addr, socklen_t len) override;

 private:
  uint64_t seed_;
  uint64_t id_;  // tells a thread's generator that a new injector (or seed) took over
};

/// If the environment variable REACTOR_FAULT_SEED is set (a number, or "random"), installs a
/// process-wide FaultInjector and prints "reactor: fault injection on, seed=N" on stderr.
/// Returns whether it did. Programs call this once at start.
bool installFaultInjectionFromEnv();

}  // namespace reactor::io
