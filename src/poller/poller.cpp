// The backend-independent half of Poller: batch invalidation and the EINTR retry.
#include "reactor/poller.h"

#include <cerrno>
#include <chrono>

namespace reactor {

std::error_code Poller::add(int fd, uint64_t token, Interest interest) {
  return doAdd(fd, token, interest);
}

std::error_code Poller::modify(int fd, uint64_t token, Interest interest) {
  std::error_code ec = doModify(fd, token, interest);
  if (!ec) {
    // Events not yet dispatched see the new interest; hang-up and error stay as hints.
    maskPending(fd, static_cast<uint8_t>(interest) | Event::kHangup | Event::kError);
    for (int i = 0; i < pendingCount_; ++i) {
      if (pending_[i].fd == fd) pending_[i].token = token;
    }
  }
  return ec;
}

std::error_code Poller::remove(int fd) {
  // Invalidate first: even if the kernel says the fd was already gone (closed elsewhere),
  // no event of this batch may reach whoever gets the descriptor number next.
  maskPending(fd, 0);
  return doRemove(fd);
}

void Poller::maskPending(int fd, uint8_t keep) {
  for (int i = 0; i < pendingCount_; ++i) {
    Event& ev = pending_[i];
    if (ev.fd != fd) continue;
    ev.flags &= keep;
    // Interest masks readable/writable; an event left with only hints for an interest the
    // caller dropped is dropped too, so a paused reader is not woken by a hang-up it ignores.
    if ((ev.flags & (Event::kReadable | Event::kWritable)) == 0 &&
        (keep & (Event::kReadable | Event::kWritable)) == 0) {
      ev.flags = 0;
    }
  }
}

int Poller::wait(std::span<Event> batch, int timeoutMs) {
  pending_ = nullptr;
  pendingCount_ = 0;
  using Clock = std::chrono::steady_clock;
  // Only a finite, positive timeout needs a deadline to resume from after EINTR; the hot path
  // (wait(0) under load, -1 when idle) reads no clock here.
  const auto deadline =
      timeoutMs > 0 ? Clock::now() + std::chrono::milliseconds(timeoutMs) : Clock::time_point{};
  int remaining = timeoutMs;
  for (;;) {
    int n = doWait(batch, remaining);
    if (n >= 0) {
      pending_ = batch.data();
      pendingCount_ = n;
      return n;
    }
    if (n != -EINTR) return n;
    if (timeoutMs > 0) {
      // Round up so a wait never returns early by a fraction of a millisecond.
      auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return 0;
      remaining = static_cast<int>(left.count());
    }
  }
}

}  // namespace reactor
