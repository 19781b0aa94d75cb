// EventLoop: timers, posting, stop, signals, and batch safety for raw handlers.
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "net_test_util.h"

namespace {

using namespace std::chrono_literals;
using nettest::runUntil;
using reactor::EventLoop;

TEST(EventLoopTimers, FireInDeadlineOrder) {
  EventLoop loop(reactor::createPoller("auto"));
  std::vector<int> order;
  loop.runAfter(30ms, [&] { order.push_back(30); });
  loop.runAfter(10ms, [&] { order.push_back(10); });
  loop.runAfter(20ms, [&] { order.push_back(20); });
  ASSERT_TRUE(runUntil(loop, [&] { return order.size() == 3; }));
  EXPECT_EQ(order, (std::vector<int>{10, 20, 30}));
}

TEST(EventLoopTimers, EqualDeadlinesFireInInsertionOrder) {
  EventLoop loop(reactor::createPoller("auto"));
  std::vector<int> order;
  // Zero delays all land on (or before) the same turn; the sequence number breaks the tie.
  for (int i = 0; i < 50; ++i) loop.runAfter(0ms, [&order, i] { order.push_back(i); });
  ASSERT_TRUE(runUntil(loop, [&] { return order.size() == 50; }));
  for (int i = 0; i < 50; ++i) EXPECT_EQ(order[static_cast<size_t>(i)], i);
}

TEST(EventLoopTimers, CancelBeforeAndFromInsideCallbacks) {
  EventLoop loop(reactor::createPoller("auto"));
  int cancelledFired = 0;
  int firstFired = 0;
  int everyFired = 0;
  bool done = false;
  reactor::TimerId cancelled = loop.runAfter(5ms, [&] { ++cancelledFired; });
  loop.cancel(cancelled);
  // Two timers due together: the first cancels the second from inside its callback.
  reactor::TimerId second = 0;
  loop.runAfter(5ms, [&] {
    ++firstFired;
    loop.cancel(second);
  });
  second = loop.runAfter(5ms, [&] { ++cancelledFired; });
  // A periodic timer that cancels itself on its third run.
  reactor::TimerId every = 0;
  every = loop.runEvery(2ms, [&] {
    if (++everyFired == 3) loop.cancel(every);
  });
  loop.runAfter(60ms, [&] { done = true; });
  loop.cancel(0);  // never a valid id: harmless
  ASSERT_TRUE(runUntil(loop, [&] { return done; }));
  EXPECT_EQ(firstFired, 1);
  EXPECT_EQ(cancelledFired, 0);
  EXPECT_EQ(everyFired, 3);
}

TEST(EventLoopTimers, ManyCancelledTimersDoNotAccumulate) {
  EventLoop loop(reactor::createPoller("auto"));
  int fired = 0;
  // Cancelled far-future timers never reach the heap's top, so lazy deletion alone would keep
  // every one of them: cancel() must compact the heap.
  size_t peak = 0;
  for (int i = 0; i < 10000; ++i) {
    loop.cancel(loop.runAfter(1h, [&] { ++fired; }));
    peak = std::max(peak, loop.timerHeapEntries());
  }
  EXPECT_LE(peak, 65u) << "stale heap entries piled up";
  // With live timers beside them, the stale ones are still bounded by the live count.
  std::vector<reactor::TimerId> live;
  for (int i = 0; i < 100; ++i) live.push_back(loop.runAfter(1h, [] {}));
  for (int i = 0; i < 10000; ++i) loop.cancel(loop.runAfter(2h, [&] { ++fired; }));
  EXPECT_LE(loop.timerHeapEntries(), 2 * live.size() + 1);
  for (reactor::TimerId id : live) loop.cancel(id);
  loop.runAfter(1ms, [&] { ++fired; });
  ASSERT_TRUE(runUntil(loop, [&] { return fired == 1; }));
  EXPECT_LE(loop.timerHeapEntries(), 65u);
}

TEST(EventLoopTimers, NoSpinWhileAShortTimerIsPending) {
  EventLoop loop(reactor::createPoller("auto"));
  bool fired = false;
  loop.runAfter(5ms, [&] { fired = true; });
  const uint64_t before = loop.stats().iterations;
  while (!fired) loop.runOnce(-1);
  // Timeouts are rounded up to whole ms: one wait (two if woken a hair early), never hundreds.
  EXPECT_LE(loop.stats().iterations - before, 3u);
}

TEST(EventLoopTimers, PeriodicTimerKeepsFiring) {
  EventLoop loop(reactor::createPoller("auto"));
  int n = 0;
  loop.runEvery(1ms, [&] { ++n; });
  ASSERT_TRUE(runUntil(loop, [&] { return n >= 5; }));
}

TEST(EventLoopPost, TasksFromManyThreadsAllRun) {
  EventLoop loop(reactor::createPoller("auto"));
  constexpr int kThreads = 4;
  constexpr int kTasks = 5000;
  int count = 0;  // touched only on the loop thread
  bool watchdog = false;
  loop.runAfter(20000ms, [&] {
    watchdog = true;
    loop.stop();
  });
  std::thread runner([&] { loop.run(); });
  std::vector<std::thread> posters;
  for (int t = 0; t < kThreads; ++t) {
    posters.emplace_back([&] {
      for (int i = 0; i < kTasks; ++i) loop.post([&] { ++count; });
    });
  }
  for (auto& t : posters) t.join();
  loop.post([&] { loop.stop(); });
  runner.join();
  EXPECT_FALSE(watchdog) << "posted tasks did not wake the loop";
  EXPECT_EQ(count, kThreads * kTasks);
}

TEST(EventLoopPost, PostAndDeferFromTheLoopThread) {
  EventLoop loop(reactor::createPoller("auto"));
  std::vector<int> order;
  loop.post([&] {
    order.push_back(1);
    loop.defer([&] { order.push_back(3); });
    loop.post([&] { order.push_back(4); });
    order.push_back(2);
  });
  ASSERT_TRUE(runUntil(
      loop, [&] { return order.size() == 4; }, 1000ms));
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3, 4}));
}

