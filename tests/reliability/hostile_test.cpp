// Hostile input against the real reactor-server, once per backend: garbage, absurd declared
// lengths, and slowloris clients. Every check is on the wire or in /proc, never on timing.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "proc_stats.h"
#include "support/app_wire.h"
#include "support/process.h"
#include "support/socket_client.h"

namespace reliability {
namespace {

using namespace testsupport;
using nlohmann::json;

std::string randomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

std::string header(const std::string& contentLengthJson) {
  return R"({"byteorder": "little", "content-type": "binary/x", "content-encoding": "binary", )"
         R"("content-length": )" +
         contentLengthJson + "}";
}

// One {"error": ...} answer, then the server's side of the connection ends (EOF or reset).
// Returns the error text.
std::string expectErrorThenClose(int fd) {
  ReadMessageResult r = readMessage(fd);
  EXPECT_TRUE(r.message) << "no answer: " << toString(r.recv.status) << " errno " << r.recv.error;
  if (!r.message) return {};
  EXPECT_EQ(r.message->contentType(), "text/json");
  const json body = json::parse(r.message->content, nullptr, false);
  EXPECT_TRUE(body.is_object() && body.contains("error")) << r.message->content;
  const RecvResult rest = readUntilEof(fd);
  EXPECT_NE(rest.status, RecvStatus::kTimeout) << "the connection stayed open after the error";
  EXPECT_EQ(rest.data, "") << "bytes after the error answer";
  return body.is_object() ? body.value("error", "") : "";
}

void expectSearchServed(const ServerProcess& server) {
  Fd fd = server.connect();
  ASSERT_EQ(sendAll(fd.get(), jsonRequest("search", "morpheus")), 0);
  ReadMessageResult r = readMessage(fd.get());
  ASSERT_TRUE(r.message) << toString(r.recv.status);
  EXPECT_EQ(r.message->json().value("result", ""), expectedSearchResult("morpheus"));
  closeWithReset(fd);
}

TEST(HostileEcho, GarbageIsEchoedByteForByte) {
  ServerProcess server;
  // Every byte value, NULs, bare CR/LF, invalid UTF-8, and app frames with absurd lengths: the
  // echo port does not interpret any of it.
  std::string garbage = randomBytes(512 * 1024, 7);
  garbage += std::string("\0\0\xff\xff\r\n\r\n\xc3\x28\xed\xa0\x80", 13);
  garbage += frame(header("18446744073709551615"), "");
  garbage += "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  Fd fd = server.connect();
  Fd other = server.connect();
  // In random chunks; 512 KiB stays under the high-water mark, so all of it is taken before we
  // read anything back.
  std::mt19937 rng(11);
  for (size_t sent = 0; sent < garbage.size();) {
    const size_t n = std::min<size_t>(garbage.size() - sent, 1 + rng() % 9000);
    ASSERT_EQ(sendAll(fd.get(), std::string_view(garbage).substr(sent, n)), 0);
    sent += n;
  }
  RecvResult got = recvExactly(fd.get(), garbage.size(), Millis(20000));
  ASSERT_TRUE(got.ok()) << toString(got.status) << " after " << got.data.size();
  EXPECT_TRUE(got.data == garbage) << "echoed garbage differs";
  ASSERT_EQ(sendAll(other.get(), "still here"), 0);
  EXPECT_EQ(recvExactly(other.get(), 10).data, "still here");
}

class HostileApp : public ::testing::Test {
 protected:
  ServerProcess server{{"--protocol", "app", "--max-message-bytes", "4096"}};

