#include "reactor/connection.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "reactor/io.h"
#include "reactor/trace.h"

namespace reactor {

// Bytes of each read shown in the trace's preview.
constexpr size_t kTracePreview = 32;

const char* toString(CloseReason reason) {
  switch (reason) {
    case CloseReason::kLocal:
      return "local";
    case CloseReason::kPeerClosed:
      return "peer closed";
    case CloseReason::kReset:
      return "reset";
    case CloseReason::kError:
      return "error";
    case CloseReason::kIdle:
      return "idle";
  }
  return "unknown";
}

void ConnectionHandler::onPeerShutdown(Connection& conn) { conn.shutdownAfterWrite(); }

Connection* Connection::create(EventLoop& loop, UniqueFd socket, ConnectionHandler* handler,
                               const ConnectionOptions* options, std::error_code& error) {
  auto* conn = new Connection(loop, std::move(socket), handler, options);
  error = loop.add(conn->fd(), Interest::kReadable, conn);
  if (error) {
    delete conn;
    return nullptr;
  }
  return conn;
}

Connection::Connection(EventLoop& loop, UniqueFd socket, ConnectionHandler* handler,
                       const ConnectionOptions* options)
    : fd_(std::move(socket)),
      loop_(&loop),
      handler_(handler),
      options_(options),
      lastActivity_(loop.now()) {}

Connection::~Connection() = default;

void Connection::setState(uint8_t set, uint8_t clear) {
  const uint8_t before = interestMask(state_);
  const uint8_t old = state_;
  state_ = static_cast<uint8_t>((state_ | set) & ~clear);
  const uint8_t after = interestMask(state_);
  if (trace::enabled()) traceStateChange(old);
  if (before == after || closed()) return;
  // Interest changes only on a short write, a drain, a pause or an EOF: never per message.
  std::error_code ec;
  if (after == 0) {
    // Nothing to wait for (EOF seen, output drained): deregister instead of an empty interest,
    // which level-triggered backends would report as hang-up forever.
    loop_->remove(fd());
  } else if (before == 0) {
    ec = loop_->add(fd(), static_cast<Interest>(after), this);
  } else {
    ec = loop_->modify(fd(), static_cast<Interest>(after), this);
  }
  if (ec) close(CloseReason::kError);
}

void Connection::traceStateChange(uint8_t old) const {
  const uint8_t changed = old ^ state_;
  if ((changed & kWantWrite) != 0) {
    trace::line(fd(), "write interest {}",
                (state_ & kWantWrite) != 0 ? "on: wait until the socket is writable"
                                           : "off: output drained");
  }
  if ((changed & kReadPaused) != 0 && (state_ & kReadPaused) != 0) {
    trace::line(fd(), "reading paused: {} bytes unsent, over the high-water mark ({})",
                output_.readableBytes(), options_->highWaterMark);
  } else if ((changed & kReadPaused) != 0) {
    trace::line(fd(), "reading resumed: {} bytes unsent, down to the low-water mark ({})",
                output_.readableBytes(), options_->lowWaterMark);
  }
  if ((changed & kPeerShutdown) != 0) trace::line(fd(), "read interest off: end of stream seen");
}

template <bool kTrace>
void Connection::handleEventAs(const Event& event) {
  if (closed()) return;
  if (kTrace) trace::line(fd(), "ready: {}", trace::eventNames(event.flags));
  constexpr uint8_t kReadTriggers = Event::kReadable | Event::kHangup | Event::kError;
  if ((interestMask(state_) & Event::kReadable) != 0 && (event.flags & kReadTriggers) != 0) {
    handleReadAs<kTrace>();
    if (closed()) return;
  }
  // Hang-up and error with write interest: the write itself reports EPIPE / the error.
  if ((state_ & kWantWrite) != 0 &&
      (event.flags & (Event::kWritable | Event::kHangup | Event::kError)) != 0) {
    handleWrite();
    return;
  }
  if (event.error() && interestMask(state_) == 0) closeOnSocketError();
}

// With the trace off, the instantiations below carry no trace code at all: one check per event
// (and per send) picks the copy, instead of a check at every step of the hot path.
void Connection::handleEvent(const Event& event) {
  if (trace::enabled()) {
    handleEventAs<true>(event);
  } else {
    handleEventAs<false>(event);
  }
}

namespace {

// One read buffer per loop thread, lent to a connection whose own input is empty: a message that
// arrives whole is read, handled and consumed there, so the common case allocates nothing and an
// idle connection still holds no buffer. Only an incomplete tail moves into the connection.
struct ReadScratch {
  Buffer buffer;
  bool lent = false;  // a handler re-entering handleRead of another connection reads its own
};
thread_local ReadScratch tReadScratch;

class ScratchLease {
 public:
  explicit ScratchLease(const Buffer& own) {
    ReadScratch& scratch = tReadScratch;
    if (!own.empty() || scratch.lent) return;
    scratch.lent = true;
    // Allocated once per thread: retrieveAll() keeps the storage.
    if (scratch.buffer.writableBytes() < Buffer::kSpill)
      scratch.buffer.ensureWritable(Buffer::kSpill);
    scratch_ = &scratch;
  }
  ~ScratchLease() {
    if (scratch_ == nullptr) return;
    scratch_->buffer.retrieveAll();
    scratch_->lent = false;
  }
  ScratchLease(const ScratchLease&) = delete;
  ScratchLease& operator=(const ScratchLease&) = delete;

