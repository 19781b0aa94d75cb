// reactor-client, black-box, against the real reactor-server: the contract's exact output.
#include <gtest/gtest.h>

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
