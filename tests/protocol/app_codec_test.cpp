#include "reactor/app_codec.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace reactor::app {
namespace {

// A raw frame: 2-byte big-endian length, the header text as given, the content.
std::string frame(const std::string& header, const std::string& content = "") {
  std::string out;
  out += static_cast<char>(header.size() >> 8);
  out += static_cast<char>(header.size() & 0xff);
  return out + header + content;
}

std::string header(const std::string& length, const std::string& type = "\"text/json\"") {
  return R"({"byteorder": "little", "content-type": )" + type +
         R"(, "content-encoding": "utf-8", "content-length": )" + length + "}";
}

struct Fed {
  std::vector<Message> messages;
  DecodeStatus last = DecodeStatus::kNeedMore;
  std::string error;
};

// Feeds `bytes` in chunks of `step` bytes, taking every message as it completes.
Fed feed(Decoder& decoder, const std::string& bytes, size_t step) {
  Fed fed;
  Buffer in;
  for (size_t pos = 0; pos < bytes.size(); pos += step) {
    in.append(std::string_view(bytes).substr(pos, step));
    Message m;
    while ((fed.last = decoder.decode(in, &m)) == DecodeStatus::kMessage) {
      fed.messages.push_back(m);
    }
    if (fed.last == DecodeStatus::kError) {
      fed.error = decoder.error();
      break;
    }
  }
  return fed;
}

std::string decodeError(const std::string& bytes, size_t limit = 1 << 20) {
  Decoder decoder(limit);
  const Fed fed = feed(decoder, bytes, bytes.size());
  EXPECT_EQ(fed.last, DecodeStatus::kError);
  EXPECT_TRUE(fed.messages.empty());
  return fed.error;
}

TEST(AppEncode, RequestBytesMatchTheTutorialClient) {
  const std::string content = R"({"action": "search", "value": "morpheus"})";
  EXPECT_EQ(makeRequest("search", "morpheus").content, content);
  const std::string expected =
      frame(R"({"byteorder": "little", "content-type": "text/json", "content-encoding": "utf-8", )"
            R"("content-length": 41})",
            content);
  EXPECT_EQ(encode(makeRequest("search", "morpheus")), expected);
  EXPECT_EQ(encodeJson(content), expected);
}

TEST(AppEncode, EncodeIntoBufferAppends) {
  Buffer out;
  out.append("x");
  encode(Message{"binary/x", "binary", "big", "abc"}, out);
  EXPECT_EQ(out.view(), "x" + frame(R"({"byteorder": "big", "content-type": "binary/x", )"
                                    R"("content-encoding": "binary", "content-length": 3})",
                                    "abc"));
}

TEST(AppDecode, RoundTrip) {
  const Message sent{"application/octet-stream", "binary", "little", std::string("\0\1\2\xff", 4)};
  Decoder decoder;
  const Fed fed = feed(decoder, encode(sent), 1 << 20);
  ASSERT_EQ(fed.messages.size(), 1u);
  EXPECT_EQ(fed.last, DecodeStatus::kNeedMore);
  const Message& got = fed.messages[0];
  EXPECT_EQ(got.contentType, sent.contentType);
  EXPECT_EQ(got.contentEncoding, sent.contentEncoding);
  EXPECT_EQ(got.byteorder, sent.byteorder);
  EXPECT_EQ(got.content, sent.content);
}

TEST(AppDecode, OneByteAtATimeAndPipelined) {
  std::string stream;
  for (int i = 0; i < 5; ++i) stream += encode(makeRequest("search", "v" + std::to_string(i)));
  stream += encode(Message{"text/json", "utf-8", "little", ""});  // empty content
  for (const size_t step : {size_t{1}, size_t{2}, size_t{7}, stream.size()}) {
    Decoder decoder;
    const Fed fed = feed(decoder, stream, step);
    ASSERT_EQ(fed.messages.size(), 6u) << "step " << step;
    EXPECT_EQ(fed.last, DecodeStatus::kNeedMore);
    for (int i = 0; i < 5; ++i) {
      EXPECT_EQ(fed.messages[i].content, makeRequest("search", "v" + std::to_string(i)).content);
    }
    EXPECT_EQ(fed.messages[5].content, "");
  }
}

TEST(AppDecode, HeaderIsConsumedBeforeContentArrives) {
  Decoder decoder;
  Buffer in;
  in.append(frame(header("5")));
  Message m;
  EXPECT_EQ(decoder.decode(in, &m), DecodeStatus::kNeedMore);
  EXPECT_TRUE(in.empty());
  in.append("ab");
  EXPECT_EQ(decoder.decode(in, &m), DecodeStatus::kNeedMore);
  EXPECT_EQ(in.readableBytes(), 2u);
  in.append("cdeTAIL");
  ASSERT_EQ(decoder.decode(in, &m), DecodeStatus::kMessage);
  EXPECT_EQ(m.content, "abcde");
  EXPECT_EQ(in.view(), "TAIL");
}

TEST(AppDecode, LimitIsCheckedOnTheHeaderAlone) {
  for (const std::string length : {"5000000", "9223372036854775808", "18446744073709551615"}) {
    Decoder decoder;
    Buffer in;
    in.append(frame(header(length)));  // no content at all
    Message m;
    EXPECT_EQ(decoder.decode(in, &m), DecodeStatus::kError);
    EXPECT_EQ(decoder.error(), "content-length " + length + " exceeds limit 1048576");
  }
}

TEST(AppDecode, ContentAtTheLimitIsAccepted) {
  Decoder decoder(10);
  const Fed fed = feed(decoder, frame(header("10"), "0123456789"), 3);
  ASSERT_EQ(fed.messages.size(), 1u);
  EXPECT_EQ(decodeError(frame(header("11"), "0123456789x"), 10),
            "content-length 11 exceeds limit 10");
}

TEST(AppDecode, Errors) {
  EXPECT_EQ(decodeError(std::string("\0\0", 2)), "header length is 0");
  EXPECT_EQ(decodeError(frame("{not json")), "header is not valid JSON");
  EXPECT_EQ(decodeError(frame("{\"a\": \"\xff\"}")), "header is not valid JSON");
  EXPECT_EQ(decodeError(frame("[1, 2]")), "header is not a JSON object");
  EXPECT_EQ(decodeError(frame("42")), "header is not a JSON object");
  EXPECT_EQ(decodeError(frame(header("-5"))), "content-length -5 is negative");
  EXPECT_EQ(decodeError(frame(header("1.5"))), "header \"content-length\" must be an integer");
  EXPECT_EQ(decodeError(frame(header("1e30"))), "header \"content-length\" must be an integer");
  EXPECT_EQ(decodeError(frame(header("\"5\""))), "header \"content-length\" must be an integer");
  EXPECT_EQ(decodeError(frame(header("5", "7"))), "header \"content-type\" must be a string");
  EXPECT_EQ(decodeError(frame(R"({"content-type": "a", "content-encoding": "b",)"
                              R"( "content-length": 0})")),
            "missing required header \"byteorder\"");
  EXPECT_EQ(decodeError(frame(R"({"byteorder": "little", "content-type": "a",)"
                              R"( "content-encoding": "b"})")),
            "missing required header \"content-length\"");
  EXPECT_EQ(decodeError(frame(R"({"byteorder": "little", "content-encoding": "b",)"
                              R"( "content-length": 0})")),
            "missing required header \"content-type\"");
  EXPECT_EQ(decodeError(frame(R"({"byteorder": "little", "content-type": "a",)"
                              R"( "content-length": 0})")),
            "missing required header \"content-encoding\"");
  EXPECT_EQ(decodeError(frame(R"({"byteorder": 1, "content-type": "a",)"
                              R"( "content-encoding": "b", "content-length": 0})")),
            "header \"byteorder\" must be a string");
}

TEST(AppDecode, ErrorIsStickyAndLeavesTheBufferAlone) {
  Decoder decoder;
  Buffer in;
  const std::string bad = frame("[]") + encode(makeRequest("search", "ring"));
  in.append(bad);
  Message m;
  EXPECT_EQ(decoder.decode(in, &m), DecodeStatus::kError);
  EXPECT_EQ(decoder.decode(in, &m), DecodeStatus::kError);
  EXPECT_EQ(in.view(), bad);
}

TEST(AppDecode, GoodMessagesBeforeABadOneAreDelivered) {
  Decoder decoder;
  const Fed fed = feed(decoder, encode(makeRequest("a", "b")) + frame("nope"), 1);
  EXPECT_EQ(fed.messages.size(), 1u);
  EXPECT_EQ(fed.error, "header is not valid JSON");
}

Message request(const std::string& action, const std::string& value) {
  return makeRequest(action, value);
}

std::string answerOf(const Message& req) {
  std::string error;
  const auto answer = respond(req, &error);
  EXPECT_TRUE(answer.has_value()) << error;
  if (!answer) return {};
  EXPECT_EQ(answer->contentType, "text/json");
  EXPECT_EQ(answer->contentEncoding, "utf-8");
  return answer->content;
}

TEST(AppRespond, SearchTable) {
  EXPECT_EQ(answerOf(request("search", "morpheus")),
            "{\"result\": \"Follow the white rabbit. \xF0\x9F\x90\xB0\"}");
  EXPECT_EQ(answerOf(request("search", "ring")),
            "{\"result\": \"In the caves beneath the Misty Mountains. \xF0\x9F\x92\x8D\"}");
  EXPECT_EQ(answerOf(request("search", "\xF0\x9F\x90\xB6")),
            "{\"result\": \"\xF0\x9F\x90\xBE Playing ball! \xF0\x9F\x8F\x90\"}");
  EXPECT_EQ(answerOf(request("search", "neo")), R"({"result": "No match for \"neo\"."})");
  EXPECT_EQ(answerOf(request("find", "x")), R"({"result": "Error: invalid action \"find\"."})");
}

