// Feeds arbitrary bytes to the app protocol decoder in chunks whose sizes come from the input,
// and checks it against a one-shot decode of the same bytes: the chunking must never change
// what comes out. Every message is answered and described, as the server and client would.
//
// Input: byte 0 picks the content limit, byte 1 seeds the chunk sizes, the rest is the stream.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "reactor/app_codec.h"

namespace {

using reactor::Buffer;
using reactor::app::Decoder;
using reactor::app::DecodeStatus;
using reactor::app::Message;

void check(bool ok) {
  if (!ok) std::abort();
}

bool same(const Message& a, const Message& b) {
  return a.contentType == b.contentType && a.contentEncoding == b.contentEncoding &&
         a.byteorder == b.byteorder && a.content == b.content;
}

struct Outcome {
  std::vector<Message> messages;
  std::string error;  // empty: no error
};

// Drains every whole message from `in`; returns false once the decoder reports an error.
bool drain(Decoder& decoder, Buffer& in, size_t limit, Outcome* out) {
  for (;;) {
    const size_t before = in.readableBytes();
    Message m;
    switch (decoder.decode(in, &m)) {
      case DecodeStatus::kNeedMore:
        check(in.readableBytes() <= before);
        return true;
      case DecodeStatus::kMessage:
        check(m.content.size() <= limit);
        check(in.readableBytes() + m.content.size() <= before);
        out->messages.push_back(std::move(m));
        break;
      case DecodeStatus::kError: {
        check(!decoder.error().empty());
        check(in.readableBytes() == before);  // a bad message consumes nothing
        out->error = decoder.error();
        Message again;
        check(decoder.decode(in, &again) == DecodeStatus::kError);  // errors are final
        check(in.readableBytes() == before);
        return false;
      }
    }
  }
}

uint64_t next(uint64_t& s) {
  uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const size_t limit = data[0] == 0 ? size_t{1} << 20 : size_t{data[0]} * 16;
  uint64_t seed = data[1];
  const std::string_view stream(reinterpret_cast<const char*>(data) + 2, size - 2);

  Outcome whole;
  {
    Decoder decoder(limit);
    Buffer in;
    in.append(stream);
    drain(decoder, in, limit, &whole);
  }

  Outcome chunked;
  Decoder decoder(limit);
  Buffer in;
  size_t fed = 0;
  while (fed < stream.size()) {
    const uint64_t r = next(seed);
    const size_t chunk = 1 + r % (size_t{1} << (r >> 60));  // 1 .. 32 KiB, mostly small
    const std::string_view piece = stream.substr(fed, chunk);
    in.append(piece);
    fed += piece.size();
    if (!drain(decoder, in, limit, &chunked)) break;
  }
  check(chunked.error == whole.error);
  check(chunked.messages.size() == whole.messages.size());
  for (size_t i = 0; i < whole.messages.size(); ++i) {
    check(same(chunked.messages[i], whole.messages[i]));
  }

  for (const Message& m : whole.messages) {
    std::string error;
    const auto answer = reactor::app::respond(m, &error);
    check(answer.has_value() || !error.empty());
    const Message reply = answer ? *answer : reactor::app::errorAnswer(error);
    (void)reactor::app::describeAnswer(reply);
    (void)reactor::app::describeAnswer(m);
    // What we encode decodes to the same message (byteorder "" is written as the host's, so
    // a header right at 65535 bytes may no longer fit: the documented length_error).
    Decoder again(m.content.size());
    Buffer encoded;
    try {
      reactor::app::encode(m, encoded);
    } catch (const std::length_error&) {
      continue;
    }
    Message back;
    check(again.decode(encoded, &back) == DecodeStatus::kMessage);
    check(encoded.empty());
    check(back.contentType == m.contentType && back.contentEncoding == m.contentEncoding &&
          back.content == m.content);
  }
  if (!whole.error.empty()) (void)reactor::app::encode(reactor::app::errorAnswer(whole.error));
  return 0;
}
