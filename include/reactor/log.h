// Logging with levels through fmt, on stderr. Warnings that a client can trigger at will
// (refused connections, EMFILE) go through RateLimitedLog so a flood cannot flood the log.
// Thread-safe (one write(2) per line).
#pragma once

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace reactor::log {

enum class Level : int { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3 };

void setLevel(Level level);
Level level();
/// "error", "warn", "info", "debug" -> Level; nullopt otherwise.
std::optional<Level> parseLevel(std::string_view name);

/// Writes "reactor-server: warn: message\n"-style lines; the program name is set once.
void setProgramName(std::string_view name);
void write(Level level, std::string_view message);

template <typename... Args>
void error(fmt::format_string<Args...> f, Args&&... args) {
  if (level() >= Level::kError) write(Level::kError, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void warn(fmt::format_string<Args...> f, Args&&... args) {
  if (level() >= Level::kWarn) write(Level::kWarn, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void info(fmt::format_string<Args...> f, Args&&... args) {
  if (level() >= Level::kInfo) write(Level::kInfo, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void debug(fmt::format_string<Args...> f, Args&&... args) {
  if (level() >= Level::kDebug) write(Level::kDebug, fmt::format(f, std::forward<Args>(args)...));
}

/// At most one line per interval; the next line that passes says how many were suppressed.
class RateLimitedLog {
 public:
  explicit RateLimitedLog(std::chrono::milliseconds interval = std::chrono::seconds(1))
      : intervalNs_(std::chrono::duration_cast<std::chrono::nanoseconds>(interval).count()) {}

  template <typename... Args>
  void warn(fmt::format_string<Args...> f, Args&&... args) {
    if (level() < Level::kWarn) return;
    uint64_t suppressed = 0;
    if (!admit(&suppressed)) return;
    std::string line = fmt::format(f, std::forward<Args>(args)...);
    if (suppressed > 0) line += fmt::format(" ({} similar suppressed)", suppressed);
    write(Level::kWarn, line);
  }

 private:
  bool admit(uint64_t* suppressed);

  int64_t intervalNs_;
  std::atomic<int64_t> lastNs_{INT64_MIN / 2};
  std::atomic<uint64_t> suppressed_{0};
};

}  // namespace reactor::log
