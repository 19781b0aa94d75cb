#include "reactor/event_loop.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <thread>
#include <unordered_map>

#include "reactor/log.h"

#ifdef __linux__
#include <sys/eventfd.h>
#endif

namespace reactor {
namespace {

std::error_code lastError() { return {errno, std::system_category()}; }

void makePipe(UniqueFd& readEnd, UniqueFd& writeEnd) {
  int fds[2];
#ifdef __linux__
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0) throw std::system_error(lastError(), "pipe2");
#else
  if (::pipe(fds) < 0) throw std::system_error(lastError(), "pipe");
  for (int fd : fds) {
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
#endif
  readEnd.reset(fds[0]);
  writeEnd.reset(fds[1]);
}

// Drains a non-blocking wakeup/signal descriptor. EAGAIN ends it; EINTR retries; any other
// error cannot happen on our own pipe or eventfd and would only repeat, so it ends it too.
template <typename OnBytes>
void drain(int fd, OnBytes onBytes) {
  unsigned char buf[256];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      onBytes(buf, static_cast<size_t>(n));
      if (static_cast<size_t>(n) < sizeof buf) return;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return;
  }
}

// The signal write end per signal number. The handler reads it with a lock-free atomic load,
// which is async-signal-safe.
std::atomic<int> gSignalFds[NSIG];

void onSignal(int signo) {
  const int savedErrno = errno;
  int fd = gSignalFds[signo].load(std::memory_order_relaxed);
  if (fd >= 0) {
    unsigned char b = static_cast<unsigned char>(signo);
    // A full pipe already holds bytes that will wake the loop; nothing else to do.
    ssize_t ignored = ::write(fd, &b, 1);
    (void)ignored;
  }
  errno = savedErrno;
}

struct Timer {
  std::function<void()> callback;
  Clock::duration interval{0};  // zero: one-shot
  Clock::time_point deadline;
  uint64_t seq = 0;  // the heap entry that is current for this timer
};

struct HeapEntry {
  Clock::time_point deadline;
  uint64_t seq;
  TimerId id;
  // std::push_heap builds a max-heap; "greater" puts the earliest (deadline, seq) on top.
  bool operator<(const HeapEntry& o) const {
    return deadline != o.deadline ? deadline > o.deadline : seq > o.seq;
  }
};

}  // namespace

void ignoreSigpipe() {
  static const bool done = [] {
    std::signal(SIGPIPE, SIG_IGN);
    return true;
  }();
  (void)done;
}

struct EventLoop::Impl {
  // Reads the wakeup descriptor; the posted tasks themselves run after the batch.
  struct WakeupHandler final : IoHandler {
    Impl* impl;
    void handleEvent(const Event&) override {
      // Cleared before draining: a wakeup racing with this is at worst one spurious wake.
      impl->wakePending.store(false);
      drain(impl->wakeRead.get(), [](const unsigned char*, size_t) {});
    }
  };
  struct SignalHandler final : IoHandler {
    Impl* impl;
    void handleEvent(const Event&) override {
      drain(impl->signalRead.get(), [this](const unsigned char* b, size_t n) {
        for (size_t i = 0; i < n; ++i) {
          auto it = impl->signalCallbacks.find(b[i]);
          if (it != impl->signalCallbacks.end()) it->second(b[i]);
        }
      });
    }
  };

  std::atomic<bool> quit{false};
  std::atomic<std::thread::id> owner{};

  UniqueFd wakeRead;
  UniqueFd wakeWrite;  // same as wakeRead with eventfd (kept invalid then)
  WakeupHandler wakeHandler;
  std::atomic<bool> wakePending{false};

  std::mutex mutex;
  std::vector<std::function<void()>> posted;  // guarded by mutex
  std::atomic<bool> hasPosted{false};
  std::vector<std::function<void()>> deferred;

  std::vector<HeapEntry> heap;
  std::unordered_map<TimerId, Timer> timers;
  TimerId nextTimerId = 1;
  uint64_t nextSeq = 1;
  // seq of the heap's front entry once it was found live; 0 after anything that may have
  // made it stale (cancel, reschedule), so an unchanged front costs no lookup per iteration.
  uint64_t liveTopSeq = 0;

  UniqueFd signalRead;
  UniqueFd signalWrite;
  SignalHandler signalHandler;
  std::unordered_map<int, std::function<void(int)>> signalCallbacks;
  std::unordered_map<int, struct sigaction> savedActions;

  std::vector<Event> events = std::vector<Event>(128);
  bool batchFull = false;

  int wakeWriteFd() const { return wakeWrite ? wakeWrite.get() : wakeRead.get(); }

  void wakeup() {
    if (wakePending.exchange(true, std::memory_order_acq_rel)) return;
#ifdef __linux__
    uint64_t one = 1;
    const void* p = &one;
    size_t len = sizeof one;
#else
    unsigned char one = 1;
    const void* p = &one;
    size_t len = 1;
#endif
    // EAGAIN: the counter/pipe is already full, so the loop will wake anyway.
    while (::write(wakeWriteFd(), p, len) < 0 && errno == EINTR) {
    }
  }

