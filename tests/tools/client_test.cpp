// reactor-client, black-box, against the real reactor-server: the contract's exact output.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "fake_echo_server.h"
#include "support/process.h"

namespace toolstest {
namespace {

using testsupport::Millis;
using testsupport::ProcessResult;

ProcessResult client(std::vector<std::string> args) {
  auto r =
      testsupport::runProgram(testsupport::binaryFromEnv("REACTOR_CLIENT"), args, Millis(15000));
  r.err = withoutFaultNotice(r.err);
  return r;
}

std::vector<std::string> at(uint16_t port, std::vector<std::string> more) {
  std::vector<std::string> args{"--port", std::to_string(port)};
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

TEST(ClientTest, EchoPrintsTheDefaultMessage) {
  testsupport::ServerProcess server;
  auto r = client(at(server.port(), {"echo"}));
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out, "Received 'Hello, world'\n");
}

TEST(ClientTest, EchoPrintsTheGivenMessage) {
  testsupport::ServerProcess server;
  auto r = client(at(server.port(), {"echo", "the quick brown fox 🦊"}));
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out, "Received 'the quick brown fox 🦊'\n");
}

TEST(ClientTest, OptionsMayFollowTheSubcommand) {
  testsupport::ServerProcess server;
  auto r = client({"echo", "hi", "--port", std::to_string(server.port())});
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out, "Received 'hi'\n");
}

TEST(ClientTest, MultiConnectionClient) {
  testsupport::ServerProcess server;
  auto r = client(at(server.port(), {"--connections", "3", "echo"}));
  EXPECT_EQ(r.exitCode, 0) << r.err;
  for (int i = 1; i <= 3; ++i) {
    auto id = std::to_string(i);
    for (std::string line : {"Starting connection " + id + " to 127.0.0.1:",
                             "Sending 'Message 1 from client.' to connection " + id + "\n",
                             "Sending 'Message 2 from client.' to connection " + id + "\n",
                             "Received 'Message 1 from client.Message 2 from client.' from "
                             "connection " +
                                 id + "\n",
                             "Closing connection " + id + "\n"}) {
      EXPECT_NE(r.out.find(line), std::string::npos) << line << " in\n" << r.out;
    }
  }
  EXPECT_NE(r.out.find("3 of 3 connections"), std::string::npos) << r.out;
}

TEST(ClientTest, AppSearchResults) {
  testsupport::ServerProcess server({"--protocol", "app"});
  struct Case {
    std::string value;
    std::string out;
  };
  for (const auto& c :
       std::vector<Case>{{"morpheus", "got result: Follow the white rabbit. 🐰\n"},
                         {"ring", "got result: In the caves beneath the Misty Mountains. 💍\n"},
                         {"🐶", "got result: 🐾 Playing ball! 🏐\n"},
                         {"nothing", "got result: No match for \"nothing\".\n"}}) {
    auto r = client(at(server.port(), {"app", "search", c.value}));
    EXPECT_EQ(r.exitCode, 0) << r.err;
    EXPECT_EQ(r.out, c.out);
  }
}

TEST(ClientTest, AppOtherActionsSendBinaryRequests) {
  testsupport::ServerProcess server({"--protocol", "app"});
  auto r = client(at(server.port(), {"app", "double", "morpheus"}));
  EXPECT_EQ(r.exitCode, 0) << r.err;
  // The tutorial client sends action + value as bytes; the server answers with the first 10.
  EXPECT_EQ(r.out, "got response: b'First 10 bytes of request: doublemorp'\n");
}

TEST(ClientTest, RefusedConnectionNamesTheAddress) {
  uint16_t port = closedPort();
  for (const char* sub : {"echo", "app"}) {
    std::vector<std::string> args = at(port, {sub});
    if (std::string(sub) == "app") {
      args.push_back("search");
      args.push_back("x");
    }
    auto r = client(args);
    EXPECT_EQ(r.exitCode, 1);
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err, "reactor-client: cannot connect to 127.0.0.1:" + std::to_string(port) +
                         ": Connection refused\n");
  }
}

TEST(ClientTest, SilentServerTimesOut) {
  FakeEchoServer server(Fault::kSilent);
  auto r = client(at(server.port(), {"--timeout", "0.3", "echo"}));
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("within 0.3 s"), std::string::npos) << r.err;
  FakeEchoServer silent(Fault::kSilent);  // silent on its first connection only
  auto ms = client(at(silent.port(), {"--timeout", "300ms", "echo"}));
  EXPECT_EQ(ms.exitCode, 1);
  EXPECT_NE(ms.err.find("within 0.3 s (0 byte(s) received"), std::string::npos) << ms.err;
}

TEST(ClientTest, EchoAgainstTheAppServerSaysTheBytesAndTheLikelyCause) {
  testsupport::ServerProcess server({"--protocol", "app"});
  auto r = client(at(server.port(), {"--timeout", "500ms", "echo"}));
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("no complete answer from 127.0.0.1:" + std::to_string(server.port()) +
                       " within 0.5 s (0 byte(s) received, an echo of 12 bytes expected): the "
                       "server may speak another protocol\n"),
            std::string::npos)
      << r.err;
}

TEST(ClientTest, AppAgainstAnEchoServerIsAMismatch) {
  testsupport::ServerProcess server;  // echo: sends the request back, a well-formed message
  for (const char* action : {"search", "jump"}) {
    auto r = client(at(server.port(), {"app", action, "morpheus"}));
    EXPECT_EQ(r.exitCode, 1) << action;
    EXPECT_EQ(r.out, "") << action;
    EXPECT_NE(r.err.find("the answer is the request itself, sent back: the server may be an "
                         "echo server"),
              std::string::npos)
        << r.err;
  }
}

