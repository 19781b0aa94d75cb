// reactor-server --trace: the lines a learner reads to watch the reactor work, checked against
// what the test did on the wire (the b'H' case, a chunked reactor-client, the app decoder's
// progress, a slow reader pausing the reads), and no line at all without the flag.
#include <regex>
#include <thread>

#include "helpers.h"

namespace servertest {
namespace {

// The trace lines of a server's stderr, in order.
std::vector<std::string> traceLines(const std::string& err) {
  std::vector<std::string> out;
  for (const std::string& line : lines(err)) {
    if (line.rfind("trace ", 0) == 0) out.push_back(line);
  }
  return out;
}

// The index of the first line at or after `from` that contains `needle`, or -1.
long find(const std::vector<std::string>& trace, const std::string& needle, long from = 0) {
  for (size_t i = static_cast<size_t>(from); i < trace.size(); ++i) {
    if (trace[i].find(needle) != std::string::npos) return static_cast<long>(i);
  }
  return -1;
}

std::string joined(const std::vector<std::string>& trace) {
  std::string out;
  for (const std::string& line : trace) out += line + "\n";
  return out;
}

TEST(Trace, ShowsTheFirstByteReadAloneThenTheRest) {
  Server server({"--trace"});
  Fd fd = server.connect();
  // The echo of "H" comes back before "ello" is sent: the server cannot have read them together.
  expectEcho(fd.get(), "H");
  expectEcho(fd.get(), "ello");
  fd.reset();
  ASSERT_TRUE(server.process().waitForStderr("closed: peer closed"))
      << server.process().stderrText();
  const std::vector<std::string> trace = traceLines(server.process().stderrText());
  const std::regex shape(R"(trace \d+\.\d{6} loop 0 fd \d+: .+)");
  for (const std::string& line : trace) EXPECT_TRUE(std::regex_match(line, shape)) << line;

  const long accepted = find(trace, "accepted from 127.0.0.1:");
  const long first = find(trace, "read 1 bytes: b'H'", accepted);
  const long echoed = find(trace, "sent 1 of 1 bytes", first);
  const long rest = find(trace, "read 4 bytes: b'ello'", echoed);
  const long eof = find(trace, "read 0 bytes: the peer shut down its sending side", rest);
  const long closed = find(trace, "closed: peer closed (5 bytes in, 5 out, 0 unsent dropped)", eof);
  EXPECT_GE(accepted, 0) << joined(trace);
  EXPECT_GT(first, accepted) << joined(trace);
  EXPECT_GT(echoed, first) << joined(trace);
  EXPECT_GT(rest, echoed) << joined(trace);
  EXPECT_GT(eof, rest) << joined(trace);
  EXPECT_GT(closed, eof) << joined(trace);
  EXPECT_NE(find(trace, "ready: readable"), -1) << joined(trace);
}

TEST(Trace, ChunkedClientIsReadInSeveralPieces) {
  Server server({"--trace"});
  // 300 ms between the three pieces: only a server stalled for the whole 600 ms would read
  // them in one go.
  ProcessResult r = runProgram(binaryFromEnv("REACTOR_CLIENT"),
                               {"--port", std::to_string(server.port()), "--chunk", "4", "--delay",
                                "300ms", "echo", "Hello, world"},
                               Millis(20000));
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out, "Received 'Hello, world'\n");
  ASSERT_TRUE(server.process().waitForStderr("closed:")) << server.process().stderrText();
  const std::vector<std::string> trace = traceLines(server.process().stderrText());
  const std::regex read(R"(.*: read [1-9]\d* bytes: b'(.*)')");
  std::string received;
  int reads = 0;
  for (const std::string& line : trace) {
    std::smatch m;
    if (!std::regex_match(line, m, read)) continue;
    received += m[1].str();
    ++reads;
  }
  EXPECT_EQ(received, "Hello, world") << joined(trace);
  EXPECT_GE(reads, 2) << joined(trace);
}

TEST(Trace, AppDecoderProgress) {
  Server server({"--trace", "--protocol", "app"});
  Fd fd = server.connect();
  const std::string request = jsonRequest("search", "morpheus");
  ASSERT_EQ(sendAll(fd.get(), request.substr(0, 1)), 0);
  ASSERT_TRUE(server.process().waitForStderr("app: incomplete, waiting: header length 1 of 2"))
      << server.process().stderrText();
  const size_t headerLength =
      static_cast<unsigned char>(request[0]) << 8 | static_cast<unsigned char>(request[1]);
  const size_t contentLength = request.size() - 2 - headerLength;
  // The header and one byte of content: the decoder holds the header and waits for the rest.
  ASSERT_EQ(sendAll(fd.get(), request.substr(1, 2 + headerLength)), 0);
  const std::string waiting = "app: incomplete, waiting: content 1 of " +
                              std::to_string(contentLength) + " bytes (header " +
                              std::to_string(headerLength) + " bytes)";
  ASSERT_TRUE(server.process().waitForStderr(waiting)) << server.process().stderrText();
  ASSERT_EQ(sendAll(fd.get(), request.substr(3 + headerLength)), 0);
  ReadMessageResult answer = readMessage(fd.get());
  ASSERT_TRUE(answer.message) << server.process().stderrText();
  EXPECT_TRUE(server.process().waitForStderr("app: whole message: header " +
                                             std::to_string(headerLength) + " bytes, content " +
                                             std::to_string(contentLength) + " bytes (text/json)"))
      << server.process().stderrText();
}

TEST(Trace, SlowReaderPausesAndResumesReading) {
  Server server({"--trace"});
  Fd fd = server.connect();
  // More than the 1 MiB high-water mark plus what the kernel buffers both ways (a few MiB on
  // loopback): with nothing read until the pause shows, the server must pause.
  const std::string payload = randomBytes(32 << 20, 3);
  int sendStatus = -1;
  std::thread sender([&] { sendStatus = sendAll(fd.get(), payload, Millis(60000)); });
  const bool paused = server.process().waitForStderr("reading paused:", Millis(30000));
  RecvResult got = recvExactly(fd.get(), payload.size(), Millis(60000));
  sender.join();
  ASSERT_TRUE(paused) << server.process().stderrText().substr(0, 4000);
  EXPECT_EQ(sendStatus, 0);
  ASSERT_TRUE(got.ok()) << toString(got.status);
  EXPECT_TRUE(got.data == payload);
  const std::vector<std::string> trace = traceLines(server.process().stderrText());
  const long on = find(trace, "write interest on: wait until the socket is writable");
  const long pause = find(trace, "reading paused: ", on);
  const long resume = find(trace, "reading resumed: ", pause);
  EXPECT_GE(on, 0);
  EXPECT_GT(pause, on);
  EXPECT_GT(resume, pause);
  EXPECT_NE(find(trace, "write interest off: output drained", resume), -1);
}

TEST(Trace, NothingWithoutTheFlag) {
  Server server;
  Fd fd = server.connect();
  expectEcho(fd.get(), "Hello, world");
  fd.reset();
  std::optional<int> code = server.stop();
  EXPECT_EQ(code, 0);
  EXPECT_EQ(server.process().stderrText().find("trace "), std::string::npos)
      << server.process().stderrText();
}

}  // namespace
}  // namespace servertest
