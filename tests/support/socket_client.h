// Raw-socket test client, written independently of the reactor library (so a bug shared by the
// library and its tests cannot hide). Every socket is non-blocking; every wait is a poll() with a
// deadline, so no test can hang on a silent server.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace testsupport {

using Millis = std::chrono::milliseconds;
inline constexpr Millis kDefaultTimeout{5000};

/// Owns one descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) reset(std::exchange(other.fd_, -1));
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }

  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

/// Connects to host:port (numeric IPv4/IPv6), optionally from a source address (port 0), and
/// waits at most `timeout`. Returns the connected non-blocking socket, or an invalid Fd with
/// *error set to the errno (ETIMEDOUT on timeout) when error is given. Throws
/// std::runtime_error naming the address and reason when error is null.
Fd connectTcp(const std::string& host, uint16_t port, Millis timeout = kDefaultTimeout,
              const std::string& source = {}, int* error = nullptr);

/// Sends everything before the deadline. Returns 0, or the errno (ETIMEDOUT on timeout).
int sendAll(int fd, std::string_view data, Millis timeout = kDefaultTimeout);

enum class RecvStatus { kOk, kEof, kTimeout, kError };
const char* toString(RecvStatus status);

struct RecvResult {
  RecvStatus status = RecvStatus::kOk;
  int error = 0;     // errno when kError (ECONNRESET, ...)
  std::string data;  // what arrived, complete or not
  bool ok() const { return status == RecvStatus::kOk; }
};

/// Receives exactly n bytes before the deadline (kOk), or reports what stopped it.
RecvResult recvExactly(int fd, size_t n, Millis timeout = kDefaultTimeout);
/// Receives until EOF (kEof, with everything read) or reset/error/timeout/maxBytes.
RecvResult readUntilEof(int fd, Millis timeout = kDefaultTimeout, size_t maxBytes = 64 << 20);
/// Waits until the peer closes (EOF or reset), discarding data. True if it closed in time.
bool waitForClose(int fd, Millis timeout = kDefaultTimeout);
/// True if nothing arrives and the connection stays open for `wait`.
bool staysQuiet(int fd, Millis wait);

/// Waits until the peer closes or resets the connection without reading anything (so no byte
/// moves): POLLHUP / POLLERR / POLLRDHUP. True if it happened in time.
bool waitForHangup(int fd, Millis timeout = kDefaultTimeout);

/// Waits until poll() reports one of `events` on fd, or POLLERR/POLLHUP (which poll reports
/// unasked; events 0 waits for those alone). Returns the revents, 0 when the time is up. Reads
/// nothing, so it can watch a socket another owner reads (the server side of a connection).
short waitForPoll(int fd, short events, Millis timeout = kDefaultTimeout);

/// Waits until at least `bytes` are queued for reading on socket fd (FIONREAD), without reading
/// them. True if that happened in time.
bool waitForQueued(int fd, size_t bytes, Millis timeout = kDefaultTimeout);

/// shutdown(SHUT_WR): our half-close.
void shutdownWrite(int fd);
/// Closes with SO_LINGER 0: an RST instead of FIN, so no TIME_WAIT piles up on our side.
void closeWithReset(Fd& fd);

/// Sets SO_RCVBUF. Shrinking it far below the window already advertised (e.g. to 4 KiB after
/// connect) makes loopback TCP drop segments and stall in retransmission timeouts.
void setReceiveBuffer(int fd, int bytes);

/// Raises this process's soft RLIMIT_NOFILE to at least `wanted` (up to the hard limit) and
/// returns the soft limit now in effect.
unsigned long raiseFileLimit(unsigned long wanted);

/// "127.0.0.X" for i spread over 127.0.0.2 .. 127.255.255.254 (distinct source addresses).
std::string loopbackSource(size_t i);

}  // namespace testsupport
