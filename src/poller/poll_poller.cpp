// poll(2) backend, level-triggered. POSIX.
//
// The pollfd array is dense so the kernel scans only registered descriptors; an fd -> slot
// map makes add/modify/remove O(1) (remove swaps the last slot into the hole).
#include <fcntl.h>
#include <poll.h>

#include <cerrno>
#include <system_error>

#include "poller/backends.h"

namespace reactor {
namespace {

short toPoll(Interest interest) {
  short ev = 0;
  if (wantsWrite(interest)) ev |= POLLOUT;
  if (wantsRead(interest)) {
    ev |= POLLIN;
    // Peer half-close is a read-side condition: asked for without read interest it would be
    // reported on every wait while a paused reader waits for writability, a busy loop.
#ifdef POLLRDHUP
    ev |= POLLRDHUP;
#endif
  }
  return ev;
}

uint8_t fromPoll(short revents) {
  uint8_t f = 0;
  if (revents & (POLLIN | POLLPRI)) f |= Event::kReadable;
  if (revents & POLLOUT) f |= Event::kWritable;
  if (revents & POLLHUP) f |= Event::kHangup;
#ifdef POLLRDHUP
  if (revents & POLLRDHUP) f |= Event::kHangup;
#endif
  if (revents & (POLLERR | POLLNVAL)) f |= Event::kError;
  return f;
}

std::error_code errc(std::errc e) { return std::make_error_code(e); }

class PollPoller final : public Poller {
 public:
  std::string_view name() const override { return "poll"; }

 protected:
  std::error_code doAdd(int fd, uint64_t token, Interest interest) override {
    if (fd < 0) return errc(std::errc::bad_file_descriptor);
    if (slotOf(fd) >= 0) return errc(std::errc::file_exists);
    // poll() itself would only flag a bad descriptor later with POLLNVAL; refuse it now so
    // every backend reports EBADF at registration.
    if (::fcntl(fd, F_GETFD) < 0) return {errno, std::system_category()};
    if (static_cast<size_t>(fd) >= slots_.size()) slots_.resize(static_cast<size_t>(fd) + 1, -1);
    slots_[static_cast<size_t>(fd)] = static_cast<int>(fds_.size());
    fds_.push_back(pollfd{fd, toPoll(interest), 0});
    tokens_.push_back(token);
    return {};
  }

  std::error_code doModify(int fd, uint64_t token, Interest interest) override {
    int slot = slotOf(fd);
    if (slot < 0) return errc(std::errc::no_such_file_or_directory);
    fds_[static_cast<size_t>(slot)].events = toPoll(interest);
    tokens_[static_cast<size_t>(slot)] = token;
    return {};
  }

  std::error_code doRemove(int fd) override {
    int slot = slotOf(fd);
    if (slot < 0) return errc(std::errc::no_such_file_or_directory);
    const size_t last = fds_.size() - 1;
    if (static_cast<size_t>(slot) != last) {
      fds_[static_cast<size_t>(slot)] = fds_[last];
      tokens_[static_cast<size_t>(slot)] = tokens_[last];
      slots_[static_cast<size_t>(fds_[last].fd)] = slot;
    }
    fds_.pop_back();
    tokens_.pop_back();
    slots_[static_cast<size_t>(fd)] = -1;
    return {};
  }

  int doWait(std::span<Event> batch, int timeoutMs) override {
    int ready = ::poll(fds_.data(), static_cast<nfds_t>(fds_.size()), timeoutMs);
    if (ready < 0) return -errno;
    // A batch smaller than the ready set resumes the next scan where this one stopped, so
    // descriptors late in the array are not starved.
    const size_t size = fds_.size();
    const int max = static_cast<int>(batch.size());
    if (start_ >= size) start_ = 0;
    int n = 0;
    for (size_t k = 0; k < size && ready > 0; ++k) {
      const size_t i = (start_ + k) % size;
      const short revents = fds_[i].revents;
      if (revents == 0) continue;
      if (n == max) {
        start_ = i;
        return n;
      }
      --ready;
      Event& out = batch[static_cast<size_t>(n++)];
      out.fd = fds_[i].fd;
      out.token = tokens_[i];
      out.flags = fromPoll(revents);
    }
    start_ = 0;
    return n;
  }

 private:
  int slotOf(int fd) const {
    if (fd < 0 || static_cast<size_t>(fd) >= slots_.size()) return -1;
    return slots_[static_cast<size_t>(fd)];
  }

  std::vector<pollfd> fds_;
  std::vector<uint64_t> tokens_;  // parallel to fds_
  std::vector<int> slots_;        // fd -> index in fds_, -1 when not registered
  size_t start_ = 0;              // where the next scan of a ready set begins
};

}  // namespace

std::unique_ptr<Poller> makePollPoller() { return std::make_unique<PollPoller>(); }

}  // namespace reactor
