#include "reactor/buffer.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include "reactor/fd.h"

namespace reactor {
namespace {

struct SocketPair {
  UniqueFd a;
  UniqueFd b;
  SocketPair() {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
    a = UniqueFd(fds[0]);
    b = UniqueFd(fds[1]);
  }
};

// Writes all of s into a non-blocking socket (the peer buffer is large enough in these tests).
void writeAll(int fd, const std::string& s) {
  size_t done = 0;
  for (int i = 0; i < 1000 && done < s.size(); ++i) {
    const ssize_t n = ::write(fd, s.data() + done, s.size() - done);
    ASSERT_GT(n, 0) << std::strerror(errno);
    done += static_cast<size_t>(n);
  }
  ASSERT_EQ(done, s.size());
}

std::string pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + i * 7 % 26);
  return s;
}

TEST(Buffer, EmptyWithoutStorage) {
  Buffer b;
  EXPECT_EQ(b.capacity(), 0u);
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.readableBytes(), 0u);
  EXPECT_EQ(b.writableBytes(), 0u);
  EXPECT_EQ(b.prependableBytes(), 0u);
  EXPECT_TRUE(b.view().empty());
  b.retrieve(0);
  b.retrieveAll();
  b.append("", 0);
  b.releaseIfEmpty();
  b.shrinkToFit();
  EXPECT_EQ(b.retrieveAsString(0), "");
  EXPECT_EQ(b.capacity(), 0u);
  EXPECT_LE(sizeof(Buffer), 24u);
}

TEST(Buffer, AppendRetrieve) {
  Buffer b;
  b.append("hello, world");
  EXPECT_EQ(b.readableBytes(), 12u);
  EXPECT_EQ(b.prependableBytes(), Buffer::kPrepend);
  EXPECT_EQ(b.view(), "hello, world");
  b.retrieve(7);
  EXPECT_EQ(b.view(), "world");
  EXPECT_EQ(b.prependableBytes(), Buffer::kPrepend + 7);
  EXPECT_EQ(b.retrieveAsString(3), "wor");
  EXPECT_EQ(b.view(), "ld");
  b.retrieve(2);
  EXPECT_TRUE(b.empty());
  // Consuming everything resets to the front: no bytes move on the next append.
  EXPECT_EQ(b.prependableBytes(), Buffer::kPrepend);
  EXPECT_EQ(b.writableBytes(), b.capacity() - Buffer::kPrepend);
}

TEST(Buffer, RetrieveAllResets) {
  Buffer b;
  b.append(pattern(100));
  b.retrieve(40);
  b.retrieveAll();
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.prependableBytes(), Buffer::kPrepend);
  EXPECT_GT(b.capacity(), 0u);
}

TEST(Buffer, Prepend) {
  Buffer b;
  b.append("body");
  const char header[2] = {0x00, 0x04};
  b.prepend(header, 2);
  EXPECT_EQ(b.readableBytes(), 6u);
  EXPECT_EQ(b.view(), std::string_view("\x00\x04"
                                       "body",
                                       6));
  EXPECT_EQ(b.prependableBytes(), Buffer::kPrepend - 2);
  b.prepend("12345678", Buffer::kPrepend - 2);
  EXPECT_EQ(b.prependableBytes(), 0u);
  EXPECT_EQ(b.readableBytes(), Buffer::kPrepend + 4);
}

TEST(Buffer, CompactsInsteadOfGrowing) {
  Buffer b;
  b.append(pattern(600));
  const size_t cap = b.capacity();
  b.retrieve(500);
  // 100 readable bytes, 500 dead in front: room for 700 more without growing.
  const std::string more = pattern(cap - Buffer::kPrepend - 100);
  ASSERT_GT(more.size(), b.writableBytes());
  b.append(more);
  EXPECT_EQ(b.capacity(), cap);
  EXPECT_EQ(b.prependableBytes(), Buffer::kPrepend);
  EXPECT_EQ(b.view(), pattern(600).substr(500) + more);
}

TEST(Buffer, GrowsGeometrically) {
  Buffer b;
  std::string model;
  size_t grows = 0;
  size_t lastCap = 0;
  for (int i = 0; i < 1000; ++i) {
    const std::string piece = pattern(100 + i % 37);
    b.append(piece);
    model += piece;
    if (b.capacity() != lastCap) {
      ++grows;
      EXPECT_GE(b.capacity(), 2 * lastCap);
      lastCap = b.capacity();
    }
  }
  EXPECT_EQ(b.view(), model);
  EXPECT_LT(grows, 12u);  // ~120 KB from 1 KB by doubling
}

TEST(Buffer, GrowthKeepsOnlyReadableBytes) {
  Buffer b;
  b.append(pattern(1000));
  b.retrieve(990);
  const std::string big = pattern(5000);
  b.append(big);
  EXPECT_EQ(b.view(), pattern(1000).substr(990) + big);
  EXPECT_EQ(b.prependableBytes(), Buffer::kPrepend);
}

TEST(Buffer, EnsureWritableAndHasWritten) {
  Buffer b;
  b.ensureWritable(10);
  EXPECT_GE(b.writableBytes(), 10u);
  std::memcpy(b.beginWrite(), "0123456789", 10);
  b.hasWritten(10);
  EXPECT_EQ(b.view(), "0123456789");
}