  void pushTimer(TimerId id, Timer& t) {
    t.seq = nextSeq++;
    liveTopSeq = 0;
    heap.push_back({t.deadline, t.seq, id});
    std::push_heap(heap.begin(), heap.end());
  }

  // Drops heap entries whose timer was cancelled or rescheduled (lazy deletion).
  void popStale() {
    while (!heap.empty()) {
      if (heap.front().seq == liveTopSeq) return;
      auto it = timers.find(heap.front().id);
      if (it != timers.end() && it->second.seq == heap.front().seq) {
        liveTopSeq = it->second.seq;
        return;
      }
      std::pop_heap(heap.begin(), heap.end());
      heap.pop_back();
    }
  }

  // `now` is the loop's time, read once after the wait: a timer that falls due while the batch
  // is dispatched runs next iteration, whose wait then does not block.
  void runTimers(Clock::time_point now) {
    // Timers added by the callbacks below fire no earlier than the next iteration, even with a
    // zero delay: only entries with seq below this bound run now.
    const uint64_t seqBound = nextSeq;
    for (;;) {
      popStale();
      if (heap.empty() || heap.front().deadline > now || heap.front().seq >= seqBound) return;
      const TimerId id = heap.front().id;
      std::pop_heap(heap.begin(), heap.end());
      heap.pop_back();
      auto it = timers.find(id);
      // The callback is moved out while it runs, so cancel(id) inside it just erases the entry.
      std::function<void()> callback = std::move(it->second.callback);
      const bool periodic = it->second.interval.count() > 0;
      if (periodic) {
        it->second.seq = 0;
      } else {
        timers.erase(it);
      }
      callback();
      if (!periodic) continue;
      it = timers.find(id);
      if (it == timers.end()) continue;  // cancelled from inside its own callback
      it->second.callback = std::move(callback);
      // From the previous deadline, not from now, so the period does not drift; after a stall
      // that skipped whole periods, from now, so it does not fire in a burst to catch up.
      Timer& t = it->second;
      t.deadline += t.interval;
      if (t.deadline <= now) t.deadline = now + t.interval;
      pushTimer(id, it->second);
    }
  }

  void runDeferred() {
    // Deferred tasks may defer more (a close that frees a peer); bounded in practice.
    while (!deferred.empty()) {
      std::vector<std::function<void()>> batch;
      batch.swap(deferred);
      for (auto& task : batch) task();
    }
  }

  void runPosted() {
    if (!hasPosted.load(std::memory_order_acquire)) return;
    std::vector<std::function<void()>> batch;
    {
      std::lock_guard<std::mutex> lock(mutex);
      batch.swap(posted);
      hasPosted.store(false, std::memory_order_relaxed);
    }
    for (auto& task : batch) task();
  }

  int timeoutFor(int timeoutMs) {
    // seq_cst with post(): either this load sees the task or post() sees this thread as the
    // owner-in-wait and writes the wakeup.
    if (hasPosted.load() || !deferred.empty() || quit.load()) {
      return 0;
    }
    popStale();
    if (heap.empty()) return timeoutMs;
    auto left = std::chrono::ceil<std::chrono::milliseconds>(heap.front().deadline - Clock::now());
    const int64_t ms = std::max<int64_t>(left.count(), 0);
    if (timeoutMs < 0 || ms < timeoutMs) return static_cast<int>(std::min<int64_t>(ms, INT32_MAX));
    return timeoutMs;
  }
};

EventLoop::EventLoop(std::unique_ptr<Poller> poller)
    : impl_(std::make_unique<Impl>()), poller_(std::move(poller)), now_(Clock::now()) {
  ignoreSigpipe();
  impl_->owner.store(std::this_thread::get_id());
  impl_->wakeHandler.impl = impl_.get();
  impl_->signalHandler.impl = impl_.get();
#ifdef __linux__
  impl_->wakeRead.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!impl_->wakeRead) throw std::system_error(lastError(), "eventfd");
#else
  makePipe(impl_->wakeRead, impl_->wakeWrite);
#endif
  if (auto ec = add(impl_->wakeRead.get(), Interest::kReadable, &impl_->wakeHandler)) {
    throw std::system_error(ec, "registering the wakeup descriptor");
  }
}

EventLoop::~EventLoop() {
  for (auto& [signo, action] : impl_->savedActions) {
    gSignalFds[signo].store(-1);
    ::sigaction(signo, &action, nullptr);
  }
  if (impl_->signalRead) poller_->remove(impl_->signalRead.get());
  poller_->remove(impl_->wakeRead.get());
  // Destroying objects whose deletion was deferred, so they do not leak.
  impl_->runDeferred();
}

void EventLoop::run() {
  impl_->owner.store(std::this_thread::get_id());
  while (!impl_->quit.load(std::memory_order_acquire)) runOnce(-1);
}

