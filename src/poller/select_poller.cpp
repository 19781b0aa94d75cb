// select(2) backend, level-triggered. Everywhere, but limited to descriptors < FD_SETSIZE.
//
// FD_SET with fd >= FD_SETSIZE writes past the fd_set (undefined behaviour that corrupts
// memory; _FORTIFY_SOURCE aborts), so add() refuses such descriptors with value_too_large and
// the caller can close that one connection and carry on (nginx ngx_select_module.c).
// select() cannot tell a hang-up or an error from readability: those arrive as readable, and
// read() tells which.
#include <fcntl.h>
#include <sys/select.h>

#include <cerrno>
#include <system_error>

#include "poller/backends.h"

namespace reactor {
namespace {

std::error_code errc(std::errc e) { return std::make_error_code(e); }

class SelectPoller final : public Poller {
 public:
  SelectPoller() {
    FD_ZERO(&readSet_);
    FD_ZERO(&writeSet_);
  }

  std::string_view name() const override { return "select"; }

 protected:
  std::error_code doAdd(int fd, uint64_t token, Interest interest) override {
    if (fd < 0) return errc(std::errc::bad_file_descriptor);
    if (fd >= FD_SETSIZE) return errc(std::errc::value_too_large);
    if (registered(fd)) return errc(std::errc::file_exists);
    // select() would fail the whole wait with EBADF later; refuse the one descriptor now.
    if (::fcntl(fd, F_GETFD) < 0) return {errno, std::system_category()};
    set(fd, token, interest);
    if (fd > maxFd_) maxFd_ = fd;
    return {};
  }

  std::error_code doModify(int fd, uint64_t token, Interest interest) override {
    if (!registered(fd)) return errc(std::errc::no_such_file_or_directory);
    set(fd, token, interest);
    return {};
  }

  std::error_code doRemove(int fd) override {
    if (!registered(fd)) return errc(std::errc::no_such_file_or_directory);
    FD_CLR(fd, &readSet_);
    FD_CLR(fd, &writeSet_);
    interests_[static_cast<size_t>(fd)] = 0;
    while (maxFd_ >= 0 && interests_[static_cast<size_t>(maxFd_)] == 0) --maxFd_;
    return {};
  }

  int doWait(std::span<Event> batch, int timeoutMs) override {
    // select() overwrites its sets, so it works on copies of the registered ones.
    fd_set readable = readSet_;
    fd_set writable = writeSet_;
    timeval tv{};
    timeval* tvp = nullptr;
    if (timeoutMs >= 0) {
      tv.tv_sec = timeoutMs / 1000;
      tv.tv_usec = static_cast<decltype(tv.tv_usec)>(timeoutMs % 1000) * 1000;
      tvp = &tv;
    }
    int ready = ::select(maxFd_ + 1, &readable, &writable, nullptr, tvp);
    if (ready < 0) return -errno;
    // A batch smaller than the ready set resumes the next scan where this one stopped, so
    // high descriptors are not starved.
    const int span = maxFd_ + 1;
    const int max = static_cast<int>(batch.size());
    if (start_ >= span) start_ = 0;
    int n = 0;
    for (int k = 0; k < span && ready > 0; ++k) {
      const int fd = (start_ + k) % span;
      uint8_t f = 0;
      if (FD_ISSET(fd, &readable)) f |= Event::kReadable;
      if (FD_ISSET(fd, &writable)) f |= Event::kWritable;
      if (f == 0) continue;
      if (n == max) {
        start_ = fd;
        return n;
      }
      // select() counts a descriptor once per set it is ready in.
      ready -= (f & Event::kReadable ? 1 : 0) + (f & Event::kWritable ? 1 : 0);
      Event& out = batch[static_cast<size_t>(n++)];
      out.fd = fd;
      out.token = tokens_[static_cast<size_t>(fd)];
      out.flags = f;
    }
    start_ = 0;
    return n;
  }

 private:
  bool registered(int fd) const {
    return fd >= 0 && fd < FD_SETSIZE && interests_[static_cast<size_t>(fd)] != 0;
  }

  void set(int fd, uint64_t token, Interest interest) {
    if (wantsRead(interest)) {
      FD_SET(fd, &readSet_);
    } else {
      FD_CLR(fd, &readSet_);
    }
    if (wantsWrite(interest)) {
      FD_SET(fd, &writeSet_);
    } else {
      FD_CLR(fd, &writeSet_);
    }
    interests_[static_cast<size_t>(fd)] = static_cast<uint8_t>(interest);
    tokens_[static_cast<size_t>(fd)] = token;
  }

  fd_set readSet_;
  fd_set writeSet_;
  int maxFd_ = -1;
  int start_ = 0;  // where the next scan begins when a batch could not hold every ready fd
  std::vector<uint8_t> interests_ = std::vector<uint8_t>(FD_SETSIZE, 0);  // 0: not registered
  std::vector<uint64_t> tokens_ = std::vector<uint64_t>(FD_SETSIZE, 0);
};

}  // namespace

std::unique_ptr<Poller> makeSelectPoller() { return std::make_unique<SelectPoller>(); }

}  // namespace reactor
