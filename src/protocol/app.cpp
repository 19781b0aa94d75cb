#include "reactor/app_codec.h"
#include "reactor/log.h"
#include "reactor/protocols.h"
#include "reactor/trace.h"

namespace reactor {
namespace {

// The tutorial's headers are about 100 bytes; a client's first header longer than this is
// more likely bytes of another protocol.
constexpr size_t kPlausibleHeaderLength = 4096;

enum class Outcome {
  kClean,    // every byte formed whole messages: the decoder holds nothing
  kPartial,  // an incomplete message remains (in the input or the decoder)
  kFailed,   // bad input: answered with an error, the connection is shutting down
};

// Answers every whole message in `input`, in order, in one send.
Outcome serve(Connection& conn, Buffer& input, app::Decoder& decoder) {
  Buffer out;
  Outcome outcome = Outcome::kPartial;
  for (;;) {
    app::Message request;
    const app::DecodeStatus status = decoder.decode(input, &request);
    if (status == app::DecodeStatus::kNeedMore) {
      if (trace::enabled()) {
        trace::line(conn.fd(), "app: incomplete, waiting: {}", decoder.progress(input));
      }
      break;
    }
    if (trace::enabled() && status == app::DecodeStatus::kMessage) {
      trace::line(conn.fd(), "app: whole message: header {} bytes, content {} bytes ({})",
                  decoder.headerLength(), request.content.size(), request.contentType);
    }
    std::string error;
    std::optional<app::Message> answer;
    if (status == app::DecodeStatus::kMessage) answer = app::respond(request, &error);
    if (status == app::DecodeStatus::kError) error = decoder.error();
    if (!answer) {
      if (trace::enabled()) trace::line(conn.fd(), "app: bad request: {}", error);
      log::debug("fd {}: bad request: {}", conn.fd(), error);
      app::encode(app::errorAnswer(error), out);
      input.retrieveAll();
      outcome = Outcome::kFailed;
      break;
    }
    app::encode(*answer, out);
    // After a whole message with nothing left over, the decoder is known to hold nothing.
    if (input.empty()) {
      outcome = Outcome::kClean;
      break;
    }
  }
  if (!out.empty()) conn.send(out);
  if (outcome == Outcome::kFailed) conn.shutdownAfterWrite();
  return outcome;
}

}  // namespace

class AppFactory::Failed final : public ConnectionHandler {
 public:
  explicit Failed(Clock::time_point since) : since_(since) {}

  // The error answer is on its way and our side shuts down after it; what the peer still
  // sends is not a request any more. It is discarded rather than left unread, because closing
  // with unread bytes makes the kernel send a reset that can destroy the answer in flight; but
  // only for a while, or a client that keeps streaming would hold the connection for ever
  // (its bytes keep the idle timeout from firing).
  void onMessage(Connection& conn, Buffer& input) override {
    discarded_ += input.readableBytes();
    if (trace::enabled()) {
      trace::line(conn.fd(), "app: discarding {} bytes sent after the error answer",
                  input.readableBytes());
    }
    input.retrieveAll();
    if (discarded_ > kLingerBytes || conn.loop().now() - since_ > kLingerTime) conn.close();
  }

 private:
  static constexpr size_t kLingerBytes = 64 * 1024;
  static constexpr Clock::duration kLingerTime = std::chrono::seconds(2);

  Clock::time_point since_;
  size_t discarded_ = 0;
};

class AppFactory::Handler final : public ConnectionHandler {
 public:
  explicit Handler(size_t maxMessageBytes) : max_(maxMessageBytes) {}
  void onMessage(Connection& conn, Buffer& input) override;
  size_t maxMessageBytes() const { return max_; }

 private:
  size_t max_;
};

// A connection's first bytes that make no plausible app message, said at debug level: a client
// of another protocol ("Hello" reads as a header length of 18533) otherwise just waits.
static void noteImplausibleStart(const Connection& conn, const Buffer& input) {
  if (conn.bytesIn() != input.readableBytes() || input.readableBytes() < 2) return;
  const auto* p = reinterpret_cast<const unsigned char*>(input.peek());
  const size_t headerLength = size_t{p[0]} << 8 | p[1];
  const bool jsonFollows = input.readableBytes() < 3 || p[2] == '{';
  if (headerLength <= kPlausibleHeaderLength && jsonFollows) return;
  log::debug(
      "fd {}: the first bytes, 0x{:02x} 0x{:02x}, read as a header length of {}{}: "
      "is the client speaking another protocol?",
      conn.fd(), p[0], p[1], headerLength, jsonFollows ? "" : ", and no '{' follows");
}

class AppFactory::Session final : public ConnectionHandler {
 public:
  Session(Handler& shared, app::Decoder decoder) : shared_(shared), decoder_(std::move(decoder)) {}

  void onMessage(Connection& conn, Buffer& input) override {
    // A first read of one byte ("H") leaves the header length to this second call.
    if (log::level() >= log::Level::kDebug) noteImplausibleStart(conn, input);
    const Outcome outcome = serve(conn, input, decoder_);
    // Closed inside serve(): release() already scheduled this object's deletion.
    if (conn.closed() || outcome == Outcome::kPartial) return;
    conn.context = outcome == Outcome::kClean ? static_cast<ConnectionHandler*>(&shared_)
                                              : new Failed(conn.loop().now());
    delete this;
  }

 private:
  Handler& shared_;
  app::Decoder decoder_;
};

void AppFactory::Handler::onMessage(Connection& conn, Buffer& input) {
  if (input.empty()) return;
  if (log::level() >= log::Level::kDebug) noteImplausibleStart(conn, input);
  app::Decoder decoder(max_);
  const Outcome outcome = serve(conn, input, decoder);
  if (conn.closed() || outcome == Outcome::kClean) return;
  if (outcome == Outcome::kFailed) {
    conn.context = new Failed(conn.loop().now());
  } else {
    conn.context = new Session(*this, std::move(decoder));
  }
}

AppFactory::AppFactory(size_t maxMessageBytes)
    : handler_(std::make_unique<Handler>(maxMessageBytes)) {}

AppFactory::~AppFactory() = default;

ConnectionHandler* AppFactory::create(Connection& /*conn*/) { return handler_.get(); }

void AppFactory::release(Connection& conn, ConnectionHandler* handler) {
  if (handler == handler_.get() || handler == nullptr) return;
  // Called from inside a callback, possibly the session's own: delete after the batch.
  conn.loop().defer([handler] { delete handler; });
}

}  // namespace reactor
