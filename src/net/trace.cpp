#include "reactor/trace.h"

#include <unistd.h>

#include <chrono>

#include "reactor/poller.h"

namespace reactor::trace {

namespace detail {
bool gEnabled = false;
}  // namespace detail

namespace {
std::chrono::steady_clock::time_point gStart;
thread_local unsigned tLoopIndex = 0;
}  // namespace

void enable() {
  gStart = std::chrono::steady_clock::now();
  detail::gEnabled = true;
}

void setLoopIndex(unsigned index) { tLoopIndex = index; }

void detail::write(int fd, std::string_view message) {
  const auto elapsed = std::chrono::duration_cast<std::chrono::microseconds>(
                           std::chrono::steady_clock::now() - gStart)
                           .count();
  const std::string text = fmt::format("trace {}.{:06} loop {} fd {}: {}\n", elapsed / 1000000,
                                       elapsed % 1000000, tLoopIndex, fd, message);
  // One write per line so that the lines of several loop threads do not interleave; a failed
  // write to stderr has nowhere to be reported.
  ssize_t ignored = ::write(STDERR_FILENO, text.data(), text.size());
  (void)ignored;
}

std::string bytesRepr(std::string_view bytes, size_t limit) {
  const bool cut = bytes.size() > limit;
  if (cut) bytes = bytes.substr(0, limit);
  // Python prefers single quotes, and switches to double ones to avoid escaping a quote.
  const bool doubleQuote =
      bytes.find('\'') != std::string_view::npos && bytes.find('"') == std::string_view::npos;
  const char q = doubleQuote ? '"' : '\'';
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "b";
  out += q;
  for (const char c : bytes) {
    const auto u = static_cast<unsigned char>(c);
    if (c == q || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (u < 0x20 || u >= 0x7f) {
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 15];
    } else {
      out += c;
    }
  }
  out += q;
  if (cut) out += "...";
  return out;
}

std::string eventNames(unsigned flags) {
  std::string out;
  const auto add = [&out](const char* name) {
    if (!out.empty()) out += ' ';
    out += name;
  };
  if ((flags & Event::kReadable) != 0) add("readable");
  if ((flags & Event::kWritable) != 0) add("writable");
  if ((flags & Event::kHangup) != 0) add("hangup");
  if ((flags & Event::kError) != 0) add("error");
  return out;
}

}  // namespace reactor::trace
