// kqueue(2) backend, level-triggered. FreeBSD, macOS, the other BSDs (or libkqueue).
//
// Written to the documented kqueue(2) API only, with the portable habits: one knote per
// filter added with EV_ADD and dropped with EV_DELETE (never EV_ADD|EV_DISABLE), the same
// udata on every change, and every change list applied with EV_RECEIPT and an event list as
// long as the change list, so each change's own error comes back in its EV_ERROR entry's
// data (mio kqueue.rs) instead of failing the whole call or being reported as an event.
// clang-format off
#include <sys/types.h>  // before <sys/event.h>, as the BSDs' kqueue(2) pages ask
#include <sys/event.h>
#include <sys/time.h>
// clang-format on
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include "poller/backends.h"

namespace reactor {
namespace {

std::error_code lastError() { return {errno, std::system_category()}; }
std::error_code errc(std::errc e) { return std::make_error_code(e); }

class KqueuePoller final : public Poller {
 public:
  KqueuePoller() : kq_(::kqueue()) {
    if (kq_ < 0) throw std::system_error(lastError(), "kqueue");
  }
  ~KqueuePoller() override { ::close(kq_); }

  std::string_view name() const override { return "kqueue"; }

 protected:
  std::error_code doAdd(int fd, uint64_t token, Interest interest) override {
    if (fd < 0) return errc(std::errc::bad_file_descriptor);
    // EV_ADD on an existing knote silently modifies it; a double registration is an error
    // on every other backend, so it is caught here.
    if (interestOf(fd) != 0) return errc(std::errc::file_exists);
    std::error_code ec = change(fd, 0, static_cast<uint8_t>(interest));
    if (ec) return ec;
    remember(fd, token, static_cast<uint8_t>(interest));
    return {};
  }

  std::error_code doModify(int fd, uint64_t token, Interest interest) override {
    const uint8_t old = interestOf(fd);
    if (old == 0) return errc(std::errc::no_such_file_or_directory);
    std::error_code ec = change(fd, old, static_cast<uint8_t>(interest));
    if (ec) return ec;
    remember(fd, token, static_cast<uint8_t>(interest));
    return {};
  }

  std::error_code doRemove(int fd) override {
    const uint8_t old = interestOf(fd);
    if (old == 0) return errc(std::errc::no_such_file_or_directory);
    // Forget the registration even if the kernel refuses: a descriptor closed before remove()
    // already lost its knotes (close(2) drops them), and the number may be reused.
    remember(fd, 0, 0);
    return change(fd, old, 0);
  }

  int doWait(std::span<Event> batch, int timeoutMs) override {
    const int max = static_cast<int>(batch.size() < kScratch ? batch.size() : kScratch);
    timespec ts{};
    timespec* tsp = nullptr;
    if (timeoutMs >= 0) {
      ts.tv_sec = timeoutMs / 1000;
      ts.tv_nsec = static_cast<long>(timeoutMs % 1000) * 1000000L;
      tsp = &ts;
    }
    const int got = ::kevent(kq_, nullptr, 0, scratch_, max, tsp);
    if (got < 0) return -errno;
    ++generation_;
    int n = 0;
    for (int i = 0; i < got; ++i) {
      const struct kevent& kev = scratch_[i];
      const int fd = static_cast<int>(kev.ident);
      uint8_t f = 0;
      if (kev.filter == EVFILT_READ) f |= Event::kReadable;
      if (kev.filter == EVFILT_WRITE) f |= Event::kWritable;
      // EV_EOF may come with data still to read (the readable flag stays), and a pending
      // socket error sits in fflags (nginx ngx_recv.c).
      if (kev.flags & EV_EOF) f |= Event::kHangup;
      if ((kev.flags & EV_EOF) && kev.fflags != 0) f |= Event::kError;
      if (kev.flags & EV_ERROR) f |= Event::kError;
      if (f == 0 || interestOf(fd) == 0) continue;
      // kqueue reports each filter apart; merge them into one event per descriptor, as the
      // other backends give.
      Slot& slot = slots_[static_cast<size_t>(fd)];
      if (slot.generation == generation_) {
        batch[static_cast<size_t>(slot.index)].flags |= f;
        continue;
      }
      slot.generation = generation_;
      slot.index = n;
      Event& out = batch[static_cast<size_t>(n++)];
      out.fd = fd;
      out.token = slot.token;
      out.flags = f;
    }
    return n;
  }

 private:
  static constexpr size_t kScratch = 1024;

  struct Slot {
    uint64_t token = 0;
    uint64_t generation = 0;  // the wait() that last put this fd in the batch
    int index = 0;            // its position in that batch
    uint8_t interest = 0;     // 0: not registered
  };

  // Moves fd's knotes from interest `from` to `to` in one kevent() call. On failure the
  // changes that did succeed are undone, so the registration stays as it was.
  std::error_code change(int fd, uint8_t from, uint8_t to) {
    struct kevent changes[2];
    int n = 0;
    const decltype(changes[0].filter) filters[2] = {EVFILT_READ, EVFILT_WRITE};
    for (int i = 0; i < 2; ++i) {
      const uint8_t bit = static_cast<uint8_t>(1 << i);
      if ((from & bit) == (to & bit)) continue;
      const auto op =
          static_cast<decltype(changes[0].flags)>(((to & bit) ? EV_ADD : EV_DELETE) | EV_RECEIPT);
      // udata is always 0: the token lives in slots_, so every change carries the same udata.
      EV_SET(&changes[n], static_cast<uintptr_t>(fd), filters[i], op, 0, 0, 0);
      ++n;
    }
    if (n == 0) return {};
    struct kevent receipts[2];
    int got = ::kevent(kq_, changes, n, receipts, n, nullptr);
    if (got < 0) return lastError();
    std::error_code first;
    bool done[2] = {false, false};
    for (int i = 0; i < got; ++i) {
      if ((receipts[i].flags & EV_ERROR) == 0) continue;  // not a receipt: cannot happen
      const int err = static_cast<int>(receipts[i].data);
      for (int j = 0; j < n; ++j) {
        if (changes[j].filter != receipts[i].filter) continue;
        if (err == 0) {
          done[j] = true;
        } else if (!first) {
          first = {err, std::system_category()};
        }
      }
    }
    if (first && to != 0) {
      // Roll back the half that went through. Errors here leave nothing better to do: the
      // caller is told the original failure and will not use the descriptor.
      for (int j = 0; j < n; ++j) {
        if (!done[j]) continue;
        changes[j].flags = static_cast<decltype(changes[j].flags)>(
            ((changes[j].flags & EV_ADD) ? EV_DELETE : EV_ADD) | EV_RECEIPT);
        ::kevent(kq_, &changes[j], 1, receipts, 1, nullptr);
      }
    }
    return first;
  }

  uint8_t interestOf(int fd) const {
    if (fd < 0 || static_cast<size_t>(fd) >= slots_.size()) return 0;
    return slots_[static_cast<size_t>(fd)].interest;
  }

  void remember(int fd, uint64_t token, uint8_t interest) {
    if (static_cast<size_t>(fd) >= slots_.size()) slots_.resize(static_cast<size_t>(fd) + 1);
    Slot& slot = slots_[static_cast<size_t>(fd)];
    slot.token = token;
    slot.interest = interest;
  }

  int kq_;
  uint64_t generation_ = 0;
  std::vector<Slot> slots_;  // indexed by fd
  struct kevent scratch_[kScratch];
};

}  // namespace

std::unique_ptr<Poller> makeKqueuePoller() { return std::make_unique<KqueuePoller>(); }

}  // namespace reactor
