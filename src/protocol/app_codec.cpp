#include "reactor/app_codec.h"

#include <algorithm>
#include <bit>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <utility>

#include "reactor/trace.h"

namespace reactor::app {

namespace {

using nlohmann::json;

constexpr size_t kMaxHeaderLength = 0xffff;  // the 2-byte length prefix
constexpr std::string_view kTextJson = "text/json";

std::string nativeByteorder() {
  return std::endian::native == std::endian::little ? "little" : "big";
}

// A JSON string literal with the characters as they are (Python's ensure_ascii=False); bytes
// that are not UTF-8 (a command-line argument) become U+FFFD instead of throwing.
std::string quote(std::string_view s) {
  return json(s).dump(-1, ' ', false, json::error_handler_t::replace);
}

// A flat object laid out like Python's json.dumps: {"a": 1, "b": "x"}. The tutorial's peers
// write exactly this, so our bytes match theirs.
std::string pythonObject(std::initializer_list<std::pair<std::string_view, std::string>> items) {
  std::string out = "{";
  for (const auto& [key, value] : items) {
    if (out.size() > 1) out += ", ";
    out += quote(key);
    out += ": ";
    out += value;
  }
  out += "}";
  return out;
}

std::string headerFor(const Message& message) {
  return pythonObject({
      {"byteorder", quote(message.byteorder.empty() ? nativeByteorder() : message.byteorder)},
      {"content-type", quote(message.contentType)},
      {"content-encoding", quote(message.contentEncoding)},
      {"content-length", std::to_string(message.content.size())},
  });
}

Message jsonMessage(std::string content) {
  return Message{std::string(kTextJson), "utf-8", nativeByteorder(), std::move(content)};
}

// Reads a required string key of the header into *out, or says what is wrong with it.
bool takeString(const json& header, const char* key, std::string* out, std::string* error) {
  const auto it = header.find(key);
  if (it == header.end()) {
    *error = std::string("missing required header \"") + key + "\"";
    return false;
  }
  if (!it->is_string()) {
    *error = std::string("header \"") + key + "\" must be a string";
    return false;
  }
  *out = it->get<std::string>();
  return true;
}

bool takeContentLength(const json& header, size_t limit, size_t* out, std::string* error) {
  const auto it = header.find("content-length");
  if (it == header.end()) {
    *error = "missing required header \"content-length\"";
    return false;
  }
  if (!it->is_number_integer()) {
    *error = "header \"content-length\" must be an integer";
    return false;
  }
  if (it->is_number_unsigned()) {
    const auto length = it->get<uint64_t>();
    if (length > limit) {
      *error =
          "content-length " + std::to_string(length) + " exceeds limit " + std::to_string(limit);
      return false;
    }
    *out = static_cast<size_t>(length);
    return true;
  }
  const auto length = it->get<int64_t>();  // nlohmann stores only negative numbers as signed
  *error = "content-length " + std::to_string(length) + " is negative";
  return false;
}

std::string searchResult(const std::string& value) {
  if (value == "morpheus") return "Follow the white rabbit. \U0001F430";
  if (value == "ring") return "In the caves beneath the Misty Mountains. \U0001F48D";
  if (value == "\U0001F436") return "\U0001F43E Playing ball! \U0001F3D0";
  return "No match for \"" + value + "\".";
}

// How the tutorial's client prints a JSON value: strings as they are, the rest as JSON.
std::string plain(const json& value) {
  if (value.is_string()) return value.get<std::string>();
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace

void encode(const Message& message, Buffer& out) {
  const std::string header = headerFor(message);
  if (header.size() > kMaxHeaderLength)
    throw std::length_error("app: JSON header over 65535 bytes");
  const unsigned char prefix[2] = {static_cast<unsigned char>(header.size() >> 8),
                                   static_cast<unsigned char>(header.size() & 0xff)};
  out.ensureWritable(2 + header.size() + message.content.size());
  out.append(prefix, 2);
  out.append(header);
  out.append(message.content);
}

std::string encode(const Message& message) {
  Buffer out;
  encode(message, out);
  return std::string(out.view());
}

std::string encodeJson(std::string_view json) { return encode(jsonMessage(std::string(json))); }

DecodeStatus Decoder::decode(Buffer& in, Message* out) {
  if (!error_.empty()) return DecodeStatus::kError;
  if (!pending_) {
    if (in.readableBytes() < 2) return DecodeStatus::kNeedMore;
    const auto* p = reinterpret_cast<const unsigned char*>(in.peek());
    const size_t headerLength = size_t{p[0]} << 8 | p[1];
    if (headerLength == 0) {
      error_ = "header length is 0";
      return DecodeStatus::kError;
    }
    if (in.readableBytes() < 2 + headerLength) return DecodeStatus::kNeedMore;
    const char* begin = in.peek() + 2;
    const json header = json::parse(begin, begin + headerLength, nullptr, false);
    if (header.is_discarded()) {
      error_ = "header is not valid JSON";
      return DecodeStatus::kError;
    }
    if (!header.is_object()) {
      error_ = "header is not a JSON object";
      return DecodeStatus::kError;
    }
    Message message;
    size_t length = 0;
    // Checked in the order the tutorial's server checks them; content-length is judged on
    // the header alone, before a byte of content is waited for.
    if (!takeString(header, "byteorder", &message.byteorder, &error_) ||
        !takeContentLength(header, maxContent_, &length, &error_) ||
        !takeString(header, "content-type", &message.contentType, &error_) ||
        !takeString(header, "content-encoding", &message.contentEncoding, &error_)) {
      return DecodeStatus::kError;
    }
    in.retrieve(2 + headerLength);
    headerLength_ = headerLength;
    pending_ = std::move(message);
    pendingContentLength_ = length;
  }
  if (in.readableBytes() < pendingContentLength_) return DecodeStatus::kNeedMore;
  *out = std::move(*pending_);
  pending_.reset();
  out->content = in.retrieveAsString(pendingContentLength_);
  return DecodeStatus::kMessage;
}

std::string Decoder::progress(const Buffer& in) const {
  const size_t have = in.readableBytes();
  if (pending_) {
    return "content " + std::to_string(std::min(have, pendingContentLength_)) + " of " +
           std::to_string(pendingContentLength_) + " bytes (header " +
           std::to_string(headerLength_) + " bytes)";
  }
  if (have < 2) return "header length " + std::to_string(have) + " of 2 bytes";
  const auto* p = reinterpret_cast<const unsigned char*>(in.peek());
  const size_t headerLength = size_t{p[0]} << 8 | p[1];
  return "header length " + std::to_string(headerLength) + ", JSON header " +
         std::to_string(std::min(have - 2, headerLength)) + " of " + std::to_string(headerLength) +
         " bytes";
}

std::optional<Message> respond(const Message& request, std::string* error) {
  if (request.contentType != kTextJson) {
    std::string content = "First 10 bytes of request: ";
    content.append(request.content, 0, 10);
    return Message{"binary/custom-server-binary-type", "binary", nativeByteorder(),
                   std::move(content)};
  }
  const json body = json::parse(request.content, nullptr, false);
  if (body.is_discarded()) {
    *error = "content is not valid JSON";
    return std::nullopt;
  }
  if (!body.is_object()) {
    *error = "content is not a JSON object";
    return std::nullopt;
  }
  std::string fields[2];
  const char* keys[2] = {"action", "value"};
  for (int i = 0; i < 2; ++i) {
    const auto it = body.find(keys[i]);
    if (it == body.end() || !it->is_string()) {
      *error = std::string("content needs a string \"") + keys[i] + "\"";
      return std::nullopt;
    }
    fields[i] = it->get<std::string>();
  }
  const std::string& action = fields[0];
  const std::string result =
      action == "search" ? searchResult(fields[1]) : "Error: invalid action \"" + action + "\".";
  return jsonMessage(pythonObject({{"result", quote(result)}}));
}

Message errorAnswer(std::string_view what) {
  return jsonMessage(pythonObject({{"error", quote(what)}}));
}

Message makeRequest(std::string_view action, std::string_view value) {
  return jsonMessage(pythonObject({{"action", quote(action)}, {"value", quote(value)}}));
}

std::string describeAnswer(const Message& answer) {
  if (answer.contentType == kTextJson) {
    const json body = json::parse(answer.content, nullptr, false);
    if (body.is_object()) {
      if (const auto it = body.find("result"); it != body.end()) return "got result: " + plain(*it);
      if (const auto it = body.find("error"); it != body.end()) return "got error: " + plain(*it);
    }
  }
  return "got response: " + trace::bytesRepr(answer.content);
}

}  // namespace reactor::app