#ifdef __linux__
/// Waits until thread `tid` of this process is asleep in the kernel (state S in its stat), for
/// at most `limit`. The loop thread has nowhere else to sleep than its poller's wait.
bool waitUntilAsleep(pid_t tid, std::chrono::milliseconds limit = 10000ms) {
  const std::string path = "/proc/self/task/" + std::to_string(tid) + "/stat";
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream in(path);
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // "tid (comm) S ...": the state follows the last ')'.
    const size_t close = stat.rfind(')');
    if (close != std::string::npos && close + 2 < stat.size() && stat[close + 2] == 'S') {
      return true;
    }
    std::this_thread::yield();
  }
  return false;
}
#endif

/// Runs `loop` on a thread of its own and returns once that thread is blocked in the poller's
/// wait (on Linux; elsewhere once run() has started), so that what the caller does next must
/// wake it. A 10 s timer is a watchdog: it stops the loop and sets the flag if nothing else did.
std::thread runBlocked(EventLoop& loop, bool& watchdog) {
  loop.runAfter(10000ms, [&] {
    watchdog = true;
    loop.stop();
  });
  std::atomic<pid_t> tid{0};
  std::thread runner([&] {
    loop.post([&] { tid.store(static_cast<pid_t>(::gettid())); });
    loop.run();
  });
  const auto deadline = std::chrono::steady_clock::now() + 10000ms;
  while (tid.load() == 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
#ifdef __linux__
  EXPECT_TRUE(tid.load() != 0 && waitUntilAsleep(tid.load())) << "the loop never blocked";
#else
  EXPECT_NE(tid.load(), 0) << "the loop never ran";
#endif
  return runner;
}

TEST(EventLoopStop, FromAnotherThreadWakesABlockedRun) {
  EventLoop loop(reactor::createPoller("auto"));
  bool watchdog = false;
  std::thread runner = runBlocked(loop, watchdog);
  loop.stop();  // this thread is not the loop's: the wakeup descriptor must end the wait
  runner.join();
  EXPECT_FALSE(watchdog) << "stop() did not wake the blocked wait";
  EXPECT_TRUE(loop.stopped());
  // The posted tid task, the blocked wait that stop() ended, perhaps one spurious wake.
  EXPECT_LE(loop.stats().iterations, 4u);
}

TEST(EventLoopPost, FromAnotherThreadWakesABlockedRun) {
  EventLoop loop(reactor::createPoller("auto"));
  bool watchdog = false;
  std::thread runner = runBlocked(loop, watchdog);
  bool ran = false;
  loop.post([&] {
    ran = true;
    loop.stop();
  });
  runner.join();
  EXPECT_FALSE(watchdog) << "post() did not wake the blocked wait";
  EXPECT_TRUE(ran);
}

TEST(EventLoopStop, BeforeRunMakesRunReturnAtOnce) {
  EventLoop loop(reactor::createPoller("auto"));
  loop.stop();
  loop.run();
  EXPECT_TRUE(loop.stopped());
  EXPECT_EQ(loop.stats().iterations, 0u);
}

TEST(EventLoopSignals, SigtermWakesABlockedRun) {
  EventLoop loop(reactor::createPoller("auto"));
  std::atomic<int> got{0};
  loop.watchSignal(SIGTERM, [&](int signo) {
    got = signo;
    loop.stop();
  });
  bool watchdog = false;
  std::thread runner = runBlocked(loop, watchdog);
  ::kill(::getpid(), SIGTERM);
  runner.join();
  EXPECT_FALSE(watchdog);
  EXPECT_EQ(got.load(), SIGTERM);
}

// A raw handler on a pipe, to check batch safety without Connection in between.
struct PipeHandler final : reactor::IoHandler {
  reactor::UniqueFd readEnd, writeEnd;
  std::function<void()> onEvent;
  int events = 0;
  PipeHandler() {
    int fds[2];
    EXPECT_EQ(::pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
    readEnd.reset(fds[0]);
    writeEnd.reset(fds[1]);
  }
  void handleEvent(const reactor::Event&) override {
    ++events;
    if (onEvent) onEvent();
  }
};

TEST(EventLoopBatch, RemovedHandlerGetsNoFurtherEventOfTheBatch) {
  EventLoop loop(reactor::createPoller("auto"));
  auto a = std::make_unique<PipeHandler>();
  auto b = std::make_unique<PipeHandler>();
  ASSERT_FALSE(loop.add(a->readEnd.get(), reactor::Interest::kReadable, a.get()));
  ASSERT_FALSE(loop.add(b->readEnd.get(), reactor::Interest::kReadable, b.get()));
  // Whichever runs first removes the other and destroys it after the batch.
  PipeHandler* ptrs[2] = {a.get(), b.get()};
  std::unique_ptr<PipeHandler>* owners[2] = {&a, &b};
  for (int i = 0; i < 2; ++i) {
    ptrs[i]->onEvent = [&, i] {
      const int other = 1 - i;
      if (!*owners[other]) return;
      loop.remove((*owners[other])->readEnd.get());
      PipeHandler* doomed = owners[other]->release();
      loop.defer([doomed] { delete doomed; });
      char c;
      ASSERT_EQ(::read(ptrs[i]->readEnd.get(), &c, 1), 1);
    };
  }
  ASSERT_EQ(::write(a->writeEnd.get(), "x", 1), 1);
  ASSERT_EQ(::write(b->writeEnd.get(), "x", 1), 1);
  loop.runOnce(1000);
  // Exactly one survived and it ran once; the destroyed one was never called (ASan would tell).
  PipeHandler* survivor = a ? a.get() : b.get();
  EXPECT_TRUE(!a != !b);
  EXPECT_EQ(survivor->events, 1);
  loop.remove(survivor->readEnd.get());
}

// Interest changed mid-dispatch: the rest of the batch is masked with the new interest.
TEST(EventLoopBatch, InterestDroppedEarlierInTheBatchIsRespected) {
  EventLoop loop(reactor::createPoller("auto"));
  struct Side final : reactor::IoHandler {
    reactor::UniqueFd mine, peer;
    std::function<void()> onEvent;
    int writableEvents = 0;
    void handleEvent(const reactor::Event& ev) override {
      if (ev.writable()) ++writableEvents;
      if (onEvent) onEvent();
    }
  };
  Side a, b;
  for (Side* s : {&a, &b}) {
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    s->mine.reset(sv[0]);
    s->peer.reset(sv[1]);
    ASSERT_FALSE(loop.add(s->mine.get(), reactor::Interest::kWritable, s));
  }
  // Both are writable at once; whichever runs first takes write interest away from the other.
  bool first = true;
  a.onEvent = [&] {
    if (std::exchange(first, false)) {
      ASSERT_FALSE(loop.modify(b.mine.get(), reactor::Interest::kReadable, &b));
    }
  };
  b.onEvent = [&] {
    if (std::exchange(first, false)) {
      ASSERT_FALSE(loop.modify(a.mine.get(), reactor::Interest::kReadable, &a));
    }
  };
  loop.runOnce(1000);
  EXPECT_EQ(a.writableEvents + b.writableEvents, 1);
  loop.remove(a.mine.get());
  loop.remove(b.mine.get());
}

}  // namespace
