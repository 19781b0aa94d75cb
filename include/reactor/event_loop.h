// EventLoop: one thread's reactor. Waits on a Poller, dispatches readiness to the IoHandler
// registered for each descriptor, runs timers, and runs tasks posted from other threads.
//
// Thread contract: everything is loop-thread only, except post() and stop(), which any thread
// may call (both wake a loop blocked in its wait); the loop must outlive such a call (destroy it
// after joining its thread, never on that thread while others may still stop or post). A handler
// removed (or an object destroyed through defer()) during a batch gets no further event of that
// batch.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <system_error>
#include <vector>

#include "reactor/fd.h"
#include "reactor/poller.h"

namespace reactor {

using Clock = std::chrono::steady_clock;

/// Receives the readiness of one descriptor. The event's flags are already masked with the
/// current interest; hang-up and error are hints.
class IoHandler {
 public:
  virtual void handleEvent(const Event& event) = 0;

 protected:
  ~IoHandler() = default;
};

/// Identifies a timer for cancel(). 0 is never a valid id.
using TimerId = uint64_t;

/// Counters for observability (loop thread writes, others may read racily for statistics).
struct LoopStats {
  uint64_t iterations = 0;  // completed waits
  uint64_t events = 0;      // events dispatched
};

class EventLoop {
 public:
  /// Takes a poller (createPoller(name)). Ignores SIGPIPE process-wide (once).
  explicit EventLoop(std::unique_ptr<Poller> poller);
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  /// Runs until stop(). Must be called from one thread, which becomes the loop thread.
  void run();
  /// One iteration: waits at most timeoutMs (bounded further by timers and pending tasks),
  /// dispatches, runs due timers and deferred/posted tasks. For tests and embedding.
  void runOnce(int timeoutMs);
  /// Makes run() return after the current iteration. Any thread.
  void stop();
  bool stopped() const;

  /// Runs task on the loop thread soon (at the end of the current or next iteration); wakes
  /// the loop. Any thread.
  void post(std::function<void()> task);
  /// Runs task on the loop thread after the current batch has been dispatched (muduo's
  /// queueInLoop): the place to destroy objects that may still have events in the batch.
  /// Loop thread only; does not allocate for a task of one pointer.
  void defer(std::function<void()> task);

  /// Registers a descriptor with its handler (the token is the handler's address).
  std::error_code add(int fd, Interest interest, IoHandler* handler);
  std::error_code modify(int fd, Interest interest, IoHandler* handler);
  /// Deregisters fd; no event still in the current batch reaches its handler.
  void remove(int fd);

  /// Timers: a min-heap on (deadline, sequence) so equal deadlines fire in insertion order.
  /// The wait timeout is rounded up to whole milliseconds (no spin on a 0.3 ms timer).
  /// Cancel from inside any callback, including the timer's own, is safe.
  TimerId runAfter(std::chrono::milliseconds delay, std::function<void()> callback);
  TimerId runEvery(std::chrono::milliseconds interval, std::function<void()> callback);
  void cancel(TimerId id);

  /// Delivers SIGINT/SIGTERM/SIGUSR1 (or any signal) into this loop: the async handler only
  /// writes the signal number to a pipe; callback runs on the loop thread. One loop per
  /// process should watch a given signal.
  void watchSignal(int signo, std::function<void(int)> callback);

  /// The time read right after the latest wait returned: what timers and idle sweeps of this
  /// iteration compare against (not updated while the batch is dispatched).
  Clock::time_point now() const { return now_; }
  /// Timer heap entries, live and cancelled-but-not-yet-dropped: observability, and the bound
  /// that cancel()'s compaction keeps (at most about twice the live timers, plus 64).
  size_t timerHeapEntries() const;
  Poller& poller() { return *poller_; }
  const LoopStats& stats() const { return stats_; }
  bool inLoopThread() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::unique_ptr<Poller> poller_;
  Clock::time_point now_;
  LoopStats stats_;
};

/// Ignores SIGPIPE for the whole process (idempotent). EventLoop's constructor calls it.
void ignoreSigpipe();

}  // namespace reactor
