// The command line: --help, --version, bad flags and values, unknown backends, the
// listening line, and an address already in use.
#include <regex>

#include "helpers.h"

namespace servertest {
namespace {

ProcessResult runServer(const std::vector<std::string>& args) {
  return runProgram(binaryFromEnv("REACTOR_SERVER"), args, Millis(10000));
}

TEST(ServerCli, HelpGoesToStdoutAndExitsZero) {
  ProcessResult r = runServer({"--help"});
  EXPECT_EQ(r.exitCode, 0);
  EXPECT_EQ(r.err, "");
  for (const char* flag :
       {"--host", "--port", "--backend", "--protocol", "--threads", "--max-connections",
        "--idle-timeout", "--backlog", "--max-message-bytes", "--log-level", "--version"}) {
    EXPECT_NE(r.out.find(flag), std::string::npos) << flag;
  }
}

TEST(ServerCli, VersionGoesToStdoutAndExitsZero) {
  ProcessResult r = runServer({"--version"});
  EXPECT_EQ(r.exitCode, 0);
  EXPECT_EQ(r.out, "reactor-server 0.1.0\n");
  EXPECT_EQ(r.err, "");
}

struct BadArgs {
  std::vector<std::string> args;
  std::string named;     // the bad value or flag the line must name
  std::string accepted;  // something of the accepted values, if the line must list them
};

class ServerBadArgs : public ::testing::TestWithParam<BadArgs> {};

TEST_P(ServerBadArgs, OneLineOnStderrAndExitTwo) {
  const BadArgs& bad = GetParam();
  ProcessResult r = runServer(bad.args);
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_EQ(r.out, "");
  ASSERT_EQ(lines(r.err).size(), 1u) << r.err;
  EXPECT_NE(r.err.find(bad.named), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(bad.accepted), std::string::npos) << r.err;
}

INSTANTIATE_TEST_SUITE_P(
    Values, ServerBadArgs,
    ::testing::Values(BadArgs{{"--port", "70000"}, "70000", "65535"},
                      BadArgs{{"--port", "abc"}, "abc", "65535"},
                      BadArgs{{"--port", "-1"}, "-1", "65535"},
                      BadArgs{{"--threads", "0"}, "'0'", "1 to"},
                      BadArgs{{"--max-connections", "lots"}, "lots", "k (1000) or M"},
                      BadArgs{{"--idle-timeout", "-5"}, "-5", "whole number of seconds"},
                      BadArgs{{"--idle-timeout", "500ms"}, "'500ms'", "10s, 2m, 1h"},
                      BadArgs{{"--backlog", "x"}, "'x'", "whole number"},
                      BadArgs{{"--max-message-bytes", "1e3"}, "1e3", "KiB, MiB, GiB"},
                      BadArgs{{"--max-message-bytes", "2KB"},
                              "--max-message-bytes: invalid "
                              "value '2KB' (accepted: a byte count",
                              "KiB"},
                      BadArgs{{"--thraeds", "2"}, "'--thraeds': did you mean --threads?", ""},
                      BadArgs{{"--protocol", "http"}, "http", "echo|app"},
                      BadArgs{{"--log-level", "loud"}, "loud", "error|warn|info|debug"},
                      BadArgs{{"--backend", "iocp"}, "iocp", "epoll"},
                      BadArgs{{"--frobnicate"}, "--frobnicate", ""},
                      BadArgs{{"--port"}, "--port", ""}, BadArgs{{"stray"}, "stray", ""}));

TEST(ServerCli, ValuesTakeUnitsAndShortFlagsWork) {
  Process p(binaryFromEnv("REACTOR_SERVER"),
            {"-p", "0", "-t", "2", "--idle-timeout", "2m", "--max-message-bytes", "64KiB",
             "--backlog", "1k", "--max-connections", "10k", "--protocol", "app"});
  std::optional<std::string> line = p.readLine(Millis(10000));
  ASSERT_TRUE(line) << p.stderrText();
  EXPECT_NE(line->find("protocol=app"), std::string::npos) << *line;
}

TEST(ServerCli, BadReactorBackendVariableIsNamed) {
  ProcessOptions options;
  options.env = {"REACTOR_BACKEND=bogus"};
  ProcessResult r =
      runProgram(binaryFromEnv("REACTOR_SERVER"), {"--port", "0"}, Millis(10000), options);
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_EQ(r.out, "");
  ASSERT_EQ(lines(r.err).size(), 1u) << r.err;
  EXPECT_NE(r.err.find("reactor-server: REACTOR_BACKEND: invalid value 'bogus' (accepted: "),
            std::string::npos)
      << r.err;
}

TEST(ServerCli, HelpListsOnlyTheBuiltBackends) {
  ProcessResult r = runServer({"--help"});
  std::string built = binaryFromEnv("REACTOR_BUILT_BACKENDS");
  std::string choices = "auto|";
  for (char c : built) choices += c == ',' ? '|' : c;
  EXPECT_NE(r.out.find("--backend " + choices + "=auto"), std::string::npos) << r.out;
  for (std::string name : {"epoll", "kqueue", "poll", "select"}) {
    if (("," + built + ",").find("," + name + ",") != std::string::npos) continue;
    EXPECT_EQ(r.out.find(name), std::string::npos) << name << " is not built:\n" << r.out;
  }
}

TEST(ServerCli, ImplausibleFirstHeaderLengthIsLoggedAtDebugLevel) {
  Server server({"--protocol", "app", "--log-level", "debug"});
  Fd fd = server.connect();
  ASSERT_TRUE(fd);
  ASSERT_EQ(::write(fd.get(), "Hello", 5), 5);
  EXPECT_TRUE(server.process().waitForStderr("read as a header length of 18533", Millis(10000)))
      << server.process().stderrText();
}

// The same when the first read holds only "H": the header length is read on the second one.
TEST(ServerCli, ImplausibleHeaderLengthSplitOverTwoReadsIsLoggedToo) {
  Server server({"--protocol", "app", "--log-level", "debug", "--trace"});
  Fd fd = server.connect();
  ASSERT_TRUE(fd);
  ASSERT_EQ(::write(fd.get(), "H", 1), 1);
  ASSERT_TRUE(server.process().waitForStderr("read 1 bytes: b'H'", Millis(10000)))
      << server.process().stderrText();
  ASSERT_EQ(::write(fd.get(), "ello", 4), 4);
  EXPECT_TRUE(server.process().waitForStderr("read as a header length of 18533", Millis(10000)))
      << server.process().stderrText();
}

TEST(ServerCli, UnbuiltBackendIsRefusedWithTheAvailableOnes) {
  // A known name this build lacks (kqueue on Linux, epoll on BSD/macOS). Meson passes the
  // built ones as REACTOR_BUILT_BACKENDS="epoll,poll,select".
  const std::string built = "," + binaryFromEnv("REACTOR_BUILT_BACKENDS") + ",";
  for (std::string name : {"epoll", "kqueue", "poll", "select"}) {
    if (built.find("," + name + ",") != std::string::npos) continue;
    ProcessResult r = runServer({"--backend", name, "--port", "0"});
    EXPECT_EQ(r.exitCode, 2);
    EXPECT_EQ(r.out, "");
    ASSERT_EQ(lines(r.err).size(), 1u) << r.err;
    EXPECT_NE(r.err.find(name), std::string::npos) << r.err;
    for (size_t start = 1, comma; (comma = built.find(',', start)) != std::string::npos;
         start = comma + 1) {
      EXPECT_NE(r.err.find(built.substr(start, comma - start)), std::string::npos) << r.err;
    }
    return;
  }
  GTEST_SKIP() << "every backend is built here";
}

TEST(ServerCli, ListeningLineNamesTheRealPortBackendAndProtocol) {
  for (const char* protocol : {"echo", "app"}) {
    Server server({"--protocol", protocol});
    std::smatch m;
    const std::string line = server.listeningLine();
    ASSERT_TRUE(std::regex_match(line, m,
                                 std::regex(R"(listening on 127\.0\.0\.1:(\d+) backend=(\w+) )"
                                            R"(protocol=(\w+))")))
        << line;
    EXPECT_NE(m[1].str(), "0");
    if (!testBackend().empty()) {
      EXPECT_EQ(m[2].str(), testBackend());
    }
    EXPECT_EQ(m[3].str(), protocol);
    Fd fd = server.connect();
    EXPECT_TRUE(fd);
  }
}

TEST(ServerCli, AutoBackendIsTheBestBuilt) {
  Process p(binaryFromEnv("REACTOR_SERVER"), {"--port", "0"});
  std::optional<std::string> line = p.readLine(Millis(10000));
  ASSERT_TRUE(line);
#ifdef __linux__
  EXPECT_NE(line->find("backend=epoll"), std::string::npos) << *line;
#endif
}

TEST(ServerCli, Ipv6HostIsPrintedInBrackets) {
  Process p(binaryFromEnv("REACTOR_SERVER"), {"--host", "::1", "--port", "0"});
  std::optional<std::string> line = p.readLine(Millis(10000));
  if (!line) GTEST_SKIP() << "no IPv6 loopback here: " << p.stderrText();
  EXPECT_TRUE(
      std::regex_match(*line, std::regex(R"(listening on \[::1\]:\d+ backend=\w+ protocol=echo)")))
      << *line;
}

TEST(ServerCli, AddressInUseNamesTheAddressAndExitsOne) {
  Server first;
  const std::string address = "127.0.0.1:" + std::to_string(first.port());
  ProcessResult r = runServer({"--port", std::to_string(first.port())});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find(address), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("in use"), std::string::npos) << r.err;
}

TEST(ServerCli, AddressInUseWithThreadsToo) {
  // Two multi-threaded servers (both SO_REUSEPORT) must not share a port either.
  Server first({"--threads", "2"});
  ProcessResult r = runServer({"--port", std::to_string(first.port()), "--threads", "2"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("127.0.0.1:" + std::to_string(first.port())), std::string::npos) << r.err;
}

TEST(ServerCli, UnbindableAddressExitsOne) {
  // 192.0.2.1 (TEST-NET-1) is not an address of this host.
  ProcessResult r = runServer({"--host", "192.0.2.1", "--port", "0"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("192.0.2.1"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace servertest