// The request for "search morpheus" is the 2-byte length, the 103-byte header
// {"byteorder": "little", "content-type": "text/json", ...} and the 41-byte content
// {"action": "search", "value": "morpheus"}. An echo server that corrupts one byte of it sends
// back a well-formed message that is neither the request nor an app server's answer.
TEST(ClientTest, AppAnswerThatNoAppServerSendsIsAMismatch) {
  {
    FakeEchoServer server(Fault::kCorruptByte, 2 + 103 + 2);  // "action" -> "?ction"
    auto r = client(at(server.port(), {"app", "search", "morpheus"}));
    EXPECT_EQ(r.exitCode, 1);
    EXPECT_EQ(r.out, "");
    EXPECT_NE(r.err.find("a text/json answer without the \"result\" or \"error\" key: the "
                         "server may speak another protocol"),
              std::string::npos)
        << r.err;
  }
  FakeEchoServer server(Fault::kCorruptByte, 43);  // "text/json" -> "?ext/json"
  auto r = client(at(server.port(), {"app", "search", "morpheus"}));
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("not the app server's binary/custom-server-binary-type: the server may "
                       "speak another protocol"),
            std::string::npos)
      << r.err;
}

TEST(ClientTest, UnknownSubcommandAndMisspelledFlagAreNamed) {
  auto frob = client({"frob"});
  EXPECT_EQ(frob.exitCode, 2);
  EXPECT_EQ(frob.err,
            "reactor-client: unknown subcommand 'frob' (accepted: echo, app; see reactor-client "
            "--help)\n");
  auto misspelled = client({"--conections", "2", "echo"});
  EXPECT_EQ(misspelled.exitCode, 2);
  EXPECT_EQ(misspelled.err,
            "reactor-client: unknown flag '--conections': did you mean --connections? (see "
            "reactor-client echo --help)\n");
  auto near = client({"ecoh"});
  EXPECT_NE(near.err.find("did you mean echo?"), std::string::npos) << near.err;
}

TEST(ClientTest, ShortFlags) {
  testsupport::ServerProcess server;
  auto r = client({"-p", std::to_string(server.port()), "-c", "2", "echo", "x"});
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.out.find("2 of 2 connections"), std::string::npos) << r.out;
}

TEST(ClientTest, EveryResolvedAddressIsTriedInTurn) {
  // A private mount namespace in which "multi.test" resolves to ::1 (sorted first, nothing
  // listens there) and then 127.0.0.1, where the server is.
  if (access("/usr/bin/unshare", X_OK) != 0) GTEST_SKIP() << "no unshare(1)";
  std::string hosts = ::testing::TempDir() + "client-test-hosts";
  std::ofstream(hosts) << "::1 multi.test\n127.0.0.2 multi.test\n";
  testsupport::ServerProcess server({"--host", "127.0.0.2"});
  std::string script = "mount --bind '" + hosts + "' /etc/hosts && exec \"$0\" \"$@\"";
  auto probe = testsupport::runProgram(
      "/usr/bin/unshare", {"-m", "sh", "-c", script, "getent", "ahosts", "multi.test"});
  if (probe.exitCode != 0 || probe.out.find("::1") == std::string::npos) {
    GTEST_SKIP() << "cannot give the client its own /etc/hosts: " << probe.err;
  }
  auto r = testsupport::runProgram(
      "/usr/bin/unshare",
      {"-m", "sh", "-c", script, testsupport::binaryFromEnv("REACTOR_CLIENT"), "--host",
       "multi.test", "--port", std::to_string(server.port()), "echo"},
      Millis(15000));
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out, "Received 'Hello, world'\n");
  EXPECT_NE(r.err.find("cannot connect to [::1]:" + std::to_string(server.port())),
            std::string::npos)
      << r.err;
  std::remove(hosts.c_str());
}

TEST(ClientTest, CorruptedEchoFails) {
  FakeEchoServer server(Fault::kCorruptByte, 2);
  auto r = client(at(server.port(), {"echo", "abcdef"}));
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("differs"), std::string::npos) << r.err;
}

TEST(ClientTest, BadFlagsExitTwoWithOneLine) {
  for (const auto& args : std::vector<std::vector<std::string>>{{"--port", "0", "echo"},
                                                                {"--port", "x", "echo"},
                                                                {"--nope", "echo"},
                                                                {"frobnicate"},
                                                                {},
                                                                {"app", "search"},
                                                                {"--timeout", "soon", "echo"}}) {
    auto r = client(args);
    EXPECT_EQ(r.exitCode, 2) << (args.empty() ? "" : args[0]);
    EXPECT_EQ(r.out, "");
    size_t newlines = 0;
    for (char ch : r.err) newlines += ch == '\n';
    EXPECT_EQ(newlines, 1U) << r.err;
  }
  auto r = client({"--port", "99999", "echo"});
  EXPECT_NE(r.err.find("99999"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("65535"), std::string::npos) << r.err;
}

TEST(ClientTest, HelpAndVersion) {
  auto help = client({"--help"});
  EXPECT_EQ(help.exitCode, 0);
  EXPECT_NE(help.out.find("echo"), std::string::npos);
  EXPECT_NE(help.out.find("app"), std::string::npos);
  auto sub = client({"app", "--help"});
  EXPECT_EQ(sub.exitCode, 0);
  EXPECT_NE(sub.out.find("ACTION"), std::string::npos);
  auto version = client({"--version"});
  EXPECT_EQ(version.exitCode, 0);
  EXPECT_EQ(version.out, "reactor-client 0.1.0\n");
}

}  // namespace
}  // namespace toolstest
