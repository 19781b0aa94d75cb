// epoll(7) backend, level-triggered. Linux only.
#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include "poller/backends.h"

namespace reactor {
namespace {

uint32_t toEpoll(Interest interest) {
  uint32_t ev = 0;
  // EPOLLRDHUP only with read interest: a half-closed peer would otherwise wake a paused
  // reader (write interest only) on every wait, a busy loop.
  if (wantsRead(interest)) ev |= EPOLLIN | EPOLLRDHUP;
  if (wantsWrite(interest)) ev |= EPOLLOUT;
  return ev;
}

std::error_code lastError() { return {errno, std::system_category()}; }

class EpollPoller final : public Poller {
 public:
  EpollPoller() : epfd_(::epoll_create1(EPOLL_CLOEXEC)) {
    if (epfd_ < 0) throw std::system_error(lastError(), "epoll_create1");
  }
  ~EpollPoller() override { ::close(epfd_); }

  std::string_view name() const override { return "epoll"; }

 protected:
  std::error_code doAdd(int fd, uint64_t token, Interest interest) override {
    return control(EPOLL_CTL_ADD, fd, token, interest);
  }
  std::error_code doModify(int fd, uint64_t token, Interest interest) override {
    return control(EPOLL_CTL_MOD, fd, token, interest);
  }
  std::error_code doRemove(int fd) override {
    epoll_event ev{};  // non-null for kernels before 2.6.9
    if (::epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, &ev) < 0) return lastError();
    return {};
  }

  int doWait(std::span<Event> batch, int timeoutMs) override {
    // Read straight into the caller's batch: epoll_event is 12 bytes, Event is 16, so the
    // kernel's records are staged in a fixed scratch array and converted.
    int max = static_cast<int>(batch.size() < kScratch ? batch.size() : kScratch);
    int n = ::epoll_wait(epfd_, scratch_, max, timeoutMs);
    if (n < 0) return -errno;
    for (int i = 0; i < n; ++i) {
      const uint32_t e = scratch_[i].events;
      Event& out = batch[static_cast<size_t>(i)];
      out.token = tokenOf(scratch_[i]);
      out.fd = fdOf(scratch_[i]);
      uint8_t f = 0;
      if (e & EPOLLIN) f |= Event::kReadable;
      if (e & EPOLLOUT) f |= Event::kWritable;
      if (e & (EPOLLRDHUP | EPOLLHUP)) f |= Event::kHangup;
      if (e & EPOLLERR) f |= Event::kError;
      out.flags = f;
    }
    return n;
  }

 private:
  static constexpr size_t kScratch = 1024;

  // epoll_data holds 64 bits; we need both the caller's token and the fd (for batch
  // invalidation), so the fd -> token map lives beside it.
  std::error_code control(int op, int fd, uint64_t token, Interest interest) {
    epoll_event ev{};
    ev.events = toEpoll(interest);
    ev.data.fd = fd;
    if (::epoll_ctl(epfd_, op, fd, &ev) < 0) return lastError();
    if (static_cast<size_t>(fd) >= tokens_.size()) tokens_.resize(static_cast<size_t>(fd) + 1);
    tokens_[static_cast<size_t>(fd)] = token;
    return {};
  }
  int fdOf(const epoll_event& ev) const { return ev.data.fd; }
  uint64_t tokenOf(const epoll_event& ev) const { return tokens_[static_cast<size_t>(ev.data.fd)]; }

  int epfd_;
  std::vector<uint64_t> tokens_;
  epoll_event scratch_[kScratch];
};

}  // namespace

std::unique_ptr<Poller> makeEpollPoller() { return std::make_unique<EpollPoller>(); }

}  // namespace reactor