void EventLoop::runOnce(int timeoutMs) {
  Impl& impl = *impl_;
  // A seq_cst store is a locked instruction: store only when the thread really changed.
  const std::thread::id self = std::this_thread::get_id();
  if (impl.owner.load(std::memory_order_relaxed) != self) impl.owner.store(self);
  // Grown between batches only: the poller keeps a pointer into the last batch until the
  // next wait, for remove() and modify() to invalidate.
  if (impl.batchFull && impl.events.size() < 4096) impl.events.resize(impl.events.size() * 2);
  const int timeout = impl.timeoutFor(timeoutMs);
  int n = poller_->wait(impl.events, timeout);
  now_ = Clock::now();
  ++stats_.iterations;
  if (n < 0) {
    // Only EBADF/EINVAL/EFAULT remain after the EINTR retry: a bug, not a transient state.
    // Fall through to timers and tasks so the loop can still be stopped.
    static log::RateLimitedLog rateLimited;
    rateLimited.warn("poller wait failed: {}", std::generic_category().message(-n));
    n = 0;
  }
  for (int i = 0; i < n; ++i) {
    const Event& ev = impl.events[static_cast<size_t>(i)];
    if (ev.flags == 0) continue;  // invalidated by remove()/modify() earlier in this batch
    ++stats_.events;
    reinterpret_cast<IoHandler*>(static_cast<uintptr_t>(ev.token))->handleEvent(ev);
  }
  impl.batchFull = static_cast<size_t>(n) == impl.events.size();
  impl.runDeferred();
  impl.runTimers(now_);
  impl.runDeferred();
  impl.runPosted();
  impl.runDeferred();
}

void EventLoop::stop() {
  // seq_cst, like owner and hasPosted: see timeoutFor().
  impl_->quit.store(true);
  if (!inLoopThread()) impl_->wakeup();
}

bool EventLoop::stopped() const { return impl_->quit.load(std::memory_order_acquire); }

void EventLoop::post(std::function<void()> task) {
  bool wasEmpty;
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    wasEmpty = impl_->posted.empty();
    impl_->posted.push_back(std::move(task));
    impl_->hasPosted.store(true);
  }
  // The loop thread checks hasPosted before it waits; another poster already woke the loop
  // for a non-empty queue.
  if (wasEmpty && !inLoopThread()) impl_->wakeup();
}

void EventLoop::defer(std::function<void()> task) { impl_->deferred.push_back(std::move(task)); }

std::error_code EventLoop::add(int fd, Interest interest, IoHandler* handler) {
  return poller_->add(fd, reinterpret_cast<uintptr_t>(handler), interest);
}

std::error_code EventLoop::modify(int fd, Interest interest, IoHandler* handler) {
  return poller_->modify(fd, reinterpret_cast<uintptr_t>(handler), interest);
}

void EventLoop::remove(int fd) {
  // ENOENT/EBADF: already gone from the kernel set; the batch was invalidated either way.
  (void)poller_->remove(fd);
}

TimerId EventLoop::runAfter(std::chrono::milliseconds delay, std::function<void()> callback) {
  const TimerId id = impl_->nextTimerId++;
  Timer& t = impl_->timers[id];
  t.callback = std::move(callback);
  t.deadline = Clock::now() + delay;
  impl_->pushTimer(id, t);
  return id;
}

TimerId EventLoop::runEvery(std::chrono::milliseconds interval, std::function<void()> callback) {
  const TimerId id = impl_->nextTimerId++;
  Timer& t = impl_->timers[id];
  t.callback = std::move(callback);
  t.interval = std::max<Clock::duration>(interval, std::chrono::milliseconds(1));
  t.deadline = Clock::now() + t.interval;
  impl_->pushTimer(id, t);
  return id;
}

void EventLoop::cancel(TimerId id) {
  impl_->timers.erase(id);
  impl_->liveTopSeq = 0;
  // Keep the heap from growing without bound when many timers are cancelled early.
  if (impl_->heap.size() > 64 && impl_->heap.size() > 2 * impl_->timers.size()) {
    auto& heap = impl_->heap;
    std::erase_if(heap, [this](const HeapEntry& e) {
      auto it = impl_->timers.find(e.id);
      return it == impl_->timers.end() || it->second.seq != e.seq;
    });
    std::make_heap(heap.begin(), heap.end());
  }
}

void EventLoop::watchSignal(int signo, std::function<void(int)> callback) {
  Impl& impl = *impl_;
  if (signo <= 0 || signo >= NSIG) throw std::invalid_argument("watchSignal: bad signal number");
  if (!impl.signalRead) {
    makePipe(impl.signalRead, impl.signalWrite);
    if (auto ec = add(impl.signalRead.get(), Interest::kReadable, &impl.signalHandler)) {
      throw std::system_error(ec, "registering the signal pipe");
    }
  }
  impl.signalCallbacks[signo] = std::move(callback);
  gSignalFds[signo].store(impl.signalWrite.get());
  struct sigaction action {};
  action.sa_handler = onSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  struct sigaction old {};
  if (::sigaction(signo, &action, &old) < 0) throw std::system_error(lastError(), "sigaction");
  impl.savedActions.try_emplace(signo, old);
}

size_t EventLoop::timerHeapEntries() const { return impl_->heap.size(); }

bool EventLoop::inLoopThread() const { return impl_->owner.load() == std::this_thread::get_id(); }

}  // namespace reactor
