// reactor-stress, black-box: against an independent echo server (tests/tools/fake_echo_server),
// against servers broken on purpose, and in app mode against the real reactor-server.
#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fake_echo_server.h"
#include "support/process.h"

namespace toolstest {
namespace {

using testsupport::Millis;
using testsupport::ProcessResult;

const Millis kRunLimit{30000};

ProcessResult stress(std::vector<std::string> args, const testsupport::ProcessOptions& opts = {}) {
  auto r =
      testsupport::runProgram(testsupport::binaryFromEnv("REACTOR_STRESS"), args, kRunLimit, opts);
  r.err = withoutFaultNotice(r.err);
  return r;
}

std::vector<std::string> target(uint16_t port, std::vector<std::string> more) {
  std::vector<std::string> args{"--host", "127.0.0.1", "--port", std::to_string(port)};
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

nlohmann::json parseJson(const ProcessResult& r) {
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  EXPECT_TRUE(j.is_object()) << "stdout is not one JSON object: " << r.out;
  return j;
}

void expectContractKeys(const nlohmann::json& j) {
  for (const char* key : {"connections", "messages_sent", "messages_verified", "bytes_sent",
                          "bytes_received", "errors", "elapsed_s", "msgs_per_s"}) {
    EXPECT_TRUE(j.contains(key) && j[key].is_number()) << key;
  }
  ASSERT_TRUE(j.contains("latency_us") && j["latency_us"].is_object());
  for (const char* key : {"p50", "p90", "p99", "p999", "max"}) {
    EXPECT_TRUE(j["latency_us"].contains(key) && j["latency_us"][key].is_number()) << key;
  }
}

size_t lines(const std::string& s) {
  size_t n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

TEST(StressTest, PassesAgainstAnIndependentEchoServer) {
  FakeEchoServer server;
  auto r = stress(target(server.port(), {"--connections", "20", "--messages", "50", "--size", "100",
                                         "--pipeline", "4", "--threads", "2", "--json"}));
  ASSERT_EQ(r.exitCode, 0) << r.err;
  auto j = parseJson(r);
  expectContractKeys(j);
  EXPECT_EQ(j["connections"], 20);
  EXPECT_EQ(j["messages_sent"], 1000);
  EXPECT_EQ(j["messages_verified"], 1000);
  EXPECT_EQ(j["bytes_sent"], 100000);
  EXPECT_EQ(j["bytes_received"], 100000);
  EXPECT_EQ(j["errors"], 0);
  EXPECT_GT(j["elapsed_s"].get<double>(), 0);
  EXPECT_GT(j["latency_us"]["max"].get<double>(), 0);
  EXPECT_LE(j["latency_us"]["p50"].get<double>(), j["latency_us"]["max"].get<double>());
  EXPECT_EQ(server.accepted(), 20U);
}

TEST(StressTest, PrintsAHumanSummaryWithUnits) {
  FakeEchoServer server;
  auto r = stress(target(server.port(), {"--connections", "3", "--messages", "10"}));
  ASSERT_EQ(r.exitCode, 0) << r.err;
  for (const char* s : {"connections", "3 of 3", "30 sent, 30 verified", "1920 B (1.9 KiB) sent",
                        "elapsed", " s\n", "msgs/s", "p50", "p99.9", "max", " us", "errors"}) {
    EXPECT_NE(r.out.find(s), std::string::npos) << s << " in\n" << r.out;
  }
  EXPECT_EQ(r.err, "");  // not a terminal: no progress line
}

TEST(StressTest, OpenLoopWithWarmupReportsRequestedAndAchievedRate) {
  FakeEchoServer server;
  auto r = stress(target(server.port(), {"--connections", "10", "--rate", "2000", "--duration",
                                         "0.5", "--warmup", "0.2", "--json"}));
  ASSERT_EQ(r.exitCode, 0) << r.err;
  auto j = parseJson(r);
  expectContractKeys(j);
  EXPECT_EQ(j["requested_rate"], 2000.0);
  EXPECT_TRUE(j.contains("achieved_rate"));
  EXPECT_GT(j["messages_sent"].get<uint64_t>(), 0U);
  EXPECT_EQ(j["messages_sent"], j["messages_verified"]);
}

TEST(StressTest, MessagesModeCountsOnlyMeasuredMessagesAfterWarmup) {
  FakeEchoServer server;
  auto r = stress(target(server.port(), {"--connections", "4", "--messages", "25", "--warmup",
                                         "0.2", "--pipeline", "2", "--json"}));
  ASSERT_EQ(r.exitCode, 0) << r.err;
  auto j = parseJson(r);
  EXPECT_EQ(j["messages_sent"], 100);
  EXPECT_EQ(j["messages_verified"], 100);
}

TEST(StressTest, CorruptedByteIsReportedWithOffsetExpectedAndActual) {
  FakeEchoServer server(Fault::kCorruptByte, 1234);
  auto r = stress(
      target(server.port(), {"--connections", "4", "--messages", "100", "--size", "64", "--json"}));
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("byte offset 1234"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("expected 0x"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("actual 0x"), std::string::npos) << r.err;
  auto j = parseJson(r);
  EXPECT_EQ(j["errors"], 1);
  EXPECT_EQ(j["errors_by_kind"]["verify"], 1);
}

TEST(StressTest, DroppedByteIsReported) {
  FakeEchoServer server(Fault::kDropByte, 300);
  auto r = stress(target(server.port(), {"--connections", "4", "--messages", "100", "--size", "64",
                                         "--pipeline", "4", "--timeout", "3"}));
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("echo mismatch at byte offset 300"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("expected"), std::string::npos) << r.err;
}

TEST(StressTest, ExtraByteIsReported) {
  FakeEchoServer server(Fault::kDuplicateByte, 63);  // the last byte of the first message
  auto r = stress(target(server.port(), {"--connections", "1", "--messages", "2", "--size", "64"}));
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("1 more byte(s) than were sent to it (at stream offset 64)"),
            std::string::npos)
      << r.err;
}

TEST(StressTest, DroppedByteWithNothingBehindItTimesOut) {
  FakeEchoServer server(Fault::kDropByte, 63);  // the last byte of the first message
  auto r = stress(target(server.port(), {"--connections", "2", "--messages", "5", "--size", "64",
                                         "--timeout", "0.5", "--json"}));
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("63 of 64 bytes"), std::string::npos) << r.err;
  EXPECT_EQ(parseJson(r)["errors_by_kind"]["timeout"], 1);
}

TEST(StressTest, EarlyCloseIsReported) {
  FakeEchoServer server(Fault::kCloseEarly, 500);
  auto r = stress(target(server.port(), {"--connections", "3", "--messages", "100", "--json"}));
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("closed the connection early"), std::string::npos) << r.err;
  // A FIN, or a reset when the close found unread bytes (short writes in fault runs).
  auto j = parseJson(r);
  EXPECT_EQ(j["errors"], 1);
  EXPECT_EQ(j["errors_by_kind"]["closed"].get<int>() + j["errors_by_kind"]["reset"].get<int>(), 1);
}

TEST(StressTest, SilentServerTimesOut) {
  FakeEchoServer server(Fault::kSilent);
  auto r = stress(target(server.port(), {"--connections", "1", "--timeout", "0.3"}));
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("nothing moved"), std::string::npos) << r.err;
}

TEST(StressTest, RefusedConnectionsFail) {
  uint16_t port = closedPort();
  auto r = stress(target(port, {"--connections", "5", "--json"}));
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("127.0.0.1:" + std::to_string(port)), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("refused"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("only 0 of 5 connections"), std::string::npos) << r.err;
  auto j = parseJson(r);
  EXPECT_EQ(j["connections"], 0);
  EXPECT_EQ(j["errors_by_kind"]["refused"], 5);
}

TEST(StressTest, BadFlagsExitTwoWithOneLineNamingTheValue) {
  struct Case {
    std::vector<std::string> args;
    std::string mention;
  };
  std::vector<Case> cases = {
      {{"--connections", "0"}, "'0'"},
      {{"--connections", "many"}, "'many'"},
      {{"--protocol", "http"}, "'http'"},
      {{"--pipeline", "-1"}, "-1"},
      {{"--rate", "fast"}, "'fast'"},
      {{"--bogus"}, "--bogus"},
      {{"--backend", "nosuch"}, "nosuch"},
      {{"--port", "70000"}, "70000"},
      {{"--size", "0"}, "'0'"},
  };
  for (const auto& c : cases) {
    auto r = stress(c.args);
    EXPECT_EQ(r.exitCode, 2) << c.args[0];
    EXPECT_EQ(lines(r.err), 1U) << r.err;
    EXPECT_NE(r.err.find(c.mention), std::string::npos) << r.err;
    EXPECT_EQ(r.out, "");
  }
  auto r = stress({"--backend", "nosuch"});
  EXPECT_NE(r.err.find("epoll"), std::string::npos) << "lists the backends: " << r.err;
}

TEST(StressTest, HelpAndVersion) {
  auto help = stress({"--help"});
  EXPECT_EQ(help.exitCode, 0);
  for (const char* flag : {"--connections", "--messages", "--size", "--duration", "--rate",
                           "--pipeline", "--protocol", "--backend", "--threads", "--json",
                           "--connect-rate", "--source-addresses", "--warmup", "--idle"}) {
    EXPECT_NE(help.out.find(flag), std::string::npos) << flag;
  }
  auto version = stress({"--version"});
  EXPECT_EQ(version.exitCode, 0);
  EXPECT_EQ(version.out, "reactor-stress 0.1.0\n");
}

TEST(StressTest, IdleModeHoldsConnections) {
  FakeEchoServer server;
  auto r = stress(
      target(server.port(), {"--idle", "--connections", "30", "--duration", "0.3", "--json"}));
  ASSERT_EQ(r.exitCode, 0) << r.err;
  auto j = parseJson(r);
  EXPECT_EQ(j["connections"], 30);
  EXPECT_EQ(j["messages_sent"], 0);
  EXPECT_NE(r.err.find("holding 30 connections"), std::string::npos) << r.err;
}

TEST(StressTest, IdleModeReportsAServerThatClosesConnections) {
  FakeEchoServer server(Fault::kCloseOnAccept);
  auto r = stress(target(server.port(), {"--idle", "--connections", "3", "--duration", "0.3"}));
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("the server closed the connection while idle"), std::string::npos) << r.err;
}

