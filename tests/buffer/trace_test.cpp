// trace.h's helpers: the preview is Python's repr() of bytes, cut after the limit, and the
// readiness names.
#include "reactor/trace.h"

#include <gtest/gtest.h>

#include "reactor/poller.h"

namespace reactor {
namespace {

TEST(TraceRepr, AsPythonPrintsBytes) {
  EXPECT_EQ(trace::bytesRepr("H"), "b'H'");
  EXPECT_EQ(trace::bytesRepr(""), "b''");
  EXPECT_EQ(trace::bytesRepr("a\nb\tc\rd\\"), "b'a\\nb\\tc\\rd\\\\'");
  EXPECT_EQ(trace::bytesRepr(std::string_view("\x00g\xff", 3)), "b'\\x00g\\xff'");
  EXPECT_EQ(trace::bytesRepr("it's"), "b\"it's\"");
  EXPECT_EQ(trace::bytesRepr("'\""), "b'\\'\"'");
}

TEST(TraceRepr, CutAfterTheLimit) {
  EXPECT_EQ(trace::bytesRepr("Hello, world", 5), "b'Hello'...");
  EXPECT_EQ(trace::bytesRepr("Hello", 5), "b'Hello'");
}

TEST(TraceRepr, EventNames) {
  EXPECT_EQ(trace::eventNames(Event::kReadable), "readable");
  EXPECT_EQ(trace::eventNames(Event::kReadable | Event::kHangup), "readable hangup");
  EXPECT_EQ(trace::eventNames(Event::kWritable | Event::kError), "writable error");
}

TEST(TraceRepr, OffUntilEnabled) { EXPECT_FALSE(trace::enabled()); }

}  // namespace
}  // namespace reactor