  void expectRefused(const std::string& bad, const std::string& why) {
    SCOPED_TRACE(why);
    Fd fd = server.connect();
    ASSERT_EQ(sendAll(fd.get(), bad), 0);
    expectErrorThenClose(fd.get());
  }
};

TEST_F(HostileApp, MalformedFramesGetTheErrorAndAClose) {
  Fd bystander = server.connect();
  expectRefused(frame("", ""), "header length 0");
  expectRefused(frame("\xff\xfe\xfd not json", ""), "binary header");
  expectRefused(frame("\"just a string\"", ""), "header is a string");
  expectRefused(frame("null", ""), "header is null");
  expectRefused(frame(std::string(30000, '[') + std::string(30000, ']'), ""), "deep array");
  expectRefused(frame(std::string(20000, '{'), ""), "unclosed objects");
  expectRefused(frame(R"({"byteorder": "little", "content-type": "text/json"})", ""),
                "missing keys");
  expectRefused(frame(R"({"byteorder": 1, "content-type": [], "content-encoding": {},)"
                      R"( "content-length": 2})",
                      "{}"),
                "mistyped keys");
  expectRefused(frame(R"({"byteorder": "\ud800", "content-type": "text/json",)"
                      R"( "content-encoding": "utf-8", "content-length": 2})",
                      "{}"),
                "lone surrogate");
  expectRefused(encodeMessage("text/json", "utf-8", std::string("\xff\xfe\x00{", 4)),
                "content not JSON");
  expectRefused(encodeMessage("text/json", "utf-8", "[\"action\", \"search\"]"),
                "content not an object");
  // 2 + 65535 bytes always complete a header, whatever the first two bytes say.
  for (uint32_t seed = 1; seed <= 5; ++seed) {
    std::string noise = randomBytes(2 + 65535 + 100, seed);
    if (noise[2] == '{') noise[2] = 'x';  // never a JSON object
    expectRefused(noise, "random bytes, seed " + std::to_string(seed));
  }
  ASSERT_EQ(sendAll(bystander.get(), jsonRequest("search", "ring")), 0);
  ReadMessageResult r = readMessage(bystander.get());
  ASSERT_TRUE(r.message);
  EXPECT_EQ(r.message->json().value("result", ""), expectedSearchResult("ring"));
}

TEST_F(HostileApp, AbsurdDeclaredLengthsAllocateNothing) {
  if (!procAvailable()) GTEST_SKIP() << "reads /proc (Linux only)";
  const pid_t pid = server.process().pid();
  expectSearchServed(server);  // warm up: the first connection's allocations
  const size_t rssBefore = statusKiB(pid, "VmRSS");
  const size_t dataBefore = statusKiB(pid, "VmData");
  const char* lengths[] = {
      "18446744073709551615",  // 2^64 - 1
      "18446744073709551616",  // 2^64: not an unsigned 64-bit integer any more
      "9223372036854775808",   // 2^63
      "9223372036854775807",   // 2^63 - 1
      "4097",                  // one over --max-message-bytes
      "-1",
      "-9223372036854775808",
      "1e30",
      "1.5",
      "1e400",
      "\"1000\"",
      "null",
      "[1]",
      "99999999999999999999999999999999999999999999999999",
  };
  for (int round = 0; round < 20; ++round) {
    for (const char* length : lengths) {
      SCOPED_TRACE(length);
      Fd fd = server.connect();
      // Only the header: refused before any content is expected or buffered.
      ASSERT_EQ(sendAll(fd.get(), frame(header(length), "")), 0);
      const std::string error = expectErrorThenClose(fd.get());
      EXPECT_FALSE(error.empty());
      closeWithReset(fd);
      if (HasFailure()) return;  // one unanswered header costs a timeout: stop at the first
    }
  }
  // A single reservation of the declared length would add gigabytes to VmData (address space,
  // even if never touched); the bound leaves room for allocator noise only.
  EXPECT_LT(statusKiB(pid, "VmRSS"), rssBefore + 8 * 1024);
  EXPECT_LT(statusKiB(pid, "VmData"), dataBefore + 64 * 1024);
  EXPECT_TRUE(server.process().running());
  expectSearchServed(server);
}

// After the error answer the server shuts down its side and discards what still comes in (so
// the answer is not lost to a reset). A client that keeps streaming keeps bytes moving, so the
// idle timeout never fires: that lingering must be bounded in bytes or time (nginx:
// lingering_time), or one client holds a connection slot and CPU forever.
TEST(HostileAppLimits, ClientStreamingAfterTheErrorIsClosedAnyway) {
  ServerProcess server({"--protocol", "app", "--idle-timeout", "1"});
  Fd fd = server.connect();
  ASSERT_EQ(sendAll(fd.get(), frame("not json", "")), 0);
  expectErrorThenClose(fd.get());
  const std::string chunk(64 * 1024, 'g');
  bool closed = false;
  for (int i = 0; i < 300 && !closed; ++i) {  // up to 15 s at about 1 MiB/s
    closed = sendAll(fd.get(), chunk, Millis(1000)) != 0;
    if (!closed) std::this_thread::sleep_for(Millis(50));
  }
  EXPECT_TRUE(closed) << "the server kept reading garbage after its error answer";
  // A send that timed out only says the server stopped reading: it must have closed as well.
  EXPECT_TRUE(waitForClose(fd.get(), Millis(5000)))
      << "the server stopped reading but kept it open";
}

TEST(HostileAppLimits, HeadersDeclaringTheLimitReserveNothingUpFront) {
  if (!procAvailable()) GTEST_SKIP() << "reads /proc (Linux only)";
  // 200 connections each declare the largest content accepted by default (1 MiB) and send none
  // of it. Reserving the declared length up front would add 200 MiB of address space (VmData,
  // touched or not); memory must grow with the bytes received only.
  ServerProcess server({"--protocol", "app"});
  const pid_t pid = server.process().pid();
  const size_t fdsBefore = openFdCount(pid);  // before any connection
  expectSearchServed(server);
  const size_t dataBefore = statusKiB(pid, "VmData");
  std::vector<Fd> fds;
  for (size_t i = 0; i < 200; ++i) {
    fds.push_back(server.connect(loopbackSource(i + 100)));
    ASSERT_EQ(sendAll(fds.back().get(), frame(header("1048576"), "")), 0);
  }
  expectSearchServed(server);  // a round trip through the loop that read those headers
  EXPECT_TRUE(eventually([&] { return openFdCount(pid) == fdsBefore + 200; }, Millis(5000)));
  EXPECT_LT(statusKiB(pid, "VmData"), dataBefore + 32 * 1024);
  // A few finish their requests and are answered; the rest reset with their request unfinished.
  for (size_t i = 0; i < 3; ++i) {
    ASSERT_EQ(sendAll(fds[i].get(), std::string(1 << 20, 'c'), Millis(20000)), 0);
    ReadMessageResult r = readMessage(fds[i].get());
    ASSERT_TRUE(r.message) << toString(r.recv.status);
    EXPECT_EQ(r.message->content, "First 10 bytes of request: cccccccccc");
  }
  for (Fd& fd : fds) closeWithReset(fd);
  EXPECT_TRUE(eventually([&] { return openFdCount(pid) == fdsBefore; }, Millis(5000)))
      << openFdCount(pid) << " descriptors open, " << fdsBefore << " before";
}

// A byte every few seconds, with --idle-timeout 1: the contract's idle timeout counts time since
// the last byte moved, so the gap between two bytes is what gets the connection closed.
TEST(Slowloris, GapLongerThanIdleTimeoutCloses) {
  for (const char* protocol : {"echo", "app"}) {
    SCOPED_TRACE(protocol);
    ServerProcess server({"--protocol", protocol, "--idle-timeout", "1"});
    Fd fd = server.connect();
    const std::string request = jsonRequest("search", "morpheus");
    ASSERT_EQ(sendAll(fd.get(), request.substr(0, 1)), 0);
    // The next byte would come seconds later: by then the server has closed.
    EXPECT_TRUE(waitForHangup(fd.get(), Millis(5000))) << "a half-sent request kept it open";
    if (std::string(protocol) == "echo") continue;
    // In app mode nothing was answered: half a request is not a request.
    RecvResult rest = readUntilEof(fd.get(), Millis(1000));
    EXPECT_EQ(rest.data, "");
  }
}

TEST(Slowloris, TricklingBelowTheTimeoutIsServedAndBoundedByTheMessageLimit) {
  // Bytes every 200 ms keep a connection alive under --idle-timeout 2 (the contract: idle means
  // no byte moved). What bounds it is the message limit: a trickled request within it is
  // answered; one that declares more is refused on its header, before any content is buffered.
  ServerProcess server({"--protocol", "app", "--idle-timeout", "2", "--max-message-bytes", "16"});
  Fd fd = server.connect();
  const std::string request = binaryRequest("0123456789abcdef");
  const std::string head = request.substr(0, request.size() - 16);
  ASSERT_EQ(sendAll(fd.get(), head), 0);
  // 16 x 200 ms: longer than the idle timeout in total, each gap a tenth of it (margin for a
  // loaded machine).
  for (size_t i = 0; i < 16; ++i) {
    std::this_thread::sleep_for(Millis(200));
    ASSERT_EQ(sendAll(fd.get(), request.substr(head.size() + i, 1)), 0) << "byte " << i;
  }
  ReadMessageResult r = readMessage(fd.get());
  ASSERT_TRUE(r.message) << toString(r.recv.status);
  EXPECT_EQ(r.message->content, "First 10 bytes of request: 0123456789");

  Fd greedy = server.connect();
  ASSERT_EQ(sendAll(greedy.get(), frame(header("17"), "")), 0);
  expectErrorThenClose(greedy.get());
}

}  // namespace
}  // namespace reliability