TEST(StressTest, SourceAddressesSpreadConnectionsOver127Slash8) {
  FakeEchoServer server;
  auto r = stress(target(server.port(), {"--connections", "12", "--messages", "5",
                                         "--source-addresses", "3", "--connect-rate", "500"}));
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(server.peerHosts(), (std::set<std::string>{"127.0.0.1", "127.0.0.2", "127.0.0.3"}));
}

TEST(StressTest, RefusesMoreConnectionsThanTheDescriptorLimit) {
  testsupport::ProcessOptions opts;
  opts.fileLimit = 256;
  auto r = stress(target(closedPort(), {"--connections", "1000"}), opts);
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("file descriptors"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("256"), std::string::npos) << r.err;
}

TEST(StressTest, AppModeAgainstTheRealServer) {
  testsupport::ServerProcess server({"--protocol", "app"});
  auto r = stress(target(server.port(), {"--protocol", "app", "--connections", "8", "--messages",
                                         "40", "--pipeline", "3", "--size", "50", "--json"}));
  ASSERT_EQ(r.exitCode, 0) << r.err;
  auto j = parseJson(r);
  expectContractKeys(j);
  EXPECT_EQ(j["messages_sent"], 320);
  EXPECT_EQ(j["messages_verified"], 320);
  EXPECT_EQ(j["errors"], 0);
}