  Buffer* buffer() const { return scratch_ != nullptr ? &scratch_->buffer : nullptr; }

 private:
  ReadScratch* scratch_ = nullptr;
};

}  // namespace

template <bool kTrace>
void Connection::handleReadAs() {
  ScratchLease lease(input_);
  const bool borrowed = lease.buffer() != nullptr;
  Buffer& in = borrowed ? *lease.buffer() : input_;
  const size_t budget = options_->readBudgetBytes;
  size_t total = 0;
  bool eof = false;
  while (total < budget) {
    // The loop's scratch buffer has room enough to read into directly (one read(), no iovec);
    // a connection's own buffer reads with the stack spill, so it grows only by what arrived.
    const size_t room = borrowed && in.writableBytes() > 0 ? in.writableBytes()
                                                           : in.writableBytes() + Buffer::kSpill;
    const size_t offered = std::min(budget - total, room);
    int err = 0;
    const ssize_t n = in.readFd(fd(), &err, offered);
    if (n > 0) {
      total += static_cast<size_t>(n);
      if (kTrace) {
        const std::string_view got(in.peek() + in.readableBytes() - n, static_cast<size_t>(n));
        trace::line(fd(), "read {} bytes: {}", n, trace::bytesRepr(got, kTracePreview));
      }
      // A short read drained the socket: reading again would only return EAGAIN.
      if (static_cast<size_t>(n) < offered) break;
      continue;
    }
    if (n == 0) {
      if (kTrace) trace::line(fd(), "read 0 bytes: the peer shut down its sending side");
      eof = true;
      break;
    }
    if (err == EINTR) continue;
    if (err == EAGAIN || err == EWOULDBLOCK) {
      if (kTrace) trace::line(fd(), "read: EAGAIN, nothing more for now");
      break;
    }
    if (kTrace) trace::line(fd(), "read: {}", std::strerror(err));
    close(err == ECONNRESET ? CloseReason::kReset : CloseReason::kError);
    return;
  }
  if (kTrace && total >= budget) {
    trace::line(fd(), "read budget ({} bytes) used up: the rest waits for the next wait", budget);
  }
  if (total > 0) {
    bytesIn_ += total;
    lastActivity_ = loop_->now();
    if (kTrace) {
      trace::line(fd(), "{} bytes buffered ({} new), handed to the protocol", in.readableBytes(),
                  total);
    }
    if (handler_ != nullptr) handler_->onMessage(*this, in);
    if (closed()) return;
    if (kTrace) {
      if (in.empty()) {
        trace::line(fd(), "protocol consumed everything: no partial message kept");
      } else {
        trace::line(fd(), "protocol left {} bytes: a message not complete yet", in.readableBytes());
      }
    }
    if (borrowed && !in.empty()) input_.append(in.peek(), in.readableBytes());
  }
  if (eof) {
    setState(kPeerShutdown, 0);
    if (closed()) return;
    if (handler_ != nullptr) handler_->onPeerShutdown(*this);
    if (closed()) return;
    // Our side was already shut down: both directions are finished.
    if ((state_ & kWriteShut) != 0) {
      close(CloseReason::kPeerClosed);
      return;
    }
  }
  input_.releaseIfEmpty();
}

void Connection::handleWrite() {
  const ssize_t n = io::write(fd(), output_.peek(), output_.readableBytes());
  if (n < 0) {
    if (trace::enabled()) trace::line(fd(), "write: {}", std::strerror(errno));
    // EINTR / EAGAIN: level-triggered, the next writable event retries.
    if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) return;
    close(errno == EPIPE || errno == ECONNRESET ? CloseReason::kReset : CloseReason::kError);
    return;
  }
  if (trace::enabled()) {
    trace::line(fd(), "sent {} of {} queued bytes", n, output_.readableBytes());
  }
  output_.retrieve(static_cast<size_t>(n));
  bytesOut_ += static_cast<uint64_t>(n);
  lastActivity_ = loop_->now();
  if (!output_.empty()) {
    if ((state_ & kReadPaused) != 0 && output_.readableBytes() <= options_->lowWaterMark) {
      setState(0, kReadPaused);
    }
    return;
  }
  setState(0, kWantWrite | kReadPaused);
  if (closed()) return;
  output_.releaseIfEmpty();
  if (handler_ != nullptr) handler_->onWriteComplete(*this);
  if (closed()) return;
  if ((state_ & kShutdownAfterWrite) != 0) shutdownWrite();
}

