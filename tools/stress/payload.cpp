#include "payload.h"

#include <fmt/format.h>

#include <cstring>
#include <nlohmann/json.hpp>

namespace reactor::stress {

EchoPayload::EchoPayload(size_t size) : size_(size), pattern_(kPatternLen + size) {
  uint64_t x = 0x243f6a8885a308d3ULL;
  for (size_t i = 0; i < pattern_.size(); i += 8) {
    x = splitmix64(x);
    size_t n = std::min<size_t>(8, pattern_.size() - i);
    std::memcpy(pattern_.data() + i, &x, n);
  }
}

std::string encodeAppMessage(std::string_view contentType, std::string_view contentEncoding,
                             std::string_view content) {
  nlohmann::json header = {{"byteorder", "little"},
                           {"content-type", contentType},
                           {"content-encoding", contentEncoding},
                           {"content-length", content.size()}};
  std::string h = header.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::string out;
  out.reserve(2 + h.size() + content.size());
  out.push_back(static_cast<char>((h.size() >> 8) & 0xff));
  out.push_back(static_cast<char>(h.size() & 0xff));
  out += h;
  out += content;
  return out;
}

namespace {

AppCase searchCase(std::string_view action, std::string_view value, std::string expected) {
  nlohmann::json body = {{"action", action}, {"value", value}};
  AppCase c;
  c.request = encodeAppMessage("text/json", "utf-8", body.dump());
  c.json = true;
  c.expected = std::move(expected);
  c.describe = fmt::format("{} {}", action, value);
  return c;
}

AppCase binaryCase(std::string content) {
  AppCase c;
  c.request = encodeAppMessage("binary/custom-client-binary-type", "binary", content);
  c.expected = "First 10 bytes of request: " + content.substr(0, 10);
  c.describe = fmt::format("binary request of {} bytes", content.size());
  return c;
}

}  // namespace

AppWorkload::AppWorkload(size_t binarySize) {
  // The table of the contract, written out again here on purpose (see encodeAppMessage).
  cases_.push_back(searchCase("search", "morpheus", "Follow the white rabbit. \U0001F430"));
  cases_.push_back(
      searchCase("search", "ring", "In the caves beneath the Misty Mountains. \U0001F48D"));
  cases_.push_back(searchCase("search", "\U0001F436", "\U0001F43E Playing ball! \U0001F3D0"));
  cases_.push_back(searchCase("search", "neo", "No match for \"neo\"."));
  cases_.push_back(searchCase("find", "morpheus", "Error: invalid action \"find\"."));
  EchoPayload bytes(binarySize);
  for (uint32_t i = 0; i < 3; ++i) {
    cases_.push_back(binaryCase(std::string(bytes.message(i, 0), binarySize)));
  }
}

AppAnswerReader::Status AppAnswerReader::next(Answer* out, std::string* error) {
  size_t avail = in_.size() - offset_;
  if (avail < 2) return Status::kNeedMore;
  const auto* p = reinterpret_cast<const unsigned char*>(in_.data() + offset_);
  size_t headerLen = (size_t{p[0]} << 8) | p[1];
  if (avail < 2 + headerLen) return Status::kNeedMore;
  auto header = nlohmann::json::parse(in_.begin() + static_cast<ptrdiff_t>(offset_ + 2),
                                      in_.begin() + static_cast<ptrdiff_t>(offset_ + 2 + headerLen),
                                      nullptr, false);
  if (!header.is_object() || !header.contains("content-length") ||
      !header["content-length"].is_number_unsigned() || !header.contains("content-type") ||
      !header["content-type"].is_string() || !header.contains("content-encoding") ||
      !header["content-encoding"].is_string() || !header.contains("byteorder") ||
      !header["byteorder"].is_string()) {
    *error = "answer header is not a JSON object with the four required keys: " +
             in_.substr(offset_ + 2, std::min<size_t>(headerLen, 200));
    return Status::kError;
  }
  size_t contentLen = header["content-length"].get<size_t>();
  if (avail < 2 + headerLen + contentLen) return Status::kNeedMore;
  out->contentType = header["content-type"].get<std::string>();
  out->contentEncoding = header["content-encoding"].get<std::string>();
  out->content.assign(in_, offset_ + 2 + headerLen, contentLen);
  out->wireBytes = 2 + headerLen + contentLen;
  offset_ += out->wireBytes;
  if (offset_ == in_.size()) {
    in_.clear();
    offset_ = 0;
  } else if (offset_ > 64 * 1024) {
    in_.erase(0, offset_);
    offset_ = 0;
  }
  return Status::kMessage;
}

std::string checkAppAnswer(const AppCase& expected, const AppAnswerReader::Answer& answer) {
  if (!expected.json) {
    if (answer.contentType != "binary/custom-server-binary-type" ||
        answer.contentEncoding != "binary") {
      return fmt::format("expected a binary answer, got content-type '{}' encoding '{}'",
                         answer.contentType, answer.contentEncoding);
    }
    if (answer.content != expected.expected) {
      return fmt::format("binary answer differs: expected {} bytes, got {} bytes",
                         expected.expected.size(), answer.content.size());
    }
    return {};
  }
  if (answer.contentType != "text/json") {
    return fmt::format("expected a text/json answer, got '{}'", answer.contentType);
  }
  auto body = nlohmann::json::parse(answer.content, nullptr, false);
  if (!body.is_object() || !body.contains("result") || !body["result"].is_string()) {
    return fmt::format("answer is not {{\"result\": ...}}: {}", answer.content.substr(0, 200));
  }
  auto result = body["result"].get<std::string>();
  if (result != expected.expected) {
    return fmt::format("expected result '{}', got '{}'", expected.expected, result);
  }
  return {};
}

}  // namespace reactor::stress
