// The sockets tutorial's application protocol, as a small codec shared by the server and the
// clients:
//
//   +---------+---------------------------+----------------------+
//   | 2 bytes | JSON header (UTF-8)        | content              |
//   | big-end | byteorder, content-length, | content-length bytes |
//   | hdr len | content-type, content-enc. |                      |
//   +---------+---------------------------+----------------------+
//
// The decoder is incremental: feed it whatever arrived (one byte, or many messages at once)
// and it yields whole messages. Every length is checked before anything is buffered: the
// header length is at most 65535 by construction, and content-length is refused on the header
// alone if negative or over the limit.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "reactor/buffer.h"

namespace reactor::app {

struct Message {
  std::string contentType;      // "text/json", or anything else for bytes
  std::string contentEncoding;  // "utf-8", "binary", ...
  std::string byteorder;        // "little" / "big" (informational)
  std::string content;
};

/// Encodes a message with a JSON header (keys as the tutorial writes them) into out. Headers
/// and JSON answers are laid out as Python's json.dumps(ensure_ascii=False) does, so the bytes
/// match the tutorial's server: {"result": "Follow the white rabbit. 🐰"} in raw UTF-8.
/// An empty byteorder is written as the host's ("little" on x86). Throws std::length_error if
/// the header would exceed 65535 bytes.
void encode(const Message& message, Buffer& out);
std::string encode(const Message& message);

/// Encodes a text/json message whose content is the JSON text `json` (utf-8).
std::string encodeJson(std::string_view json);

enum class DecodeStatus {
  kNeedMore,  // no whole message yet: wait for more bytes
  kMessage,   // *out holds one message, its bytes were consumed from the buffer
  kError,     // bad input: error() says what; the connection should answer and close
};

class Decoder {
 public:
  explicit Decoder(size_t maxContentBytes = 1 << 20) : maxContent_(maxContentBytes) {}

  /// Tries to take one message from the front of `in`. Call repeatedly until kNeedMore.
  /// A header is consumed once parsed; its content is taken only once all of it is there.
  /// After kError the decoder stays in error (every later call returns kError) and leaves
  /// `in` untouched, so nothing past the bad message is ever read as a message.
  DecodeStatus decode(Buffer& in, Message* out);
  const std::string& error() const { return error_; }
  /// How much of the next message `in` and the decoder hold, for the trace: "header length 1
  /// of 2 bytes", "JSON header 20 of 59 bytes", "content 3 of 37 bytes (header 59 bytes)".
  std::string progress(const Buffer& in) const;
  /// The JSON header length of the message last parsed (being completed, or just decoded).
  size_t headerLength() const { return headerLength_; }

 private:
  size_t maxContent_;
  // Parsed header waiting for its content (a header is parsed once, not on every byte).
  std::optional<Message> pending_;
  size_t pendingContentLength_ = 0;
  size_t headerLength_ = 0;
  std::string error_;
};

/// The server side of the protocol: the answer to one request (search table, binary answer,
/// or an {"result": "Error: invalid action ..."} answer). Content errors (text/json whose
/// content is not a JSON object with string action/value) return std::nullopt and set *error.
std::optional<Message> respond(const Message& request, std::string* error);

/// The {"error": "..."} answer for bad input.
Message errorAnswer(std::string_view what);

/// Builds the tutorial client's request: text/json {"action": ..., "value": ...}.
Message makeRequest(std::string_view action, std::string_view value);

/// The tutorial client's output for an answer: "got result: ..." for JSON with a "result"
/// (a string printed as is), "got error: ..." for the server's {"error": ...} answer, and
/// "got response: b'...'" for anything else (Python's repr of the bytes).
std::string describeAnswer(const Message& answer);

}  // namespace reactor::app
