#include "reactor/acceptor.h"

#include <fcntl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "reactor/connector.h"
#include "reactor/io.h"
#include "reactor/log.h"
#include "reactor/trace.h"

namespace reactor {
namespace {

std::system_error addressError(int err, const SockAddr& address) {
  return std::system_error(err, std::system_category(), address.toString());
}

UniqueFd openSpare() { return UniqueFd(::open("/dev/null", O_RDONLY | O_CLOEXEC)); }

log::RateLimitedLog& acceptLog() {
  static log::RateLimitedLog rateLimited;
  return rateLimited;
}

}  // namespace

UniqueFd listenOn(const SockAddr& address, int backlog, bool reusePort) {
  UniqueFd fd = makeTcpSocket(address.family());
  if (!fd) throw addressError(errno, address);
  const int on = 1;
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) < 0) {
    throw addressError(errno, address);
  }
  if (reusePort) {
#ifdef SO_REUSEPORT
    if (::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) < 0) {
      throw addressError(errno, address);
    }
#else
    throw addressError(ENOPROTOOPT, address);
#endif
  }
  if (::bind(fd.get(), address.get(), address.length()) < 0) throw addressError(errno, address);
  if (::listen(fd.get(), backlog) < 0) throw addressError(errno, address);
  return fd;
}

Acceptor::Acceptor(EventLoop& loop, const SockAddr& address, const AcceptorOptions& options,
                   NewConnection onNewConnection)
    : loop_(loop),
      options_(options),
      onNewConnection_(std::move(onNewConnection)),
      listenFd_(listenOn(address, options.backlog, options.reusePort)),
      spareFd_(openSpare()),
      local_(SockAddr::local(listenFd_.get())) {
  if (auto ec = loop_.add(listenFd_.get(), Interest::kReadable, this)) {
    throw std::system_error(ec, local_.toString());
  }
}

Acceptor::Acceptor(EventLoop& loop, UniqueFd listening, const AcceptorOptions& options,
                   NewConnection onNewConnection)
    : loop_(loop),
      options_(options),
      onNewConnection_(std::move(onNewConnection)),
      listenFd_(std::move(listening)),
      spareFd_(openSpare()),
      local_(SockAddr::local(listenFd_.get())) {
  if (auto ec = loop_.add(listenFd_.get(), Interest::kReadable, this)) {
    throw std::system_error(ec, local_.toString());
  }
}

Acceptor::~Acceptor() { stop(); }

void Acceptor::stop() {
  if (backoffTimer_ != 0) {
    loop_.cancel(backoffTimer_);
    backoffTimer_ = 0;
  } else if (listenFd_) {
    loop_.remove(listenFd_.get());
  }
  listenFd_.reset();
}

void Acceptor::handleEvent(const Event&) {
  if (trace::enabled()) trace::line(listenFd_.get(), "ready: readable (connections waiting)");
  for (int i = 0; i < options_.acceptsPerEvent && listenFd_; ++i) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    const int fd = io::accept(listenFd_.get(), reinterpret_cast<sockaddr*>(&ss), &len);
    if (fd >= 0) {
      ++stats_.accepted;
      const SockAddr peer(reinterpret_cast<sockaddr*>(&ss), len);
      if (trace::enabled()) {
        trace::line(fd, "accepted from {} on fd {}", peer.toString(), listenFd_.get());
      }
      onNewConnection_(UniqueFd(fd), peer);
      continue;
    }
    switch (errno) {
      case EAGAIN:
#if EWOULDBLOCK != EAGAIN
      case EWOULDBLOCK:
#endif
        return;
      // The connection died in the queue, or a signal interrupted: try the next one.
      // Linux also passes pending network errors of the new socket through accept.
      case EINTR:
      case ECONNABORTED:
      case EPROTO:
      case ENETDOWN:
      case ENOPROTOOPT:
      case EHOSTDOWN:
      case EHOSTUNREACH:
      case ENETUNREACH:
      case EOPNOTSUPP:
        continue;
      case EMFILE:
      case ENFILE:
        if (trace::enabled()) trace::line(listenFd_.get(), "accept: {}", std::strerror(errno));
        handleFdExhaustion();
        return;
      default:
        // ENOBUFS / ENOMEM and the like: let the next readiness retry.
        acceptLog().warn("accept on {}: {}", local_.toString(), std::strerror(errno));
        return;
    }
  }
}

// Out of descriptors, the pending connection stays queued and the listener stays readable: a
// level-triggered loop would spin. Give the spare descriptor back to accept-and-close what is
// queued (the clients learn at once instead of hanging), re-take the spare, and stop watching
// the listener for a short back-off so a persistent shortage does not cost a spin either.
void Acceptor::handleFdExhaustion() {
  ++stats_.emfile;
  const int err = errno;
  spareFd_.reset();
  for (int i = 0; i < options_.acceptsPerEvent; ++i) {
    const int fd = io::accept(listenFd_.get(), nullptr, nullptr);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      break;
    }
    UniqueFd refused(fd);
  }
  spareFd_ = openSpare();
  acceptLog().warn("accept on {}: {}; refusing connections for {} ms", local_.toString(),
                   std::strerror(err), options_.emfileBackoff.count());
  loop_.remove(listenFd_.get());
  backoffTimer_ = loop_.runAfter(options_.emfileBackoff, [this] {
    backoffTimer_ = 0;
    if (auto ec = loop_.add(listenFd_.get(), Interest::kReadable, this)) {
      log::error("re-registering the listener {}: {}", local_.toString(), ec.message());
    }
  });
}

}  // namespace reactor