TEST(AppRespond, ContentErrors) {
  const auto errorOf = [](const std::string& content) {
    std::string error;
    EXPECT_FALSE(respond(Message{"text/json", "utf-8", "little", content}, &error).has_value());
    return error;
  };
  EXPECT_EQ(errorOf("{"), "content is not valid JSON");
  EXPECT_EQ(errorOf(""), "content is not valid JSON");
  EXPECT_EQ(errorOf("[]"), "content is not a JSON object");
  EXPECT_EQ(errorOf(R"({"value": "x"})"), "content needs a string \"action\"");
  EXPECT_EQ(errorOf(R"({"action": "search", "value": 3})"), "content needs a string \"value\"");
}

TEST(AppRespond, DeeplyNestedContentIsJustNotAnObject) {
  const size_t depth = 400000;  // a 800 KB request under the 1 MiB limit
  std::string error;
  const std::string nested = std::string(depth, '[') + std::string(depth, ']');
  EXPECT_FALSE(respond(Message{"text/json", "utf-8", "little", nested}, &error));
  EXPECT_EQ(error, "content is not a JSON object");
  const std::string deepValue = R"({"action": "search", "value": )" + nested + "}";
  EXPECT_FALSE(respond(Message{"text/json", "utf-8", "little", deepValue}, &error));
  EXPECT_EQ(error, "content needs a string \"value\"");
}

