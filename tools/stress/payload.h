// What each connection sends, and what must come back.
//
// Echo: message (connection, seq) is `size` bytes of a fixed 1 MiB pseudo-random pattern at an
// offset hashed from (connection, seq), so messages differ per connection and per message and
// any loss, duplication, reordering or corruption shows, yet sending needs no per-message work
// (a pointer into the pattern). App: a small fixed set of requests (the search table, a
// miss, an invalid action, binary requests) with their exact expected answers, picked by the
// same hash.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace reactor::stress {

inline uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

inline uint64_t messageHash(uint32_t conn, uint64_t seq) {
  return splitmix64((uint64_t{conn} << 40) ^ seq);
}

class EchoPayload {
 public:
  explicit EchoPayload(size_t size);
  size_t size() const { return size_; }
  const char* message(uint32_t conn, uint64_t seq) const {
    return pattern_.data() + (messageHash(conn, seq) & (kPatternLen - 1));
  }

 private:
  static constexpr size_t kPatternLen = size_t{1} << 20;
  size_t size_;
  std::vector<char> pattern_;
};

/// One app-protocol request and the answer it must get.
struct AppCase {
  std::string request;   // the encoded request, ready to write
  bool json = false;     // answer is text/json {"result": expected}
  std::string expected;  // the "result" string, or the whole binary content
  std::string describe;  // for error messages: "search morpheus"
};

class AppWorkload {
 public:
  /// binarySize: content bytes of the binary requests.
  explicit AppWorkload(size_t binarySize);
  const AppCase& pick(uint32_t conn, uint64_t seq) const {
    return cases_[messageHash(conn, seq) % cases_.size()];
  }
  const std::vector<AppCase>& cases() const { return cases_; }

 private:
  std::vector<AppCase> cases_;
};

/// Encodes one app-protocol message (written here independently of the library's codec, so the
/// generator checks the server against the protocol rather than against itself).
std::string encodeAppMessage(std::string_view contentType, std::string_view contentEncoding,
                             std::string_view content);

/// Incremental decoder for answers. feed() appends bytes; next() yields whole messages.
class AppAnswerReader {
 public:
  enum class Status { kNeedMore, kMessage, kError };
  struct Answer {
    std::string contentType;
    std::string contentEncoding;
    std::string content;
    size_t wireBytes = 0;
  };
  void feed(const char* data, size_t n) { in_.append(data, n); }
  Status next(Answer* out, std::string* error);
  bool empty() const { return in_.size() == offset_; }

 private:
  std::string in_;
  size_t offset_ = 0;
};

/// Checks an answer against its case; returns an empty string or what was wrong.
std::string checkAppAnswer(const AppCase& expected, const AppAnswerReader::Answer& answer);

}  // namespace reactor::stress
