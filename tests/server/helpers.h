// Small helpers shared by the server's integration tests.
#pragma once

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "support/app_wire.h"
#include "support/process.h"
#include "support/socket_client.h"

namespace servertest {

using namespace testsupport;
using std::chrono::milliseconds;

/// Random bytes (all 256 values), reproducible from the seed.
inline std::string randomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

/// Sends payload and expects exactly it back.
inline void expectEcho(int fd, const std::string& payload, Millis timeout = kDefaultTimeout) {
  ASSERT_EQ(sendAll(fd, payload, timeout), 0);
  RecvResult got = recvExactly(fd, payload.size(), timeout);
  ASSERT_TRUE(got.ok()) << toString(got.status) << " errno " << got.error << " after "
                        << got.data.size() << " of " << payload.size() << " bytes";
  ASSERT_TRUE(got.data == payload) << "echoed bytes differ";
}

/// Sends one byte and reports whether it came back (true), or the connection was closed or
/// reset (false). Timeouts fail the test.
inline bool pingOrClosed(int fd, Millis timeout = kDefaultTimeout) {
  if (sendAll(fd, "x", timeout) != 0) return false;
  RecvResult got = recvExactly(fd, 1, timeout);
  EXPECT_NE(got.status, RecvStatus::kTimeout);
  return got.ok() && got.data == "x";
}

/// The lines of a text, without the newlines.
inline std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    out.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return out;
}

/// reactor-server for one test. At the end it must shut down cleanly on SIGTERM (exit 0) with
/// no sanitizer report on stderr, whatever the test did to it.
class Server : public ServerProcess {
 public:
  using ServerProcess::ServerProcess;
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  ~Server() {
    std::optional<int> code = stop();
    const std::string err = process().stderrText();
    EXPECT_EQ(code, 0) << err;
    EXPECT_EQ(err.find("Sanitizer"), std::string::npos) << err;
    EXPECT_EQ(withoutVptrFalsePositives(err).find("runtime error"), std::string::npos) << err;
  }

 private:
  // UBSan's vptr check probes memory through a pipe; when the server has run out of
  // descriptors (a test does that on purpose) the probe fails and it reports valid objects as
  // "invalid vptr" with "<memory cannot be printed>". Those reports, and only those, are dropped.
  static std::string withoutVptrFalsePositives(const std::string& err) {
    std::vector<std::string> kept;
    std::vector<std::string> all = lines(err);
    for (size_t i = 0; i < all.size(); ++i) {
      if (all[i].find("does not point to an object of type") != std::string::npos &&
          i + 2 < all.size() && all[i + 2] == "<memory cannot be printed>") {
        i += 2;
        continue;
      }
      kept.push_back(all[i]);
    }
    std::string out;
    for (const std::string& line : kept) out += line + "\n";
    return out;
  }
};

/// Retries connect + ping until the server serves again (after refusals), within the timeout.
inline bool servedWithin(const ServerProcess& server, Millis timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int error = 0;
    Fd fd = connectTcp(server.host(), server.port(), Millis(1000), {}, &error);
    if (fd && pingOrClosed(fd.get(), Millis(1000))) {
      closeWithReset(fd);
      return true;
    }
    if (fd) closeWithReset(fd);
    std::this_thread::sleep_for(Millis(100));
  }
  return false;
}

}  // namespace servertest
