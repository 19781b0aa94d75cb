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
    forEachPending(fd, [token](Event& ev) { ev.token = token; });
  }
  return ec;
}

std::error_code Poller::remove(int fd) {
  // Invalidate first: even if the kernel says the fd was already gone (closed elsewhere),
  // no event of this batch may reach whoever gets the descriptor number next.
  maskPending(fd, 0);
  return doRemove(fd);
}

namespace {
// Up to this many events a linear scan beats building the index.
constexpr int kScanLimit = 16;
}  // namespace

template <typename Fn>
void Poller::forEachPending(int fd, Fn fn) {
  if (pendingCount_ <= kScanLimit) {
    for (int i = 0; i < pendingCount_; ++i) {
      if (pending_[i].fd == fd) fn(pending_[i]);
    }
    return;
  }
  if (!indexed_) indexPending();
  if (fd < 0 || static_cast<size_t>(fd) >= slotHead_.size()) return;
  const SlotHead& head = slotHead_[static_cast<size_t>(fd)];
  if (head.batch != batchNumber_) return;
  for (int i = head.slot; i >= 0; i = slotNext_[static_cast<size_t>(i)]) fn(pending_[i]);
}

void Poller::indexPending() {
  indexed_ = true;
  slotNext_.assign(static_cast<size_t>(pendingCount_), -1);
  for (int i = pendingCount_ - 1; i >= 0; --i) {
    const auto fd = static_cast<size_t>(pending_[i].fd);
    if (fd >= slotHead_.size()) slotHead_.resize(fd + 1);
    SlotHead& head = slotHead_[fd];
    slotNext_[static_cast<size_t>(i)] = head.batch == batchNumber_ ? head.slot : -1;
    head = {batchNumber_, i};
  }
}

void Poller::maskPending(int fd, uint8_t keep) {
  forEachPending(fd, [keep](Event& ev) {
    ev.flags &= keep;
    // Interest masks readable/writable; an event left with only hints for an interest the
    // caller dropped is dropped too, so a paused reader is not woken by a hang-up it ignores.
    if ((ev.flags & (Event::kReadable | Event::kWritable)) == 0 &&
        (keep & (Event::kReadable | Event::kWritable)) == 0) {
      ev.flags = 0;
    }
  });
}

int Poller::wait(std::span<Event> batch, int timeoutMs) {
  pending_ = nullptr;
  pendingCount_ = 0;
  ++batchNumber_;  // retires the last batch's index
  indexed_ = false;
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
