// The echo protocol against the real binary: every byte back whatever the chunking,
// half-close, resets, and 1,000 concurrent connections.
#include <thread>

#include "helpers.h"

namespace servertest {
namespace {

TEST(Echo, SmallMessage) {
  Server server;
  Fd fd = server.connect();
  expectEcho(fd.get(), "Hello, world");
}

TEST(Echo, OneByteAtATimeBothWays) {
  Server server;
  Fd fd = server.connect();
  const std::string payload = randomBytes(300, 1);
  for (char c : payload) {
    ASSERT_EQ(sendAll(fd.get(), std::string(1, c)), 0);
    RecvResult got = recvExactly(fd.get(), 1);
    ASSERT_TRUE(got.ok()) << toString(got.status);
    ASSERT_EQ(got.data[0], c);
  }
}

TEST(Echo, ManySmallWritesReadAtOnce) {
  Server server;
  Fd fd = server.connect();
  const std::string payload = randomBytes(2000, 2);
  for (char c : payload) ASSERT_EQ(sendAll(fd.get(), std::string(1, c)), 0);
  RecvResult got = recvExactly(fd.get(), payload.size());
  ASSERT_TRUE(got.ok()) << toString(got.status);
  EXPECT_TRUE(got.data == payload);
}

TEST(Echo, LargePayloadWhileReadingConcurrently) {
  // 8 MiB: more than the high-water mark and the kernel buffers, so the server must pause
  // and resume reading as our reads drain its output.
  Server server;
  Fd fd = server.connect();
  const std::string payload = randomBytes(8 << 20, 3);
  int sendError = -1;
  std::thread sender([&] { sendError = sendAll(fd.get(), payload, Millis(30000)); });
  RecvResult got = recvExactly(fd.get(), payload.size(), Millis(30000));
  sender.join();
  EXPECT_EQ(sendError, 0);
  ASSERT_TRUE(got.ok()) << toString(got.status) << " after " << got.data.size();
  EXPECT_TRUE(got.data == payload);
}

TEST(Echo, HalfCloseGetsEverythingThenClose) {
  Server server;
  Fd fd = server.connect();
  const std::string payload = randomBytes(300000, 4);
  ASSERT_EQ(sendAll(fd.get(), payload), 0);
  shutdownWrite(fd.get());
  RecvResult got = readUntilEof(fd.get(), Millis(10000));
  EXPECT_EQ(got.status, RecvStatus::kEof) << toString(got.status) << " errno " << got.error;
  EXPECT_EQ(got.data.size(), payload.size());
  EXPECT_TRUE(got.data == payload);
}

TEST(Echo, HalfCloseWithNothingSentCloses) {
  Server server;
  Fd fd = server.connect();
  shutdownWrite(fd.get());
  RecvResult got = readUntilEof(fd.get());
  EXPECT_EQ(got.status, RecvStatus::kEof);
  EXPECT_EQ(got.data, "");
}

TEST(Echo, ResetAndAbruptClientsDoNotDisturbOthers) {
  Server server;
  Fd keeper = server.connect();
  expectEcho(keeper.get(), "before");
  for (int i = 0; i < 50; ++i) {
    Fd victim = server.connect(loopbackSource(static_cast<size_t>(i)));
    ASSERT_EQ(sendAll(victim.get(), randomBytes(100000, static_cast<uint32_t>(i))), 0);
    if (i % 2 == 0) {
      closeWithReset(victim);  // RST with unread echo pending
    } else {
      victim.reset();  // plain close with unread data: the kernel resets too
    }
  }
  expectEcho(keeper.get(), "after");
  EXPECT_TRUE(server.process().running());
}

TEST(Echo, ThousandConcurrentConnectionsEachVerified) {
  constexpr size_t kClients = 1000;
  ASSERT_GE(raiseFileLimit(kClients + 100), kClients + 100);
  Server server;
  std::vector<Fd> fds;
  fds.reserve(kClients);
  for (size_t i = 0; i < kClients; ++i) {
    fds.push_back(server.connect(loopbackSource(i + 1000)));
  }
  // Every connection is open at once: send on all, then read every one back.
  std::vector<std::string> payloads;
  for (size_t i = 0; i < kClients; ++i) {
    payloads.push_back(randomBytes(64 + i % 200, static_cast<uint32_t>(i)));
    ASSERT_EQ(sendAll(fds[i].get(), payloads[i]), 0) << i;
  }
  for (size_t i = 0; i < kClients; ++i) {
    RecvResult got = recvExactly(fds[i].get(), payloads[i].size(), Millis(10000));
    ASSERT_TRUE(got.ok()) << "client " << i << ": " << toString(got.status);
    ASSERT_TRUE(got.data == payloads[i]) << "client " << i;
  }
  for (Fd& fd : fds) closeWithReset(fd);
}

}  // namespace
}  // namespace servertest
