// One load-generating thread: an EventLoop with its share of the connections. It connects
// them (ramped), then drives traffic (closed loop: K in flight; open loop: messages scheduled
// at fixed intervals), verifies every byte that comes back, and records latencies.
//
// Thread contract: the constructor, start(), startTraffic(), stopSending() and finish() are
// called from the main thread; everything else runs on the worker's loop thread. counters()
// may be read from any thread at any time (racy snapshots for progress); the other results
// only after finish() returned.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "histogram.h"
#include "options.h"
#include "payload.h"
#include "reactor/address.h"
#include "reactor/event_loop.h"

namespace reactor::stress {

enum class ErrorKind : int {
  kRefused,
  kReset,
  kClosed,
  kConnectTimeout,
  kAnswerTimeout,
  kVerify,
  kOther
};
constexpr int kErrorKinds = 7;
/// "connect_timeout": the key in JSON; label() is the text summary's "connect timeout".
const char* toString(ErrorKind kind);
std::string label(ErrorKind kind);

/// Written by one loop thread only (plain load+store, no locked instruction), read racily.
struct Counters {
  std::atomic<uint64_t> connected{0};
  std::atomic<uint64_t> sent{0};      // counted messages fully written
  std::atomic<uint64_t> verified{0};  // counted messages fully received and checked
  std::atomic<uint64_t> bytesSent{0};
  std::atomic<uint64_t> bytesReceived{0};
  std::atomic<uint64_t> errors[kErrorKinds] = {};

  static void add(std::atomic<uint64_t>& c, uint64_t n) {
    c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  uint64_t errorTotal() const;
};

/// What every worker shares, fixed before the threads start (times before startTraffic()).
struct Plan {
  const Options* options = nullptr;
  std::vector<SockAddr> targets;  // what the host resolved to: tried in order until one connects
  const EchoPayload* echo = nullptr;
  const AppWorkload* app = nullptr;
  int64_t startNs = 0;    // traffic starts
  int64_t measureNs = 0;  // warm-up ends: messages started from here on are counted
  int64_t endNs = 0;      // duration mode: no new message after this; 0 otherwise
};

/// The main thread waits here for phases of all workers.
struct Rendezvous {
  std::mutex mutex;
  std::condition_variable changed;
  int settled = 0;   // workers whose connections are all up or failed
  int finished = 0;  // workers whose traffic is over
  void arrive(int Rendezvous::*counter);
};

int64_t nowNs();

class Worker {
 public:
  Worker(const Plan& plan, Rendezvous& rendezvous, std::vector<uint32_t> ids,
         std::unique_ptr<Poller> poller);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void start();
  void startTraffic();
  void stopSending();
  /// Closes every connection, stops the loop and joins the thread.
  void finish();

  const Counters& counters() const { return counters_; }
  const Histogram& histogram() const { return histogram_; }
  /// The first few detailed error messages of each kind.
  const std::vector<std::string>& errorDetails() const { return details_; }
  /// Loop thread CPU time over the traffic phase divided by its wall time.
  double busyFraction() const { return busy_; }
  /// When the last counted answer arrived (0 if traffic never ran).
  int64_t finishedNs() const { return finishedNs_; }
  size_t size() const { return ids_.size(); }
  const std::string& backendName() const { return backendName_; }

  class Conn;

 private:
  friend class Conn;
  void openMore();
  /// --connect-rate: seconds after the start at which connection `index` (of this worker) is
  /// opened; 0 without a rate.
  double scheduledStartS(size_t index) const;
  /// When the last connection of this worker is scheduled to open.
  int64_t rampEndNs() const;
  void onConnected(Conn& c);
  void onConnectFailed(Conn& c, int err);
  void settleIfDone();
  void beginTraffic();
  void tick();
  void checkTimeouts();
  void beginStop();
  void maybeFinish();
  void recordError(ErrorKind kind, std::string detail);

  const Plan& plan_;
  const Options& opt_;
  Rendezvous& rendezvous_;
  std::vector<uint32_t> ids_;
  EventLoop loop_;
  std::string backendName_;
  std::vector<std::unique_ptr<Conn>> conns_;
  std::vector<Conn*> active_;  // connected, in slot order (the open loop's round robin)
  std::vector<int64_t> ring_;  // per connection, `pipeline` start times
  std::vector<char> scratch_;
  std::vector<SockAddr> sources_;  // --source-addresses: 127.0.0.1, 127.0.0.2, ...
  std::thread thread_;
  Counters counters_;
  Histogram histogram_;
  std::vector<std::string> details_;
  int detailsOfKind_[kErrorKinds] = {};

  size_t nextToOpen_ = 0;
  size_t connecting_ = 0;
  size_t settledConns_ = 0;
  size_t upConns_ = 0;  // connected and not yet done or failed
  int64_t connectStartNs_ = 0;
  bool settled_ = false;
  bool trafficOn_ = false;
  bool stopping_ = false;
  bool finishedTraffic_ = false;
  TimerId rampTimer_ = 0;
  TimerId timeoutTimer_ = 0;
  TimerId tickTimer_ = 0;
  uint64_t nextSlot_ = 0;  // open loop: next scheduled message (global to this worker)
  double intervalNs_ = 0;  // open loop: between two messages of this worker
  int64_t cpuStartNs_ = 0;
  int64_t wallStartNs_ = 0;
  double busy_ = 0;
  int64_t finishedNs_ = 0;
};

}  // namespace reactor::stress
