// Connection: one non-blocking TCP socket with its own read and write buffers.
//
// Reads: on readiness, one read() into the loop thread's 64 KiB scratch buffer, lent to a
// connection whose input buffer is empty (a connection that kept a tail reads into its own
// buffer, with readv and a 64 KiB stack spill), up to a per-event budget so a firehose client
// cannot starve others. The handler's onMessage() consumes whole messages where they landed;
// only an incomplete tail is copied into the connection's input buffer. Writes: send() writes
// straight to the socket when nothing is queued; only what the kernel did not take is buffered, and
// write interest is held only until the buffer drains. Past the high-water mark of unsent bytes,
// reading pauses until the output drains under the low-water mark.
//
// Lifetime: a Connection is created with `new` by its owner (TcpServer or a client) and then
// owns itself. close() is idempotent: it deregisters and closes the socket at once, calls
// ConnectionHandler::onClose() exactly once, and deletes the object after the current batch
// (EventLoop::defer), so no callback ever reaches a freed connection.
// Loop-thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "reactor/buffer.h"
#include "reactor/event_loop.h"
#include "reactor/fd.h"

namespace reactor {

class Connection;

enum class CloseReason : uint8_t {
  kLocal,       // close() called by the owner or protocol
  kPeerClosed,  // orderly: EOF seen and our output flushed
  kReset,       // ECONNRESET / EPIPE
  kError,       // another socket error
  kIdle,        // idle timeout (set by the owner)
};
const char* toString(CloseReason reason);

/// The protocol side of a connection (echo, app, a client). Shared or per-connection: the
/// owner decides; the connection only holds a pointer.
class ConnectionHandler {
 public:
  virtual ~ConnectionHandler() = default;
  /// New bytes were appended to `input`; consume (retrieve) what forms complete messages.
  /// `input` may be a per-thread buffer lent for this call (so a message that arrives whole
  /// costs no allocation): use it, not conn.input(); what is left is kept for the next call.
  virtual void onMessage(Connection& conn, Buffer& input) = 0;
  /// The peer shut down its write side (EOF). Default: finish writing what is pending, then
  /// shut down our side and close (conn.shutdownAfterWrite()).
  virtual void onPeerShutdown(Connection& conn);
  /// The output buffer drained completely after a short write.
  virtual void onWriteComplete(Connection& /*conn*/) {}
  /// Exactly once, when the connection closes for any reason. The socket is already closed.
  virtual void onClose(Connection& /*conn*/, CloseReason /*reason*/) {}
};

/// Per-connection limits, shared by all connections of an owner (held by pointer).
struct ConnectionOptions {
  size_t highWaterMark = 1 << 20;       // unsent bytes above which reading pauses
  size_t lowWaterMark = 256 * 1024;     // reading resumes when unsent bytes fall to this
  size_t readBudgetBytes = 256 * 1024;  // bytes read per readiness before yielding
};

class Connection final : public IoHandler {
 public:
  /// Takes a connected non-blocking socket; registers it for reading. On registration failure
  /// (select's FD_SETSIZE, ...) returns nullptr with `error` set; the socket is closed.
  static Connection* create(EventLoop& loop, UniqueFd socket, ConnectionHandler* handler,
                            const ConnectionOptions* options, std::error_code& error);

  /// Sends bytes: straight to the socket if nothing is queued, the rest buffered. Does
  /// nothing once closing. Returns false if the connection is (now) closed.
  bool send(const void* data, size_t n);
  bool send(std::string_view s) { return send(s.data(), s.size()); }
  /// Sends and consumes everything readable in buf.
  bool send(Buffer& buf);

  /// Shuts down the write side once pending output is written, then closes when the peer's
  /// EOF has also been seen (or at once if it was).
  void shutdownAfterWrite();
  /// Closes now (pending output is dropped). Idempotent.
  void close(CloseReason reason = CloseReason::kLocal);

  int fd() const { return fd_.get(); }
  bool closed() const { return (state_ & kClosed) != 0; }
  bool readPaused() const { return (state_ & kReadPaused) != 0; }
  /// The unconsumed tail of earlier reads (outside onMessage, which gets the buffer to use).
  Buffer& input() { return input_; }
  size_t pendingOutput() const { return output_.readableBytes(); }
  EventLoop& loop() const { return *loop_; }
  ConnectionHandler* handler() const { return handler_; }
  void setHandler(ConnectionHandler* handler) { handler_ = handler; }

  /// When a byte last moved in either direction (for idle timeouts).
  Clock::time_point lastActivity() const { return lastActivity_; }

  uint64_t bytesIn() const { return bytesIn_; }
  uint64_t bytesOut() const { return bytesOut_; }

  void handleEvent(const Event& event) override;

 private:
  Connection(EventLoop& loop, UniqueFd socket, ConnectionHandler* handler,
             const ConnectionOptions* options);
  ~Connection();

  static constexpr uint8_t interestMask(uint8_t state) {
    uint8_t mask = 0;
    if ((state & (kReadPaused | kPeerShutdown)) == 0) mask |= Event::kReadable;
    if ((state & kWantWrite) != 0) mask |= Event::kWritable;
    return mask;
  }
  void setState(uint8_t set, uint8_t clear);  // and registers the interest that follows
  void traceStateChange(uint8_t old) const;
  // The hot path, instantiated with and without the trace (see handleEvent).
  template <bool kTrace>
  void handleEventAs(const Event& event);
  template <bool kTrace>
  void handleReadAs();
  template <bool kTrace>
  bool sendAs(const void* data, size_t n);
  void handleWrite();
  void shutdownWrite();
  void closeOnSocketError();

  static constexpr uint8_t kClosed = 1;
  static constexpr uint8_t kReadPaused = 2;
  static constexpr uint8_t kWantWrite = 4;  // write interest registered
  static constexpr uint8_t kShutdownAfterWrite = 8;
  static constexpr uint8_t kPeerShutdown = 16;  // EOF seen
  static constexpr uint8_t kWriteShut = 32;     // shutdown(SHUT_WR) done

  // Layout: what every echoed message touches comes first (96 bytes with the vtable pointer,
  // up to input_; two cache lines, three when malloc's 16-byte alignment straddles one); the
  // output buffer and list hooks, used only on a short write or by the owner's idle sweep, come
  // last (136 bytes in all on LP64). At 10,000 busy connections the objects no longer fit the
  // cache, and each line not touched is a miss saved. tests/net/connection_layout_test.cpp
  // holds these numbers.
  friend struct ConnectionLayoutProbe;
  UniqueFd fd_;
  uint8_t state_ = 0;
  EventLoop* loop_;
  ConnectionHandler* handler_;

 public:
  /// Free for the owner: an index, a pointer to per-connection protocol state, ...
  void* context = nullptr;

 private:
  const ConnectionOptions* options_;
  Clock::time_point lastActivity_;
  uint64_t bytesIn_ = 0;
  uint64_t bytesOut_ = 0;
  Buffer input_;
  Buffer output_;

 public:
  /// Intrusive list hooks for the owner's idle (LRU) list.
  Connection* prev = nullptr;
  Connection* next = nullptr;
};

}  // namespace reactor
