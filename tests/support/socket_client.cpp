#include "support/socket_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace testsupport {
namespace {

using Clock = std::chrono::steady_clock;

int remainingMs(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now()).count();
  return left < 0 ? 0 : static_cast<int>(left) + 1;
}

// Waits for `events` on fd until the deadline: 1 ready, 0 timeout, -1 error (errno).
int waitFor(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    int ms = remainingMs(deadline);
    int n = ::poll(&p, 1, ms);
    if (n > 0) return 1;
    if (n == 0) {
      if (Clock::now() >= deadline) return 0;
      continue;
    }
    if (errno != EINTR) return -1;
  }
}

bool fillAddress(const std::string& host, uint16_t port, sockaddr_storage* ss, socklen_t* len) {
  std::memset(ss, 0, sizeof(*ss));
  auto* v4 = reinterpret_cast<sockaddr_in*>(ss);
  if (::inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    *len = sizeof(sockaddr_in);
    return true;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(ss);
  if (::inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    *len = sizeof(sockaddr_in6);
    return true;
  }
  return false;
}

Fd fail(int err, const std::string& what, int* error) {
  if (error != nullptr) {
    *error = err;
    return Fd();
  }
  throw std::runtime_error(what + ": " + std::strerror(err));
}

}  // namespace

void Fd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

Fd connectTcp(const std::string& host, uint16_t port, Millis timeout, const std::string& source,
              int* error) {
  const std::string where = host + ":" + std::to_string(port);
  sockaddr_storage ss;
  socklen_t len = 0;
  if (!fillAddress(host, port, &ss, &len)) return fail(EINVAL, where, error);
  Fd fd(::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return fail(errno, where + " socket", error);
  int one = 1;
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (!source.empty()) {
    sockaddr_storage src;
    socklen_t srcLen = 0;
    if (!fillAddress(source, 0, &src, &srcLen)) return fail(EINVAL, "source " + source, error);
#ifdef IP_BIND_ADDRESS_NO_PORT
    ::setsockopt(fd.get(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
#endif
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&src), srcLen) != 0) {
      return fail(errno, "bind " + source, error);
    }
  }
  const auto deadline = Clock::now() + timeout;
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    if (errno != EINPROGRESS && errno != EINTR) return fail(errno, where, error);
    int r = waitFor(fd.get(), POLLOUT, deadline);
    if (r == 0) return fail(ETIMEDOUT, where, error);
    if (r < 0) return fail(errno, where, error);
    int soError = 0;
    socklen_t soLen = sizeof(soError);
    ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &soError, &soLen);
    if (soError != 0) return fail(soError, where, error);
  }
  if (error != nullptr) *error = 0;
  return fd;
}

int sendAll(int fd, std::string_view data, Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  size_t sent = 0;
  while (sent < data.size()) {
    ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return errno;
    int r = waitFor(fd, POLLOUT, deadline);
    if (r == 0) return ETIMEDOUT;
    if (r < 0) return errno;
  }
  return 0;
}

const char* toString(RecvStatus status) {
  switch (status) {
    case RecvStatus::kOk:
      return "ok";
    case RecvStatus::kEof:
      return "eof";
    case RecvStatus::kTimeout:
      return "timeout";
    case RecvStatus::kError:
      return "error";
  }
  return "?";
}

namespace {

// Reads until `want` bytes (or EOF when want is 0 and untilEof) arrive.
RecvResult receive(int fd, size_t want, bool untilEof, Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  RecvResult result;
  char chunk[65536];
  while (untilEof || result.data.size() < want) {
    size_t room = sizeof(chunk);
    if (!untilEof) room = std::min(room, want - result.data.size());
    if (untilEof && result.data.size() >= want) {
      result.status = RecvStatus::kError;
      result.error = EMSGSIZE;
      return result;
    }
    ssize_t n = ::recv(fd, chunk, room, 0);
    if (n > 0) {
      result.data.append(chunk, static_cast<size_t>(n));
      continue;
    }
    if (n == 0) {
      result.status = RecvStatus::kEof;
      return result;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      result.status = RecvStatus::kError;
      result.error = errno;
      return result;
    }
    int r = waitFor(fd, POLLIN, deadline);
    if (r == 0) {
      result.status = RecvStatus::kTimeout;
      return result;
    }
    if (r < 0) {
      result.status = RecvStatus::kError;
      result.error = errno;
      return result;
    }
  }
  result.status = RecvStatus::kOk;
  return result;
}

}  // namespace

RecvResult recvExactly(int fd, size_t n, Millis timeout) { return receive(fd, n, false, timeout); }

RecvResult readUntilEof(int fd, Millis timeout, size_t maxBytes) {
  return receive(fd, maxBytes, true, timeout);
}

bool waitForClose(int fd, Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  char chunk[65536];
  for (;;) {
    ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
    if (n == 0) return true;
    if (n > 0) continue;
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return true;  // reset counts as closed
    if (waitFor(fd, POLLIN, deadline) <= 0) return false;
  }
}

bool staysQuiet(int fd, Millis wait) {
  pollfd p{fd, POLLIN, 0};
  int n;
  do {
    n = ::poll(&p, 1, static_cast<int>(wait.count()));
  } while (n < 0 && errno == EINTR);
  return n == 0;
}

bool waitForHangup(int fd, Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
#ifdef POLLRDHUP
    pollfd p{fd, POLLRDHUP, 0};
#else
    pollfd p{fd, 0, 0};
#endif
    int n = ::poll(&p, 1, remainingMs(deadline));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    if (n > 0 && (p.revents & (POLLHUP | POLLERR
#ifdef POLLRDHUP
                               | POLLRDHUP
#endif
                               )) != 0) {
      return true;
    }
    if (Clock::now() >= deadline) return false;
  }
}

short waitForPoll(int fd, short events, Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    pollfd p{fd, events, 0};
    int n = ::poll(&p, 1, remainingMs(deadline));
    if (n < 0 && errno != EINTR) return 0;
    if (n > 0) return p.revents;
    if (Clock::now() >= deadline) return 0;
  }
}

bool waitForQueued(int fd, size_t bytes, Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    int queued = 0;
    if (::ioctl(fd, FIONREAD, &queued) != 0) return false;
    if (queued >= 0 && static_cast<size_t>(queued) >= bytes) return true;
    if (Clock::now() >= deadline) return false;
    // Bytes arriving do not wake poll() once the socket is readable: pace the re-check.
    ::poll(nullptr, 0, 1);
  }
}

void shutdownWrite(int fd) { ::shutdown(fd, SHUT_WR); }

void closeWithReset(Fd& fd) {
  if (!fd) return;
  linger lg{1, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  fd.reset();
}

void setReceiveBuffer(int fd, int bytes) {
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
}

unsigned long raiseFileLimit(unsigned long wanted) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  if (limit.rlim_cur < wanted) {
    limit.rlim_cur = std::min<rlim_t>(wanted, limit.rlim_max);
    ::setrlimit(RLIMIT_NOFILE, &limit);
    ::getrlimit(RLIMIT_NOFILE, &limit);
  }
  return static_cast<unsigned long>(limit.rlim_cur);
}

std::string loopbackSource(size_t i) {
  // 127.0.0.2 upward, skipping .0 and .255 in the last octet.
  const size_t perBlock = 253;
  const size_t block = i / perBlock;
  const size_t last = 2 + i % perBlock;
  return "127." + std::to_string((block / 256) % 256) + "." + std::to_string(block % 256) + "." +
         std::to_string(last);
}

}  // namespace testsupport