TEST(StressTest, ConnectionsTheServerRefusesPastItsLimitAreReported) {
  testsupport::ServerProcess server({"--max-connections", "5"});
  auto r = stress(target(server.port(), {"--connections", "8", "--messages", "5", "--json"}));
  EXPECT_EQ(r.exitCode, 1);
  auto j = parseJson(r);
  // The server closes them at once, perhaps with a reset, perhaps before traffic begins.
  EXPECT_EQ(j["errors"], 3);
  EXPECT_EQ(j["errors_by_kind"]["closed"].get<int>() + j["errors_by_kind"]["reset"].get<int>(), 3);
  EXPECT_NE(r.err.find("failed: 3 error(s)"), std::string::npos) << r.err;
  EXPECT_EQ(j["messages_verified"], 25);
}

TEST(StressTest, EveryBackendOfThisBuild) {
  FakeEchoServer server;
  const char* env = std::getenv("REACTOR_BUILT_BACKENDS");
  std::string list = env != nullptr ? env : "";
  ASSERT_FALSE(list.empty());
  size_t from = 0;
  while (from <= list.size()) {
    size_t comma = std::min(list.find(',', from), list.size());
    std::string backend = list.substr(from, comma - from);
    from = comma + 1;
    auto r = stress(target(server.port(), {"--backend", backend, "--connections", "10",
                                           "--messages", "20", "--pipeline", "2", "--json"}));
    ASSERT_EQ(r.exitCode, 0) << backend << ": " << r.err;
    auto j = parseJson(r);
    EXPECT_EQ(j["backend"], backend);
    EXPECT_EQ(j["messages_verified"], 200);
  }
}

TEST(StressTest, SurvivesInjectedShortReadsAndWritesEintrAndEagain) {
  FakeEchoServer server;
  testsupport::ProcessOptions opts;
  opts.env = {"REACTOR_FAULT_SEED=12345"};
  for (const char* protocol : {"echo", "app"}) {
    std::unique_ptr<testsupport::ServerProcess> app;
    uint16_t port = server.port();
    if (std::string(protocol) == "app") {
      app = std::make_unique<testsupport::ServerProcess>(
          std::vector<std::string>{"--protocol", "app"});
      port = app->port();
    }
    auto r = stress(target(port, {"--protocol", protocol, "--connections", "6", "--messages", "30",
                                  "--size", "3000", "--pipeline", "3", "--json"}),
                    opts);
    ASSERT_EQ(r.exitCode, 0) << protocol << ": " << r.err;
    EXPECT_EQ(parseJson(r)["messages_verified"], 180);
  }
}

TEST(StressTest, AppModeChecksEveryAnswer) {
  FakeEchoServer server;  // echoes the requests back: never a valid answer
  auto r =
      stress(target(server.port(), {"--protocol", "app", "--connections", "2", "--messages", "3"}));
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("answer 0"), std::string::npos) << r.err;
}

TEST(StressTest, EchoAgainstTheRealServerOnEveryThreadCount) {
  testsupport::ServerProcess server({"--threads", "2"});
  for (const char* threads : {"1", "3"}) {
    auto r = stress(target(server.port(), {"--connections", "30", "--messages", "30", "--pipeline",
                                           "2", "--size", "1000", "--threads", threads, "--json"}));
    ASSERT_EQ(r.exitCode, 0) << r.err;
    EXPECT_EQ(parseJson(r)["messages_verified"], 900);
  }
}

}  // namespace
}  // namespace toolstest