TEST(Buffer, ReleaseIfEmpty) {
  Buffer b;
  b.append("x");
  b.releaseIfEmpty();
  EXPECT_GT(b.capacity(), 0u);  // not empty: kept
  b.retrieveAll();
  b.releaseIfEmpty();
  EXPECT_EQ(b.capacity(), 0u);
  EXPECT_EQ(b.prependableBytes(), 0u);
  EXPECT_TRUE(b.view().empty());
  b.append("again");
  EXPECT_EQ(b.view(), "again");
  EXPECT_EQ(b.prependableBytes(), Buffer::kPrepend);
}

TEST(Buffer, ShrinkToFit) {
  Buffer b;
  b.append(pattern(100000));
  b.retrieve(99990);
  b.shrinkToFit();
  EXPECT_EQ(b.capacity(), Buffer::kPrepend + 10);
  EXPECT_EQ(b.view(), pattern(100000).substr(99990));
  b.shrinkToFit();  // already tight: nothing happens
  EXPECT_EQ(b.capacity(), Buffer::kPrepend + 10);
  b.retrieveAll();
  b.shrinkToFit();
  EXPECT_EQ(b.capacity(), 0u);
}

TEST(Buffer, MoveSemantics) {
  Buffer a;
  a.append("moved bytes");
  Buffer b(std::move(a));
  EXPECT_EQ(b.view(), "moved bytes");
  EXPECT_EQ(a.capacity(), 0u);  // NOLINT(bugprone-use-after-move): documented moved-from state
  EXPECT_TRUE(a.empty());
  a.append("reuse");
  EXPECT_EQ(a.view(), "reuse");
  Buffer c;
  c.append("old");
  c = std::move(b);
  EXPECT_EQ(c.view(), "moved bytes");
  EXPECT_EQ(b.capacity(), 0u);
  Buffer& self = c;
  c = std::move(self);
  EXPECT_EQ(c.view(), "moved bytes");
}

TEST(Buffer, ReadFdIntoEmptyBuffer) {
  SocketPair sp;
  writeAll(sp.b.get(), "ping");
  Buffer b;
  int err = 0;
  EXPECT_EQ(b.readFd(sp.a.get(), &err), 4);
  EXPECT_EQ(b.view(), "ping");
  EXPECT_LT(b.capacity(), 2048u);  // sized to what arrived, not to the spill
}

TEST(Buffer, ReadFdSpillsPastWritableRegion) {
  SocketPair sp;
  const int size = 1 << 20;
  ASSERT_EQ(::setsockopt(sp.b.get(), SOL_SOCKET, SO_SNDBUF, &size, sizeof(size)), 0);
  Buffer b;
  b.append("head:");
  const size_t writable = b.writableBytes();
  const std::string data = pattern(writable + 5000);
  writeAll(sp.b.get(), data);
  int err = 0;
  const ssize_t n = b.readFd(sp.a.get(), &err);
  ASSERT_EQ(n, static_cast<ssize_t>(data.size())) << std::strerror(err);
  EXPECT_EQ(b.view(), "head:" + data);
}

TEST(Buffer, ReadFdCapsAtMaxBytes) {
  SocketPair sp;
  const std::string data = pattern(3000);
  writeAll(sp.b.get(), data);
  Buffer b;
  int err = 0;
  EXPECT_EQ(b.readFd(sp.a.get(), &err, 1000), 1000);
  EXPECT_EQ(b.view(), data.substr(0, 1000));
  b.ensureWritable(4000);
  EXPECT_EQ(b.readFd(sp.a.get(), &err, 7), 7);
  EXPECT_EQ(b.readFd(sp.a.get(), &err, 100000), 1993);
  EXPECT_EQ(b.view(), data);
}

TEST(Buffer, ReadFdLargeMaxBytesIsOneCall) {
  SocketPair sp;
  const int size = 1 << 20;
  ASSERT_EQ(::setsockopt(sp.b.get(), SOL_SOCKET, SO_SNDBUF, &size, sizeof(size)), 0);
  const std::string data = pattern(Buffer::kSpill * 2);
  writeAll(sp.b.get(), data);
  Buffer b;
  int err = 0;
  // No storage: the read is bounded by the spill.
  EXPECT_EQ(b.readFd(sp.a.get(), &err, 1 << 20), static_cast<ssize_t>(Buffer::kSpill));
  EXPECT_EQ(b.readFd(sp.a.get(), &err, 1 << 20), static_cast<ssize_t>(Buffer::kSpill));
  EXPECT_EQ(b.view(), data);
}

TEST(Buffer, ReadFdEagainAndEof) {
  SocketPair sp;
  Buffer b;
  int err = 0;
  EXPECT_EQ(b.readFd(sp.a.get(), &err), -1);
  EXPECT_TRUE(err == EAGAIN || err == EWOULDBLOCK);
  EXPECT_TRUE(b.empty());
  writeAll(sp.b.get(), "last");
  ASSERT_EQ(::shutdown(sp.b.get(), SHUT_WR), 0);
  EXPECT_EQ(b.readFd(sp.a.get(), &err), 4);
  EXPECT_EQ(b.readFd(sp.a.get(), &err), 0);
  EXPECT_EQ(b.view(), "last");
}

TEST(Buffer, ReadFdBadDescriptor) {
  Buffer b;
  int err = 0;
  EXPECT_EQ(b.readFd(-1, &err), -1);
  EXPECT_EQ(err, EBADF);
  EXPECT_TRUE(b.empty());
}

}  // namespace
}  // namespace reactor
