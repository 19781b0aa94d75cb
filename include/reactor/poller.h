// Poller: one readiness-notification interface over epoll, kqueue, poll and select.
//
// Shape after mio: add / modify / remove a descriptor with a caller-chosen token and an
// Interest, then wait() into a caller-owned batch. Level-triggered on every backend.
// The poller owns no descriptors. Not thread-safe: one poller belongs to one loop thread.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace reactor {

/// What a registration waits for. Never empty: to stop watching, call Poller::remove().
enum class Interest : uint8_t { kReadable = 1, kWritable = 2, kBoth = 3 };

constexpr Interest operator|(Interest a, Interest b) {
  return static_cast<Interest>(static_cast<uint8_t>(a) | static_cast<uint8_t>(b));
}
constexpr bool wantsRead(Interest i) { return (static_cast<uint8_t>(i) & 1) != 0; }
constexpr bool wantsWrite(Interest i) { return (static_cast<uint8_t>(i) & 2) != 0; }

/// One ready descriptor. Hang-up and error are hints: confirm with read()/write(). select()
/// cannot report them at all (a hang-up or an error shows there as readable only).
struct Event {
  static constexpr uint8_t kReadable = 1;
  static constexpr uint8_t kWritable = 2;
  static constexpr uint8_t kHangup = 4;  // peer closed or shut down its write side
  static constexpr uint8_t kError = 8;   // pending socket error (read SO_ERROR or recv to learn it)

  uint64_t token = 0;
  int fd = -1;
  uint8_t flags = 0;  // 0 = invalidated (removed or masked during dispatch): skip it

  bool readable() const { return (flags & kReadable) != 0; }
  bool writable() const { return (flags & kWritable) != 0; }
  bool hangup() const { return (flags & kHangup) != 0; }
  bool error() const { return (flags & kError) != 0; }
};

/// The backend interface. Public calls are non-virtual and keep the batch consistent:
/// after remove(fd) no event for fd that is still in the current batch is reported
/// (its flags become 0), and after modify(fd, i) the remaining events for fd are masked to i
/// (libuv's uv__platform_invalidate_fd, done for every backend in one place).
class Poller {
 public:
  virtual ~Poller() = default;
  Poller(const Poller&) = delete;
  Poller& operator=(const Poller&) = delete;

  /// Registers fd. Errors, the same on every backend: std::errc::file_exists when fd is
  /// registered already, std::errc::bad_file_descriptor when fd is not open, and on select
  /// std::errc::value_too_large for fd >= FD_SETSIZE (close that one descriptor and go on).
  std::error_code add(int fd, uint64_t token, Interest interest);
  /// Changes the interest (and token) of a registered fd. std::errc::no_such_file_or_directory
  /// when fd is not registered.
  std::error_code modify(int fd, uint64_t token, Interest interest);
  /// Deregisters fd (no_such_file_or_directory when it is not registered). Call before close(fd):
  /// poll, select and kqueue keep the registration of a descriptor closed without remove().
  std::error_code remove(int fd);

  /// Waits up to timeoutMs (-1 forever, 0 don't block) and fills the front of `batch`.
  /// Returns the number of events filled, or a negative errno on failure. EINTR is retried
  /// internally with the time that remains (monotonic clock).
  int wait(std::span<Event> batch, int timeoutMs);

  /// "epoll", "kqueue", "poll" or "select".
  virtual std::string_view name() const = 0;

 protected:
  Poller() = default;
  virtual std::error_code doAdd(int fd, uint64_t token, Interest interest) = 0;
  virtual std::error_code doModify(int fd, uint64_t token, Interest interest) = 0;
  virtual std::error_code doRemove(int fd) = 0;
  /// One wait, no EINTR retry: returns count >= 0 or -errno.
  virtual int doWait(std::span<Event> batch, int timeoutMs) = 0;

 private:
  void maskPending(int fd, uint8_t keep);
  // Calls fn(event) for each event of fd in the current batch.
  template <typename Fn>
  void forEachPending(int fd, Fn fn);
  void indexPending();

  Event* pending_ = nullptr;  // the batch of the last wait(), valid until the next wait()
  int pendingCount_ = 0;
  // A batch-wide fd -> slots index, built on the batch's first remove()/modify() when the batch
  // is large, so closing many connections in one batch costs O(batch), not O(batch) per close.
  // An entry counts only when its batch number is the current one: nothing is reset per wait.
  struct SlotHead {
    uint64_t batch = 0;
    int slot = -1;
  };
  std::vector<SlotHead> slotHead_;  // by fd: first slot of fd in the batch
  std::vector<int> slotNext_;       // by slot: next slot of the same fd (kqueue reports a
                                    // descriptor once per filter), or -1
  uint64_t batchNumber_ = 0;
  bool indexed_ = false;
};

/// The backends this build has, best first (epoll, kqueue, poll, select order).
std::vector<std::string_view> availableBackends();

/// Thrown by createPoller() for an unknown or unbuilt name. what() names the value and
/// lists the available backends.
class UnknownBackend : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

/// Creates a backend by name. "auto" picks the best backend of this build; the environment
/// variable REACTOR_BACKEND, when set, overrides what "auto" means (for running the test suite
/// once per backend). Throws UnknownBackend, or std::system_error if the OS refuses.
std::unique_ptr<Poller> createPoller(std::string_view name = "auto");

}  // namespace reactor
