#include "reactor/log.h"

#include <unistd.h>

#include <string>

namespace reactor::log {
namespace {
std::atomic<int> gLevel{static_cast<int>(Level::kInfo)};
std::string gProgram = "reactor";
constexpr std::string_view kNames[] = {"error", "warn", "info", "debug"};
}  // namespace

void setLevel(Level l) { gLevel.store(static_cast<int>(l), std::memory_order_relaxed); }
Level level() { return static_cast<Level>(gLevel.load(std::memory_order_relaxed)); }

std::optional<Level> parseLevel(std::string_view name) {
  for (int i = 0; i < 4; ++i) {
    if (kNames[i] == name) return static_cast<Level>(i);
  }
  return std::nullopt;
}

void setProgramName(std::string_view name) { gProgram = name; }

void write(Level l, std::string_view message) {
  std::string line = fmt::format("{}: {}: {}\n", gProgram, kNames[static_cast<int>(l)], message);
  // One write per line so lines from several threads do not interleave; a failed write to
  // stderr has nowhere to be reported.
  ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
  (void)ignored;
}

bool RateLimitedLog::admit(uint64_t* suppressed) {
  const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::steady_clock::now().time_since_epoch())
                          .count();
  int64_t last = lastNs_.load(std::memory_order_relaxed);
  if (now - last < intervalNs_ ||
      !lastNs_.compare_exchange_strong(last, now, std::memory_order_relaxed)) {
    suppressed_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  *suppressed = suppressed_.exchange(0, std::memory_order_relaxed);
  return true;
}

}  // namespace reactor::log
