#include "support/app_wire.h"

#include <chrono>
#include <stdexcept>

namespace testsupport {

std::string frame(std::string_view headerText, std::string_view content) {
  if (headerText.size() > 0xffff) throw std::length_error("header over 65535 bytes");
  std::string out;
  out.push_back(static_cast<char>((headerText.size() >> 8) & 0xff));
  out.push_back(static_cast<char>(headerText.size() & 0xff));
  out.append(headerText);
  out.append(content);
  return out;
}

std::string encodeMessage(std::string_view contentType, std::string_view contentEncoding,
                          std::string_view content) {
  nlohmann::json header = {
      {"byteorder", "little"},
      {"content-type", contentType},
      {"content-encoding", contentEncoding},
      {"content-length", content.size()},
  };
  return frame(header.dump(), content);
}

std::string jsonRequest(std::string_view action, std::string_view value) {
  nlohmann::json body = {{"action", action}, {"value", value}};
  return encodeMessage("text/json", "utf-8", body.dump());
}

std::string binaryRequest(std::string_view content, std::string_view contentType) {
  return encodeMessage(contentType, "binary", content);
}

std::optional<WireMessage> takeMessage(std::string& buf) {
  if (buf.size() < 2) return std::nullopt;
  const size_t headerLen =
      (static_cast<unsigned char>(buf[0]) << 8) | static_cast<unsigned char>(buf[1]);
  if (buf.size() < 2 + headerLen) return std::nullopt;
  WireMessage msg;
  msg.header = nlohmann::json::parse(buf.substr(2, headerLen));
  const size_t contentLen = msg.header.at("content-length").get<size_t>();
  if (buf.size() < 2 + headerLen + contentLen) return std::nullopt;
  msg.content = buf.substr(2 + headerLen, contentLen);
  buf.erase(0, 2 + headerLen + contentLen);
  return msg;
}

ReadMessageResult readMessage(int fd, Millis timeout) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + timeout;
  auto left = [&] {
    auto ms = std::chrono::duration_cast<Millis>(deadline - Clock::now());
    return ms.count() < 0 ? Millis(0) : ms;
  };
  ReadMessageResult result;
  result.recv = recvExactly(fd, 2, left());
  if (!result.recv.ok()) return result;
  std::string buf = result.recv.data;
  const size_t headerLen =
      (static_cast<unsigned char>(buf[0]) << 8) | static_cast<unsigned char>(buf[1]);
  result.recv = recvExactly(fd, headerLen, left());
  if (!result.recv.ok()) return result;
  buf += result.recv.data;
  nlohmann::json header = nlohmann::json::parse(result.recv.data);
  const size_t contentLen = header.at("content-length").get<size_t>();
  result.recv = recvExactly(fd, contentLen, left());
  if (!result.recv.ok()) return result;
  buf += result.recv.data;
  result.message = takeMessage(buf);
  return result;
}

std::string expectedSearchResult(std::string_view value) {
  if (value == "morpheus") return "Follow the white rabbit. \xF0\x9F\x90\xB0";
  if (value == "ring") return "In the caves beneath the Misty Mountains. \xF0\x9F\x92\x8D";
  if (value == "\xF0\x9F\x90\xB6") return "\xF0\x9F\x90\xBE Playing ball! \xF0\x9F\x8F\x90";
  return "No match for \"" + std::string(value) + "\".";
}

}  // namespace testsupport
