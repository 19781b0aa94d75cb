// SockAddr: an IPv4 or IPv6 socket address, resolved once at start and printed the contract's
// way ("127.0.0.1:65432", "[::1]:40123").
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace reactor {

class SockAddr {
 public:
  SockAddr() = default;
  SockAddr(const sockaddr* sa, socklen_t len);

  /// Resolves host (a name or a numeric address) with getaddrinfo, TCP, numeric port.
  /// Throws std::runtime_error naming the host and gai_strerror's reason.
  static std::vector<SockAddr> resolve(const std::string& host, uint16_t port);
  /// Parses a numeric IPv4/IPv6 address only (no DNS). Throws std::invalid_argument.
  static SockAddr parse(std::string_view host, uint16_t port);

  /// The local / peer address of a socket (getsockname / getpeername); an empty address
  /// (family AF_UNSPEC, toString() "(unknown address)") when the call fails, e.g. ENOTCONN
  /// for a peer that already reset.
  static SockAddr local(int fd);
  static SockAddr peer(int fd);

  int family() const { return storage_.ss_family; }
  uint16_t port() const;
  void setPort(uint16_t port);
  /// "1.2.3.4" or "::1" (no brackets).
  std::string host() const;
  /// "1.2.3.4:80" or "[::1]:80".
  std::string toString() const;

  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage_); }
  sockaddr* get() { return reinterpret_cast<sockaddr*>(&storage_); }
  socklen_t length() const { return len_; }

 private:
  sockaddr_storage storage_{};
  socklen_t len_ = 0;
};

}  // namespace reactor
