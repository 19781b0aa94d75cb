// The sockets tutorial's app protocol against the real binary, with a codec written
// independently in tests/support.
#include "helpers.h"

namespace servertest {
namespace {

using nlohmann::json;

class App : public ::testing::Test {
 protected:
  Server server{{"--protocol", "app", "--max-message-bytes", "1000"}};

  WireMessage ask(int fd, const std::string& request) {
    EXPECT_EQ(sendAll(fd, request), 0);
    ReadMessageResult r = readMessage(fd);
    EXPECT_TRUE(r.message) << toString(r.recv.status) << " errno " << r.recv.error;
    return r.message.value_or(WireMessage{});
  }

  static void expectJsonHeader(const WireMessage& m) {
    EXPECT_EQ(m.header.value("content-type", ""), "text/json");
    EXPECT_EQ(m.header.value("content-encoding", ""), "utf-8");
    EXPECT_TRUE(m.header.contains("byteorder"));
    EXPECT_EQ(m.header.value("content-length", -1), static_cast<int>(m.content.size()));
  }

  // Sends bad input: the one answer is {"error": ...}, then the connection closes; another
  // connection, open all along, is still served.
  void expectRefused(const std::string& bad) {
    Fd other = server.connect();
    Fd fd = server.connect();
    ASSERT_EQ(sendAll(fd.get(), bad), 0);
    ReadMessageResult r = readMessage(fd.get());
    ASSERT_TRUE(r.message) << toString(r.recv.status) << " errno " << r.recv.error;
    expectJsonHeader(*r.message);
    json body = r.message->json();
    ASSERT_TRUE(body.contains("error")) << body.dump();
    EXPECT_TRUE(body["error"].is_string());
    EXPECT_FALSE(body["error"].get<std::string>().empty());
    RecvResult rest = readUntilEof(fd.get());
    EXPECT_NE(rest.status, RecvStatus::kTimeout) << "the connection stayed open";
    EXPECT_EQ(rest.data, "");
    WireMessage ok = ask(other.get(), jsonRequest("search", "ring"));
    EXPECT_EQ(ok.json().value("result", ""), expectedSearchResult("ring"));
  }
};

TEST_F(App, SearchTable) {
  Fd fd = server.connect();
  for (const char* value : {"morpheus", "ring", "\xF0\x9F\x90\xB6", "neo", "", "\"quoted\""}) {
    WireMessage m = ask(fd.get(), jsonRequest("search", value));
    expectJsonHeader(m);
    EXPECT_EQ(m.json(), json({{"result", expectedSearchResult(value)}})) << value;
  }
}

TEST_F(App, ExactAnswerTexts) {
  Fd fd = server.connect();
  EXPECT_EQ(ask(fd.get(), jsonRequest("search", "morpheus")).json()["result"],
            "Follow the white rabbit. \xF0\x9F\x90\xB0");
  EXPECT_EQ(ask(fd.get(), jsonRequest("search", "xyz")).json()["result"], "No match for \"xyz\".");
}

TEST_F(App, UnknownAction) {
  Fd fd = server.connect();
  WireMessage m = ask(fd.get(), jsonRequest("delete", "morpheus"));
  expectJsonHeader(m);
  EXPECT_EQ(m.json(), json({{"result", "Error: invalid action \"delete\"."}}));
}

TEST_F(App, BinaryRequest) {
  Fd fd = server.connect();
  WireMessage m = ask(fd.get(), binaryRequest("0123456789abcdef"));
  EXPECT_EQ(m.header.value("content-type", ""), "binary/custom-server-binary-type");
  EXPECT_EQ(m.header.value("content-encoding", ""), "binary");
  EXPECT_EQ(m.header.value("content-length", -1), static_cast<int>(m.content.size()));
  EXPECT_EQ(m.content, "First 10 bytes of request: 0123456789");

  WireMessage shortOne = ask(fd.get(), binaryRequest(std::string("a\0b", 3), "image/png"));
  EXPECT_EQ(shortOne.content, std::string("First 10 bytes of request: a\0b", 30));
}

TEST_F(App, PipelinedRequestsAnsweredInOrder) {
  Fd fd = server.connect();
  const std::vector<std::string> values = {"morpheus", "ring", "\xF0\x9F\x90\xB6", "x"};
  std::string batch;
  constexpr int kRequests = 200;
  for (int i = 0; i < kRequests; ++i) {
    batch += i % 5 == 4 ? binaryRequest("bin" + std::to_string(i))
                        : jsonRequest("search", values[static_cast<size_t>(i) % 4] +
                                                    (i % 4 == 3 ? std::to_string(i) : ""));
  }
  ASSERT_EQ(sendAll(fd.get(), batch), 0);
  for (int i = 0; i < kRequests; ++i) {
    ReadMessageResult r = readMessage(fd.get());
    ASSERT_TRUE(r.message) << i;
    if (i % 5 == 4) {
      EXPECT_EQ(r.message->content, "First 10 bytes of request: bin" + std::to_string(i));
    } else {
      std::string v = values[static_cast<size_t>(i) % 4] + (i % 4 == 3 ? std::to_string(i) : "");
      EXPECT_EQ(r.message->json()["result"], expectedSearchResult(v)) << i;
    }
  }
}

TEST_F(App, OneByteAtATime) {
  Fd fd = server.connect();
  const std::string requests = jsonRequest("search", "morpheus") + binaryRequest("0123456789AB") +
                               jsonRequest("search", "ring");
  for (char c : requests) ASSERT_EQ(sendAll(fd.get(), std::string(1, c)), 0);
  ReadMessageResult a = readMessage(fd.get());
  ReadMessageResult b = readMessage(fd.get());
  ReadMessageResult c = readMessage(fd.get());
  ASSERT_TRUE(a.message && b.message && c.message);
  EXPECT_EQ(a.message->json()["result"], expectedSearchResult("morpheus"));
  EXPECT_EQ(b.message->content, "First 10 bytes of request: 0123456789");
  EXPECT_EQ(c.message->json()["result"], expectedSearchResult("ring"));
}

TEST_F(App, TutorialClientSendsOneRequestAndHalfCloses) {
  Fd fd = server.connect();
  ASSERT_EQ(sendAll(fd.get(), jsonRequest("search", "ring")), 0);
  shutdownWrite(fd.get());
  RecvResult all = readUntilEof(fd.get());
  ASSERT_EQ(all.status, RecvStatus::kEof);
  std::optional<WireMessage> m = takeMessage(all.data);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->json()["result"], expectedSearchResult("ring"));
  EXPECT_EQ(all.data, "");
}

TEST_F(App, IncompleteRequestThenHalfCloseIsClosedWithoutAnswer) {
  Fd fd = server.connect();
  const std::string request = jsonRequest("search", "ring");
  ASSERT_EQ(sendAll(fd.get(), request.substr(0, request.size() - 3)), 0);
  shutdownWrite(fd.get());
  RecvResult rest = readUntilEof(fd.get());
  EXPECT_EQ(rest.status, RecvStatus::kEof);
  EXPECT_EQ(rest.data, "");
}

TEST_F(App, ContentLengthAtTheLimitIsAccepted) {
  Fd fd = server.connect();
  WireMessage m = ask(fd.get(), binaryRequest(std::string(1000, 'z')));
  EXPECT_EQ(m.content, "First 10 bytes of request: zzzzzzzzzz");
}

TEST_F(App, ContentLengthOverTheLimitIsRefusedOnTheHeaderAlone) {
  // Only the header is sent: the answer must not wait for content.
  json header = {{"byteorder", "little"},
                 {"content-type", "binary/x"},
                 {"content-encoding", "binary"},
                 {"content-length", 1001}};
  expectRefused(frame(header.dump(), ""));
}

TEST_F(App, HeaderNotJson) { expectRefused(frame("this is not json", "")); }

TEST_F(App, HeaderNotAnObject) { expectRefused(frame("[1, 2, 3]", "")); }

TEST_F(App, MissingRequiredKey) {
  expectRefused(
      frame(R"({"byteorder":"little","content-type":"text/json","content-length":2})", "{}"));
}

TEST_F(App, MistypedRequiredKey) {
  expectRefused(frame(R"({"byteorder":"little","content-type":"text/json",)"
                      R"("content-encoding":"utf-8","content-length":"2"})",
                      "{}"));
}

TEST_F(App, NegativeContentLength) {
  expectRefused(frame(R"({"byteorder":"little","content-type":"text/json",)"
                      R"("content-encoding":"utf-8","content-length":-5})",
                      ""));
}

TEST_F(App, ContentNotJson) { expectRefused(encodeMessage("text/json", "utf-8", "{not json")); }

TEST_F(App, GoodRequestsBeforeBadInputAreAnsweredFirst) {
  Fd fd = server.connect();
  ASSERT_EQ(sendAll(fd.get(), jsonRequest("search", "ring") + frame("garbage", "") +
                                  jsonRequest("search", "morpheus")),
            0);
  ReadMessageResult first = readMessage(fd.get());
  ASSERT_TRUE(first.message);
  EXPECT_EQ(first.message->json()["result"], expectedSearchResult("ring"));
  ReadMessageResult second = readMessage(fd.get());
  ASSERT_TRUE(second.message);
  EXPECT_TRUE(second.message->json().contains("error"));
  RecvResult rest = readUntilEof(fd.get());
  EXPECT_NE(rest.status, RecvStatus::kTimeout);
  EXPECT_EQ(rest.data, "") << "nothing is answered after bad input";
}

}  // namespace
}  // namespace servertest
