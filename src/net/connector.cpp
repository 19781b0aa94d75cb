#include "reactor/connector.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>

#include "reactor/io.h"

namespace reactor {

UniqueFd makeTcpSocket(int family) {
#ifdef SOCK_NONBLOCK
  return UniqueFd(::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
#else
  UniqueFd fd(::socket(family, SOCK_STREAM, 0));
  if (fd && (::fcntl(fd.get(), F_SETFL, ::fcntl(fd.get(), F_GETFL) | O_NONBLOCK) < 0 ||
             ::fcntl(fd.get(), F_SETFD, FD_CLOEXEC) < 0)) {
    const int err = errno;
    fd.reset();
    errno = err;
  }
#ifdef SO_NOSIGPIPE
  if (fd) {
    const int on = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_NOSIGPIPE, &on, sizeof on);
  }
#endif
  return fd;
#endif
}

Connector::Connector(EventLoop& loop, const SockAddr& address, ConnectOptions options,
                     Callback callback)
    : loop_(loop),
      address_(address),
      options_(std::move(options)),
      callback_(std::move(callback)) {}

Connector::~Connector() {
  if (timer_ != 0) loop_.cancel(timer_);
  if (registered_) loop_.remove(fd_.get());
}

void Connector::start() {
  std::error_code error = connectNow();
  if (!registered_) {
    // Finished (or failed) at once: report from the loop, never from inside start(). A timer,
    // not defer(), so that destroying the Connector first cancels it.
    timer_ = loop_.runAfter(std::chrono::milliseconds(0), [this, error] {
      timer_ = 0;
      finish(error);
    });
  }
}

std::error_code Connector::connectNow() {
  auto lastError = [] { return std::error_code(errno, std::system_category()); };
  fd_ = makeTcpSocket(address_.family());
  if (!fd_) return lastError();
  if (options_.source) {
#ifdef IP_BIND_ADDRESS_NO_PORT
    // Pick the port at connect() time, so many clients on one source address do not run out
    // of ephemeral ports for binding alone. Best effort: older kernels refuse it.
    const int on = 1;
    (void)::setsockopt(fd_.get(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &on, sizeof on);
#endif
    if (::bind(fd_.get(), options_.source->get(), options_.source->length()) < 0) {
      return lastError();
    }
  }
  if (options_.noDelay) {
    // Only a latency hint: a socket that refuses it still works.
    const int on = 1;
    (void)::setsockopt(fd_.get(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  }
  if (io::connect(fd_.get(), address_.get(), address_.length()) == 0) return {};
  // EINTR: POSIX says the connect goes on asynchronously, exactly like EINPROGRESS.
  if (errno != EINPROGRESS && errno != EINTR) return lastError();
  if (auto ec = loop_.add(fd_.get(), Interest::kWritable, this)) return ec;
  registered_ = true;
  timer_ = loop_.runAfter(options_.timeout, [this] {
    timer_ = 0;
    finish(std::error_code(ETIMEDOUT, std::system_category()));
  });
  return {};
}

void Connector::handleEvent(const Event&) {
  int err = 0;
  socklen_t len = sizeof err;
  if (::getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
  // Writable with no error yet while the handshake is still going: wait for the next event.
  if (err == EINPROGRESS || err == EALREADY) return;
  finish(std::error_code(err, std::system_category()));
}

void Connector::finish(std::error_code error) {
  if (done_) return;
  done_ = true;
  if (timer_ != 0) {
    loop_.cancel(timer_);
    timer_ = 0;
  }
  if (registered_) {
    loop_.remove(fd_.get());
    registered_ = false;
  }
  UniqueFd socket;
  if (error) {
    fd_.reset();
  } else {
    socket = std::move(fd_);
  }
  // The callback may destroy this Connector: nothing touches `this` after it.
  Callback callback = std::move(callback_);
  callback(std::move(socket), error);
}

}  // namespace reactor