template <bool kTrace>
bool Connection::sendAs(const void* data, size_t n) {
  if (closed()) return false;
  // After shutdownAfterWrite() nothing more may follow the pending bytes.
  if ((state_ & (kShutdownAfterWrite | kWriteShut)) != 0 || n == 0) return true;
  size_t written = 0;
  if ((state_ & kWantWrite) == 0) {
    const ssize_t r = io::write(fd(), data, n);
    if (r < 0 && kTrace) trace::line(fd(), "write: {}", std::strerror(errno));
    if (r >= 0) {
      written = static_cast<size_t>(r);
      bytesOut_ += written;
      lastActivity_ = loop_->now();
      if (kTrace) trace::line(fd(), "sent {} of {} bytes", r, n);
    } else if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
      // EINTR / EAGAIN: buffer everything and wait for writability.
      close(errno == EPIPE || errno == ECONNRESET ? CloseReason::kReset : CloseReason::kError);
      return false;
    }
  }
  if (written < n) {
    output_.append(static_cast<const char*>(data) + written, n - written);
    if (kTrace) {
      trace::line(fd(), "queued {} bytes ({} now waiting to be sent)", n - written,
                  output_.readableBytes());
    }
    uint8_t set = kWantWrite;
    if (output_.readableBytes() > options_->highWaterMark) set |= kReadPaused;
    setState(set, 0);
  }
  return !closed();
}

bool Connection::send(const void* data, size_t n) {
  return trace::enabled() ? sendAs<true>(data, n) : sendAs<false>(data, n);
}

bool Connection::send(Buffer& buf) {
  const bool ok = send(buf.peek(), buf.readableBytes());
  buf.retrieveAll();
  return ok;
}

void Connection::shutdownAfterWrite() {
  if (closed()) return;
  state_ |= kShutdownAfterWrite;
  if (output_.empty()) shutdownWrite();
}

void Connection::shutdownWrite() {
  if ((state_ & kWriteShut) == 0) {
    state_ |= kWriteShut;
    if (trace::enabled()) trace::line(fd(), "shutdown(SHUT_WR): our side has finished sending");
    // ENOTCONN: the peer is already gone; the next read or the close below settles it.
    (void)::shutdown(fd(), SHUT_WR);
  }
  if ((state_ & kPeerShutdown) != 0) close(CloseReason::kPeerClosed);
}

void Connection::closeOnSocketError() {
  int err = 0;
  socklen_t len = sizeof err;
  if (::getsockopt(fd(), SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
  if (trace::enabled()) trace::line(fd(), "SO_ERROR: {}", std::strerror(err));
  close(err == ECONNRESET || err == EPIPE ? CloseReason::kReset : CloseReason::kError);
}

void Connection::close(CloseReason reason) {
  if (closed()) return;
  if (trace::enabled()) {
    trace::line(fd(), "closed: {} ({} bytes in, {} out, {} unsent dropped)", toString(reason),
                bytesIn_, bytesOut_, output_.readableBytes());
  }
  if (interestMask(state_) != 0) loop_->remove(fd());
  state_ |= kClosed;
  fd_.reset();
  if (handler_ != nullptr) handler_->onClose(*this, reason);
  loop_->defer([this] { delete this; });
}

}  // namespace reactor
