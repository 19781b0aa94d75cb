#include "server/systemd.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace reactor::server::systemd {
namespace {

// sd_listen_fds(3): the first passed descriptor is always 3.
constexpr int kListenFdsStart = 3;

std::string_view env(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string_view() : std::string_view(value);
}

bool parseNumber(std::string_view text, long* out) {
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, *out);
  return !text.empty() && ec == std::errc() && ptr == end;
}

std::runtime_error fdError(int fd, const std::string& what) {
  return std::runtime_error("LISTEN_FDS: descriptor " + std::to_string(fd) + ": " + what);
}

}  // namespace

// This is the whole of sd_listen_fds(unset_environment=1) as systemd documents it: the
// variables are only meant for the process whose pid LISTEN_PID names (a child that inherited
// the environment must not take them), the descriptors are 3 .. 3+LISTEN_FDS-1, and the library
// sets FD_CLOEXEC on them. We also make them non-blocking (systemd hands them over blocking) and
// check that each one is a listening stream socket (sd_is_socket()).
std::vector<UniqueFd> takeListenFds() {
  const std::string_view pidText = env("LISTEN_PID");
  const std::string_view countText = env("LISTEN_FDS");
  long pid = 0;
  long count = 0;
  const bool forUs = parseNumber(pidText, &pid) && pid == static_cast<long>(::getpid()) &&
                     parseNumber(countText, &count);
  ::unsetenv("LISTEN_PID");
  ::unsetenv("LISTEN_FDS");
  ::unsetenv("LISTEN_FDNAMES");
  std::vector<UniqueFd> fds;
  if (!forUs || count <= 0) return fds;
  if (count > 1024) throw std::runtime_error("LISTEN_FDS=" + std::to_string(count) + ": too many");
  for (int fd = kListenFdsStart; fd < kListenFdsStart + count; ++fd) fds.emplace_back(fd);
  for (const UniqueFd& fd : fds) {
    int type = 0;
    int listening = 0;
    socklen_t len = sizeof type;
    if (::getsockopt(fd.get(), SOL_SOCKET, SO_TYPE, &type, &len) != 0) {
      throw fdError(fd.get(), std::strerror(errno));
    }
    len = sizeof listening;
    if (::getsockopt(fd.get(), SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0) {
      throw fdError(fd.get(), std::strerror(errno));
    }
    if (type != SOCK_STREAM || listening == 0) {
      throw fdError(fd.get(), "not a listening stream socket");
    }
    const int flags = ::fcntl(fd.get(), F_GETFL);
    if (flags < 0 || ::fcntl(fd.get(), F_SETFL, flags | O_NONBLOCK) < 0 ||
        ::fcntl(fd.get(), F_SETFD, FD_CLOEXEC) < 0) {
      throw fdError(fd.get(), std::strerror(errno));
    }
  }
  return fds;
}

// This is the whole of sd_notify(3)'s wire protocol: one datagram, whose text is the state
// assignments, to the AF_UNIX datagram socket at the path in NOTIFY_SOCKET, in the abstract
// namespace when the path starts with '@' (Linux). systemd identifies the sender by the
// datagram's credentials, so nothing else is sent; MAINPID= tells it which pid is the service.
// (libsystemd adds fd passing and vsock addresses, which this server does not need.)
std::string notify(std::string_view state) {
  const std::string_view path = env("NOTIFY_SOCKET");
  if (path.empty()) return {};
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof address.sun_path) return "NOTIFY_SOCKET: path too long";
  std::memcpy(address.sun_path, path.data(), path.size());
  socklen_t length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size());
  if (path.front() == '@') {
    address.sun_path[0] = '\0';  // abstract: the name is the bytes after the NUL, no terminator
  } else {
    length += 1;  // the terminating NUL of a path name
  }
#ifdef SOCK_CLOEXEC
  UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
#else
  UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM, 0));
#endif
  if (!fd) return std::string("NOTIFY_SOCKET: socket: ") + std::strerror(errno);
  for (;;) {
    const ssize_t sent = ::sendto(fd.get(), state.data(), state.size(), 0,
                                  reinterpret_cast<const sockaddr*>(&address), length);
    if (sent >= 0) return {};
    if (errno != EINTR) break;
  }
  return "NOTIFY_SOCKET " + std::string(path) + ": " + std::strerror(errno);
}

}  // namespace reactor::server::systemd
