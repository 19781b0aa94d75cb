// Connection's field order: the fields every echoed message touches come first, the ones used
// only on a short write or by the idle sweep last (see the layout comment in connection.h). A
// field added to the hot group, or moved out of order, changes these offsets; a layout change
// is deliberate: update connection.h's comment, this test and docs/benchmarks.md together.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstddef>

#include "reactor/connection.h"

namespace reactor {

// A friend of Connection: reads member offsets in a live connection.
struct ConnectionLayoutProbe {
  const Connection& conn;

  template <typename Member>
  size_t offset(Member Connection::*member) const {
    return static_cast<size_t>(reinterpret_cast<const unsigned char*>(&(conn.*member)) -
                               reinterpret_cast<const unsigned char*>(&conn));
  }
  template <typename Member>
  size_t end(Member Connection::*member) const {
    return offset(member) + sizeof(Member);
  }

  size_t hotEnd() const {
    size_t last = 0;
    for (size_t e :
         {end(&Connection::fd_), end(&Connection::state_), end(&Connection::loop_),
          end(&Connection::handler_), end(&Connection::context), end(&Connection::options_),
          end(&Connection::lastActivity_), end(&Connection::bytesIn_), end(&Connection::bytesOut_),
          end(&Connection::input_)}) {
      last = std::max(last, e);
    }
    return last;
  }
  size_t coldStart() const {
    return std::min(
        {offset(&Connection::output_), offset(&Connection::prev), offset(&Connection::next)});
  }
};

namespace {

class ConnectionLayout : public ::testing::Test {
 protected:
  void SetUp() override {
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    peer_.reset(sv[1]);
    std::error_code error;
    conn_ = Connection::create(loop_, UniqueFd(sv[0]), nullptr, &options_, error);
    ASSERT_NE(conn_, nullptr) << error.message();
  }
  void TearDown() override {
    if (conn_ != nullptr) conn_->close();
    loop_.runOnce(0);  // the deferred delete
  }

  EventLoop loop_{createPoller("auto")};
  ConnectionOptions options_;
  UniqueFd peer_;
  Connection* conn_ = nullptr;
};

TEST_F(ConnectionLayout, HotFieldsComeFirstAndColdOnesLast) {
  const ConnectionLayoutProbe probe{*conn_};
  EXPECT_LE(probe.hotEnd(), probe.coldStart());
}

TEST_F(ConnectionLayout, SizesMatchTheLayoutComment) {
  if (sizeof(void*) != 8) GTEST_SKIP() << "the figures are for LP64";
  const ConnectionLayoutProbe probe{*conn_};
  EXPECT_EQ(probe.hotEnd(), 96u);
  EXPECT_EQ(sizeof(Connection), 136u);
}

}  // namespace
}  // namespace reactor