TEST(AppRespond, BinaryAnswer) {
  std::string error;
  auto answer = respond(
      Message{"binary/custom-client-binary-type", "binary", "little", "0123456789abcdef"}, &error);
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->contentType, "binary/custom-server-binary-type");
  EXPECT_EQ(answer->contentEncoding, "binary");
  EXPECT_EQ(answer->content, "First 10 bytes of request: 0123456789");
  answer = respond(Message{"x", "binary", "little", "abc"}, &error);
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->content, "First 10 bytes of request: abc");
}

TEST(AppRespond, ErrorAnswer) {
  const Message m = errorAnswer("header is \"bad\"");
  EXPECT_EQ(m.contentType, "text/json");
  EXPECT_EQ(m.content, R"({"error": "header is \"bad\""})");
}

TEST(AppDescribe, ClientOutput) {
  std::string error;
  EXPECT_EQ(describeAnswer(*respond(request("search", "morpheus"), &error)),
            "got result: Follow the white rabbit. \xF0\x9F\x90\xB0");
  EXPECT_EQ(describeAnswer(errorAnswer("oops")), "got error: oops");
  EXPECT_EQ(describeAnswer(Message{"text/json", "utf-8", "little", R"({"result": 5})"}),
            "got result: 5");
  EXPECT_EQ(describeAnswer(*respond(Message{"b", "binary", "little", "abc"}, &error)),
            "got response: b'First 10 bytes of request: abc'");
  EXPECT_EQ(describeAnswer(Message{"b", "binary", "little", std::string("a\\\t\n\r\0\x7f\xff", 8)}),
            R"(got response: b'a\\\t\n\r\x00\x7f\xff')");
  EXPECT_EQ(describeAnswer(Message{"b", "binary", "little", "it's"}), R"(got response: b"it's")");
  EXPECT_EQ(describeAnswer(Message{"b", "binary", "little", "'\""}), R"(got response: b'\'"')");
}

}  // namespace
}  // namespace reactor::app
