// Signals and threads against the real binary: SIGTERM/SIGINT shut down cleanly with a
// summary line, SIGUSR1 prints statistics, --threads serves many clients.
#include <signal.h>

#include <regex>

#include "helpers.h"

namespace servertest {
namespace {

using nlohmann::json;

const std::regex kSummary(
    R"(reactor-server: shut down: (\d+) connections served, (\d+) bytes in, (\d+) bytes out)");

std::vector<std::string> summaryLines(const std::string& err) {
  std::vector<std::string> found;
  for (const std::string& line : lines(err)) {
    if (line.find("connections served") != std::string::npos) found.push_back(line);
  }
  return found;
}

TEST(Lifecycle, SigtermPrintsOneSummaryLineAndExitsZero) {
  Server server;
  {
    Fd fd = server.connect();
    expectEcho(fd.get(), std::string(1000, 'e'));
  }
  Fd open = server.connect();
  expectEcho(open.get(), std::string(24, 'o'));
  EXPECT_EQ(server.stop(), 0);
  EXPECT_TRUE(waitForClose(open.get()));
  std::vector<std::string> found = summaryLines(server.process().stderrText());
  ASSERT_EQ(found.size(), 1u) << server.process().stderrText();
  std::smatch m;
  ASSERT_TRUE(std::regex_match(found[0], m, kSummary)) << found[0];
  EXPECT_EQ(m[1].str(), "2");
  EXPECT_EQ(m[2].str(), "1024");
  EXPECT_EQ(m[3].str(), "1024");
}

TEST(Lifecycle, SigintToo) {
  Server server;
  server.process().signal(SIGINT);
  EXPECT_EQ(server.process().wait(Millis(10000)), 0);
  EXPECT_EQ(summaryLines(server.process().stderrText()).size(), 1u);
}

TEST(Lifecycle, SigtermFinishesWritingWhatIsBuffered) {
  Server server;
  Fd fd = server.connect();
  // Fill the server's output for us without reading any of it.
  const std::string chunk(256 * 1024, 'b');
  size_t offered = 0;
  for (int i = 0; i < 64; ++i) {
    if (sendAll(fd.get(), chunk, Millis(300)) != 0) break;
    offered += chunk.size();
  }
  server.process().signal(SIGTERM);
  // Reading now, we get a prefix of what we sent (what the server had read and buffered),
  // then the end of the connection, and the server exits 0.
  RecvResult got = readUntilEof(fd.get(), Millis(10000));
  EXPECT_NE(got.status, RecvStatus::kTimeout);
  EXPECT_GT(got.data.size(), 0u);
  EXPECT_LE(got.data.size(), offered);
  EXPECT_EQ(got.data.find_first_not_of('b'), std::string::npos);
  EXPECT_EQ(server.process().wait(Millis(10000)), 0);
}

TEST(Lifecycle, SigtermForceClosesAReaderThatNeverReads) {
  // The buffered output can never be written: the flush is bounded, then the server closes
  // the connection and exits 0 anyway.
  Server server;
  Fd fd = server.connect();
  const std::string chunk(256 * 1024, 'n');
  for (int i = 0; i < 256; ++i) {
    if (sendAll(fd.get(), chunk, Millis(300)) != 0) break;
  }
  server.process().signal(SIGTERM);
  EXPECT_EQ(server.process().wait(Millis(15000)), 0);
  EXPECT_EQ(summaryLines(server.process().stderrText()).size(), 1u);
  EXPECT_TRUE(waitForHangup(fd.get(), Millis(5000)));
}

TEST(Lifecycle, SigusrOnePrintsJsonStatistics) {
  Server server;
  Fd fd = server.connect();
  expectEcho(fd.get(), "abcdef");
  server.process().signal(SIGUSR1);
  ASSERT_TRUE(server.process().waitForStderr("loop_iterations", Millis(5000)));
  std::string line;
  for (const std::string& l : lines(server.process().stderrText())) {
    if (l.find("loop_iterations") != std::string::npos) line = l;
  }
  json stats = json::parse(line);
  for (const char* key : {"backend", "open_connections", "accepted", "closed", "refused",
                          "bytes_in", "bytes_out", "loop_iterations", "events_per_wait"}) {
    EXPECT_TRUE(stats.contains(key)) << key << " missing in " << line;
  }
  if (!testBackend().empty()) {
    EXPECT_EQ(stats["backend"], testBackend());
  }
  EXPECT_EQ(stats["open_connections"], 1);
  EXPECT_EQ(stats["accepted"], 1);
  EXPECT_EQ(stats["bytes_in"], 6);
  EXPECT_EQ(stats["bytes_out"], 6);
  EXPECT_GT(stats["loop_iterations"].get<double>(), 0);
  // Still serving afterwards.
  expectEcho(fd.get(), "more");
  EXPECT_EQ(server.stop(), 0);
}

void serveManyClientsOnTwoThreads(const ProcessOptions& options) {
  constexpr size_t kClients = 400;
  ASSERT_GE(raiseFileLimit(kClients + 100), kClients + 100);
  Server server({"--threads", "2"}, options);
  std::vector<Fd> fds;
  std::vector<std::string> payloads;
  for (size_t i = 0; i < kClients; ++i) {
    fds.push_back(server.connect(loopbackSource(i + 7000)));
    payloads.push_back(randomBytes(100 + i, static_cast<uint32_t>(i)));
    ASSERT_EQ(sendAll(fds.back().get(), payloads.back()), 0);
  }
  for (size_t i = 0; i < kClients; ++i) {
    RecvResult got = recvExactly(fds[i].get(), payloads[i].size());
    ASSERT_TRUE(got.ok()) << i << ": " << toString(got.status);
    ASSERT_TRUE(got.data == payloads[i]) << i;
  }
  server.process().signal(SIGUSR1);
  ASSERT_TRUE(server.process().waitForStderr("loop_iterations", Millis(5000)));
  for (const std::string& l : lines(server.process().stderrText())) {
    if (l.find("loop_iterations") == std::string::npos) continue;
    json stats = json::parse(l);
    EXPECT_EQ(stats["accepted"], kClients);
    EXPECT_EQ(stats["open_connections"], kClients);
  }
  for (Fd& fd : fds) closeWithReset(fd);
  EXPECT_EQ(server.stop(), 0);
  std::vector<std::string> found = summaryLines(server.process().stderrText());
  ASSERT_EQ(found.size(), 1u);
  EXPECT_NE(found[0].find(std::to_string(kClients) + " connections served"), std::string::npos)
      << found[0];
}

TEST(Lifecycle, TwoThreadsServeManyClients) { serveManyClientsOnTwoThreads({}); }

TEST(Lifecycle, TwoThreadsServeManyClientsThroughHandOff) {
  // The path for kernels that do not balance SO_REUSEPORT: one acceptor, round-robin.
  ProcessOptions options;
  options.env = {"REACTOR_SERVER_HANDOFF=1"};
  serveManyClientsOnTwoThreads(options);
}

TEST(Lifecycle, TwoThreadsShareTheConnectionLimit) {
  Server server({"--threads", "2", "--max-connections", "4"});
  std::vector<Fd> fds;
  size_t served = 0;
  for (size_t i = 0; i < 8; ++i) {
    fds.push_back(server.connect(loopbackSource(i + 9000)));
    if (pingOrClosed(fds.back().get(), Millis(3000))) ++served;
  }
  EXPECT_EQ(served, 4u);
}

// The start-up warning under a low descriptor limit names how many connections fit: the
// descriptors really left once the server is set up, one per connection. Holding connections
// open one by one, as many as announced are served, and the next ones are refused.
TEST(Lifecycle, DescriptorWarningNamesTheConnectionsThatFit) {
  ProcessOptions options;
  options.fileLimit = 24;
  Server server({"--idle-timeout", "0"}, options);
  ASSERT_TRUE(server.process().waitForStderr("new ones will be refused", Millis(3000)))
      << server.process().stderrText();
  std::smatch m;
  const std::string err = server.process().stderrText();
  ASSERT_TRUE(std::regex_search(err, m, std::regex(R"(past about (\d+) connections)"))) << err;
  const size_t announced = std::stoul(m[1].str());
  std::vector<Fd> held;
  size_t served = 0;
  // Bounded: the limit is 24, so the loop ends well before 30 connections.
  for (size_t i = 0; i < 30; ++i) {
    Fd fd = server.connect();
    if (!pingOrClosed(fd.get())) break;
    ++served;
    held.push_back(std::move(fd));
  }
  EXPECT_EQ(served, announced) << err;
}

}  // namespace
}  // namespace servertest
