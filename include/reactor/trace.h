// The reactor's trace (reactor-server --trace): one line on stderr per step the reactor takes
// (accept, readiness, each read with a preview of its bytes, what is buffered, each write and
// what stays queued, interest changes, pauses, close and its reason), so that a learner can
// watch a recv() return b'H' and the server wait for the rest.
//
// Cost when off: every call site is `if (trace::enabled()) trace::line(...)`, one load of a
// global and a branch marked unlikely to a cold, out-of-line call; nothing is formatted. The flag
// is set once, by enable(), before any loop thread starts, and never changes afterwards, so reading
// it from every thread needs no atomic.
#pragma once

#include <fmt/format.h>

#include <cstddef>
#include <string>
#include <string_view>

namespace reactor::trace {

namespace detail {
extern bool gEnabled;
void write(int fd, std::string_view message);
}  // namespace detail

inline bool enabled() { return __builtin_expect(detail::gEnabled, false); }
/// Turns the trace on (start-up only, before loop threads exist); timestamps count from here.
void enable();
/// The loop a thread's lines name ("loop 0" by default): set on each loop thread.
void setLoopIndex(unsigned index);

/// Writes "trace SECONDS loop N fd FD: message" on stderr in one write(2). Call only when
/// enabled(): the check stays at the call site so that nothing is formatted when off.
/// Cold and out of line: the formatting code stays off the hot path's instructions and
/// registers (inlined, it cost the echo path 38 instructions per message with the trace off).
template <typename... Args>
[[gnu::cold, gnu::noinline]] void line(int fd, fmt::format_string<Args...> f, Args&&... args) {
  detail::write(fd, fmt::format(f, std::forward<Args>(args)...));
}

/// Python's repr() of a bytes object: b'H', b'a\nb', b"it's", b'\xff'. Past `limit` input
/// bytes the rest is left out and "..." follows the closing quote.
std::string bytesRepr(std::string_view bytes, size_t limit = std::string_view::npos);

/// "readable", "readable hangup", ... for Event flags.
std::string eventNames(unsigned flags);

}  // namespace reactor::trace
