// The tutorial's app protocol, re-implemented for tests without the library's codec:
// 2-byte big-endian header length, JSON header, content.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "support/socket_client.h"

namespace testsupport {

struct WireMessage {
  nlohmann::json header;
  std::string content;

  std::string contentType() const { return header.value("content-type", ""); }
  /// The content parsed as JSON (text/json answers).
  nlohmann::json json() const { return nlohmann::json::parse(content); }
};

/// Frames a raw header text and content (the header text is sent as given, valid or not).
std::string frame(std::string_view headerText, std::string_view content);
/// A message with the four required keys.
std::string encodeMessage(std::string_view contentType, std::string_view contentEncoding,
                          std::string_view content);
/// The tutorial client's request: text/json {"action": ..., "value": ...}.
std::string jsonRequest(std::string_view action, std::string_view value);
/// A binary request with the given content type.
std::string binaryRequest(std::string_view content,
                          std::string_view contentType = "binary/custom-client-binary-type");

/// Takes one whole message from the front of buf if there is one (throws on a malformed one).
std::optional<WireMessage> takeMessage(std::string& buf);

struct ReadMessageResult {
  std::optional<WireMessage> message;
  RecvResult recv;  // what stopped the read when there is no message
};

/// Reads exactly one message from the socket before the deadline.
ReadMessageResult readMessage(int fd, Millis timeout = kDefaultTimeout);

/// The search table of the contract.
std::string expectedSearchResult(std::string_view value);

}  // namespace testsupport
