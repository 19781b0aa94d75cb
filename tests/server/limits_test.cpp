// Limits against the real binary: idle timeout, --max-connections, slow readers, select's
// FD_SETSIZE, and a low descriptor limit.
#include <thread>

#include "helpers.h"

namespace servertest {
namespace {

TEST(Limits, IdleConnectionIsClosed) {
  Server server({"--idle-timeout", "1"});
  Fd idle = server.connect();
  Fd busy = server.connect();
  EXPECT_TRUE(staysQuiet(idle.get(), Millis(300)));
  // The busy one moves a byte every 100 ms for 2.5 s and stays open throughout: a gap ten times
  // shorter than the timeout, so a loaded machine's scheduling delays cannot make it idle.
  for (int i = 0; i < 25; ++i) {
    ASSERT_TRUE(pingOrClosed(busy.get())) << "closed although active, round " << i;
    std::this_thread::sleep_for(Millis(100));
  }
  EXPECT_TRUE(waitForClose(idle.get(), Millis(5000)));
  EXPECT_TRUE(waitForClose(busy.get(), Millis(5000)));
}

TEST(Limits, ReaderThatStopsReadingIsClosedWhenIdle) {
  // The client sends a lot and never reads: the server's output backs up, its reading pauses,
  // no byte moves, and the idle timeout closes the connection.
  Server server({"--idle-timeout", "1"});
  Fd fd = server.connect();
  const std::string chunk(64 * 1024, 'a');
  for (int i = 0; i < 512; ++i) {
    if (sendAll(fd.get(), chunk, Millis(200)) != 0) break;  // the server stopped reading
  }
  EXPECT_TRUE(waitForHangup(fd.get(), Millis(6000)));
}

TEST(Limits, IdleTimeoutZeroNeverCloses) {
  Server server({"--idle-timeout", "0"});
  Fd fd = server.connect();
  EXPECT_TRUE(staysQuiet(fd.get(), Millis(1500)));
  expectEcho(fd.get(), "still here");
}

TEST(Limits, MaxConnectionsAcceptsAndClosesTheExtra) {
  Server server({"--max-connections", "3"});
  std::vector<Fd> served;
  for (int i = 0; i < 3; ++i) {
    served.push_back(server.connect(loopbackSource(static_cast<size_t>(i))));
    expectEcho(served.back().get(), "ok");
  }
  for (int i = 0; i < 5; ++i) {
    Fd extra = server.connect(loopbackSource(static_cast<size_t>(10 + i)));
    EXPECT_TRUE(waitForClose(extra.get(), Millis(3000))) << "extra connection " << i;
  }
  for (Fd& fd : served) expectEcho(fd.get(), "still served");
  EXPECT_TRUE(server.process().waitForStderr("refus", Millis(3000)))
      << server.process().stderrText();
  // A place frees up: a new connection is served again.
  closeWithReset(served[0]);
  EXPECT_TRUE(servedWithin(server, Millis(5000)));
}

TEST(Limits, SlowReaderDoesNotStallOthersAndIsBounded) {
  Server server;
  Fd slow = server.connect();
  // Push until the server stops taking bytes (its output is past the high-water mark and its
  // reading paused): bounded by the mark plus kernel buffers, far below what we offer.
  const std::string chunk(256 * 1024, 's');
  size_t offered = 0;
  for (int i = 0; i < 256; ++i) {  // up to 64 MiB
    if (sendAll(slow.get(), chunk, Millis(500)) != 0) break;
    offered += chunk.size();
  }
  EXPECT_LT(offered, size_t{48} << 20)
      << "the server kept reading from a reader that does not read";
  Fd other = server.connect();
  for (int i = 0; i < 100; ++i) expectEcho(other.get(), "ping " + std::to_string(i));
  // The slow reader finally reads: every byte it managed to send comes back in order.
  RecvResult got = recvExactly(slow.get(), offered, Millis(20000));
  ASSERT_TRUE(got.ok()) << toString(got.status) << " after " << got.data.size();
  EXPECT_EQ(got.data.find_first_not_of('s'), std::string::npos);
}

TEST(Limits, SelectBackendRefusesPastFdSetsizeAndServesTheRest) {
  if (testBackend() != "select") GTEST_SKIP() << "select backend only";
  constexpr size_t kClients = 1100;
  ASSERT_GE(raiseFileLimit(kClients + 100), kClients + 100);
  Server server({"--idle-timeout", "0"});
  std::vector<Fd> fds;
  for (size_t i = 0; i < kClients; ++i) fds.push_back(server.connect(loopbackSource(i + 3000)));
  size_t served = 0;
  size_t refused = 0;
  for (size_t i = 0; i < kClients; ++i) {
    if (pingOrClosed(fds[i].get(), Millis(5000))) {
      ++served;
    } else {
      ++refused;
    }
  }
  EXPECT_GT(served, 900u);
  EXPECT_LT(served, 1024u);
  EXPECT_EQ(served + refused, kClients);
  EXPECT_TRUE(server.process().waitForStderr("refus", Millis(3000)));
  for (Fd& fd : fds) closeWithReset(fd);
  EXPECT_TRUE(servedWithin(server, Millis(5000)));
}

TEST(Limits, LowDescriptorLimitRefusesThenRecovers) {
  ProcessOptions options;
  options.fileLimit = 64;
  Server server({"--idle-timeout", "0"}, options);
  EXPECT_TRUE(server.process().waitForStderr("descriptor limit", Millis(3000)))
      << server.process().stderrText();
  constexpr size_t kClients = 100;
  std::vector<Fd> fds;
  for (size_t i = 0; i < kClients; ++i) fds.push_back(server.connect(loopbackSource(i + 5000)));
  for (Fd& fd : fds) ASSERT_EQ(sendAll(fd.get(), "x"), 0);
  size_t served = 0;
  size_t closed = 0;
  for (Fd& fd : fds) {
    RecvResult got = recvExactly(fd.get(), 1, Millis(5000));
    if (got.ok()) {
      ++served;
    } else if (got.status != RecvStatus::kTimeout) {
      ++closed;
    }
  }
  EXPECT_GT(served, 20u);
  EXPECT_LT(served, 64u);
  EXPECT_GT(closed, 0u);
  EXPECT_TRUE(server.process().running());
  for (Fd& fd : fds) closeWithReset(fd);
  EXPECT_TRUE(servedWithin(server, Millis(5000)));
  EXPECT_EQ(server.stop(), 0);
}

}  // namespace
}  // namespace servertest
