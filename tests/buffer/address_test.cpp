#include "reactor/address.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <stdexcept>

#include "reactor/fd.h"

namespace reactor {
namespace {

TEST(SockAddr, ParseIpv4) {
  const SockAddr a = SockAddr::parse("1.2.3.4", 80);
  EXPECT_EQ(a.family(), AF_INET);
  EXPECT_EQ(a.port(), 80);
  EXPECT_EQ(a.host(), "1.2.3.4");
  EXPECT_EQ(a.toString(), "1.2.3.4:80");
  EXPECT_EQ(a.length(), sizeof(sockaddr_in));
}

TEST(SockAddr, ParseIpv6WithAndWithoutBrackets) {
  const SockAddr a = SockAddr::parse("::1", 40123);
  EXPECT_EQ(a.family(), AF_INET6);
  EXPECT_EQ(a.toString(), "[::1]:40123");
  EXPECT_EQ(a.host(), "::1");
  EXPECT_EQ(a.length(), sizeof(sockaddr_in6));
  EXPECT_EQ(SockAddr::parse("[::1]", 1).toString(), "[::1]:1");
  EXPECT_EQ(SockAddr::parse("2001:DB8::0:1", 443).toString(), "[2001:db8::1]:443");
}

TEST(SockAddr, ParseRejectsNames) {
  EXPECT_THROW(SockAddr::parse("localhost", 80), std::invalid_argument);
  EXPECT_THROW(SockAddr::parse("1.2.3", 80), std::invalid_argument);
  EXPECT_THROW(SockAddr::parse("", 80), std::invalid_argument);
  EXPECT_THROW(SockAddr::parse("[::1", 80), std::invalid_argument);
}

TEST(SockAddr, SetPort) {
  SockAddr a = SockAddr::parse("127.0.0.1", 0);
  a.setPort(65535);
  EXPECT_EQ(a.toString(), "127.0.0.1:65535");
  SockAddr empty;
  empty.setPort(5);
  EXPECT_EQ(empty.port(), 0);
  EXPECT_EQ(empty.family(), AF_UNSPEC);
  EXPECT_EQ(empty.host(), "");
  EXPECT_EQ(empty.toString(), "(unknown address)");
}

TEST(SockAddr, ResolveNumericAndLocalhost) {
  const auto v4 = SockAddr::resolve("127.0.0.1", 65432);
  ASSERT_EQ(v4.size(), 1u);
  EXPECT_EQ(v4[0].toString(), "127.0.0.1:65432");
  const auto local = SockAddr::resolve("localhost", 8080);
  ASSERT_FALSE(local.empty());
  for (const auto& a : local) {
    EXPECT_EQ(a.port(), 8080);
    EXPECT_TRUE(a.toString() == "127.0.0.1:8080" || a.toString() == "[::1]:8080") << a.toString();
  }
}

TEST(SockAddr, ResolveFailureNamesTheHost) {
  try {
    SockAddr::resolve("no-such-host.invalid", 80);
    FAIL() << "resolved an .invalid name";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("no-such-host.invalid"), std::string::npos) << e.what();
  }
}

TEST(SockAddr, LocalAndPeer) {
  UniqueFd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(listener);
  const SockAddr any = SockAddr::parse("127.0.0.1", 0);
  ASSERT_EQ(::bind(listener.get(), any.get(), any.length()), 0);
  ASSERT_EQ(::listen(listener.get(), 4), 0);
  const SockAddr bound = SockAddr::local(listener.get());
  EXPECT_EQ(bound.host(), "127.0.0.1");
  EXPECT_NE(bound.port(), 0);
  EXPECT_EQ(SockAddr::peer(listener.get()).family(), AF_UNSPEC);  // ENOTCONN

  UniqueFd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_EQ(::connect(client.get(), bound.get(), bound.length()), 0);
  EXPECT_EQ(SockAddr::peer(client.get()).toString(), bound.toString());
  UniqueFd server(::accept(listener.get(), nullptr, nullptr));
  ASSERT_TRUE(server);
  EXPECT_EQ(SockAddr::peer(server.get()).toString(), SockAddr::local(client.get()).toString());
  const linger lg{1, 0};  // no TIME_WAIT left on 127.0.0.1
  ::setsockopt(client.get(), SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

TEST(SockAddr, FromSockaddr) {
  const SockAddr a = SockAddr::parse("10.0.0.1", 9);
  const SockAddr b(a.get(), a.length());
  EXPECT_EQ(b.toString(), "10.0.0.1:9");
  EXPECT_EQ(SockAddr(nullptr, 0).family(), AF_UNSPEC);
}

}  // namespace
}  // namespace reactor
