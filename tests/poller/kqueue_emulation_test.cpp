// The Linux kqueue emulation against the parts of FreeBSD's kqueue(2) page the backend relies
// on, so that the conformance suite's kqueue results mean something.
#include <fcntl.h>
#include <sys/event.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "gtest/gtest.h"
#include "reactor/fd.h"

namespace {

using reactor::UniqueFd;

struct Kq : ::testing::Test {
  void SetUp() override {
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    a = UniqueFd(sv[0]);
    b = UniqueFd(sv[1]);
    ASSERT_TRUE(kq);
  }

  // Applies one change with EV_RECEIPT; returns the receipt's data (the errno, 0 on success).
  long long apply(int fd, short filter, unsigned short flags, void* udata = nullptr) {
    struct kevent change;
    struct kevent receipt;
    EV_SET(&change, static_cast<uintptr_t>(fd), filter, flags | EV_RECEIPT, 0, 0, udata);
    const int n = ::kevent(kq.get(), &change, 1, &receipt, 1, nullptr);
    EXPECT_EQ(n, 1);
    EXPECT_NE(receipt.flags & EV_ERROR, 0);
    EXPECT_EQ(receipt.ident, static_cast<uintptr_t>(fd));
    EXPECT_EQ(receipt.filter, filter);
    return receipt.data;
  }

  UniqueFd kq{::kqueue()};
  UniqueFd a;
  UniqueFd b;
};

TEST_F(Kq, ReceiptsCarryEachChangesErrno) {
  EXPECT_EQ(apply(a.get(), EVFILT_READ, EV_ADD), 0);
  EXPECT_EQ(apply(a.get(), EVFILT_WRITE, EV_DELETE), ENOENT);
  EXPECT_EQ(apply(a.get(), EVFILT_READ, EV_DELETE), 0);
  EXPECT_EQ(apply(a.get(), EVFILT_READ, EV_DELETE), ENOENT);
  EXPECT_EQ(apply(9999, EVFILT_READ, EV_ADD), EBADF);
  // Outside the modelled subset: refused, never silently accepted.
  EXPECT_EQ(apply(a.get(), EVFILT_READ, EV_ADD | EV_DISABLE), EINVAL);
}

TEST_F(Kq, ChangesWithReceiptsReturnAtOnceAndAFailureWithoutRoomFailsTheCall) {
  struct kevent changes[2];
  struct kevent out[2];
  EV_SET(&changes[0], static_cast<uintptr_t>(a.get()), EVFILT_READ, EV_ADD | EV_RECEIPT, 0, 0,
         nullptr);
  EV_SET(&changes[1], static_cast<uintptr_t>(a.get()), EVFILT_WRITE, EV_ADD | EV_RECEIPT, 0, 0,
         nullptr);
  // a is writable, yet only the two receipts come back.
  EXPECT_EQ(::kevent(kq.get(), changes, 2, out, 2, nullptr), 2);
  EXPECT_EQ(out[0].flags, EV_ERROR);
  EXPECT_EQ(out[1].flags, EV_ERROR);

  struct kevent bad;
  EV_SET(&bad, static_cast<uintptr_t>(b.get()), EVFILT_READ, EV_DELETE, 0, 0, nullptr);
  EXPECT_EQ(::kevent(kq.get(), &bad, 1, nullptr, 0, nullptr), -1);
  EXPECT_EQ(errno, ENOENT);
}

TEST_F(Kq, OneEventPerFilterWithUdataAndEof) {
  int tag = 0;
  ASSERT_EQ(apply(a.get(), EVFILT_READ, EV_ADD, &tag), 0);
  ASSERT_EQ(apply(a.get(), EVFILT_WRITE, EV_ADD, &tag), 0);
  ASSERT_EQ(::send(b.get(), "x", 1, 0), 1);
  b.reset();
  struct kevent out[4];
  const timespec ts{1, 0};
  const int n = ::kevent(kq.get(), nullptr, 0, out, 4, &ts);
  ASSERT_EQ(n, 2);
  bool read = false;
  for (int i = 0; i < n; ++i) {
    EXPECT_EQ(out[i].udata, &tag);
    if (out[i].filter == EVFILT_READ) {
      read = true;
      EXPECT_NE(out[i].flags & EV_EOF, 0);  // EOF, with the byte still to read
    }
  }
  EXPECT_TRUE(read);
}

TEST_F(Kq, CloseDropsTheKnotes) {
  ASSERT_EQ(apply(a.get(), EVFILT_READ, EV_ADD), 0);
  const int number = a.get();
  a.reset();
  UniqueFd reused(::dup3(b.get(), number, O_CLOEXEC));
  ASSERT_EQ(reused.get(), number);
  EXPECT_EQ(apply(number, EVFILT_READ, EV_DELETE), ENOENT);
}

TEST_F(Kq, TimeoutWithNothingReady) {
  ASSERT_EQ(apply(a.get(), EVFILT_READ, EV_ADD), 0);
  struct kevent out[1];
  const timespec ts{0, 20 * 1000 * 1000};
  EXPECT_EQ(::kevent(kq.get(), nullptr, 0, out, 1, &ts), 0);
}

}  // namespace
