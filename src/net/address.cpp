#include "reactor/address.h"

#include <arpa/inet.h>
#include <netdb.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace reactor {

SockAddr::SockAddr(const sockaddr* sa, socklen_t len) {
  if (sa == nullptr || len == 0) return;
  len_ = std::min<socklen_t>(len, sizeof(storage_));
  std::memcpy(&storage_, sa, len_);
}

std::vector<SockAddr> SockAddr::resolve(const std::string& host, uint16_t port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* list = nullptr;
  const std::string service = std::to_string(port);
  const int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &list);
  if (rc != 0) {
    const char* reason = rc == EAI_SYSTEM ? std::strerror(errno) : ::gai_strerror(rc);
    throw std::runtime_error("cannot resolve '" + host + "': " + reason);
  }
  std::vector<SockAddr> out;
  for (const addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
    if (ai->ai_family == AF_INET || ai->ai_family == AF_INET6) {
      out.emplace_back(ai->ai_addr, ai->ai_addrlen);
    }
  }
  ::freeaddrinfo(list);
  if (out.empty()) throw std::runtime_error("cannot resolve '" + host + "': no IPv4/IPv6 address");
  return out;
}

SockAddr SockAddr::parse(std::string_view host, uint16_t port) {
  std::string text(host);
  // "[::1]" is how users write an IPv6 host next to a port; accept it here too.
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') {
    text = text.substr(1, text.size() - 2);
  }
  SockAddr addr;
  sockaddr_in v4{};
  sockaddr_in6 v6{};
  if (::inet_pton(AF_INET, text.c_str(), &v4.sin_addr) == 1) {
    v4.sin_family = AF_INET;
    addr = SockAddr(reinterpret_cast<const sockaddr*>(&v4), sizeof(v4));
  } else if (::inet_pton(AF_INET6, text.c_str(), &v6.sin6_addr) == 1) {
    v6.sin6_family = AF_INET6;
    addr = SockAddr(reinterpret_cast<const sockaddr*>(&v6), sizeof(v6));
  } else {
    throw std::invalid_argument("not a numeric IPv4 or IPv6 address: '" + std::string(host) + "'");
  }
  addr.setPort(port);
  return addr;
}

SockAddr SockAddr::local(int fd) {
  SockAddr addr;
  socklen_t len = sizeof(addr.storage_);
  if (::getsockname(fd, addr.get(), &len) != 0) return SockAddr();
  addr.len_ = len;
  return addr;
}

SockAddr SockAddr::peer(int fd) {
  SockAddr addr;
  socklen_t len = sizeof(addr.storage_);
  // ENOTCONN after a reset is normal for a peer that is already gone: an empty address.
  if (::getpeername(fd, addr.get(), &len) != 0) return SockAddr();
  addr.len_ = len;
  return addr;
}

uint16_t SockAddr::port() const {
  switch (family()) {
    case AF_INET:
      return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
    case AF_INET6:
      return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
    default:
      return 0;
  }
}

void SockAddr::setPort(uint16_t port) {
  switch (family()) {
    case AF_INET:
      reinterpret_cast<sockaddr_in*>(&storage_)->sin_port = htons(port);
      break;
    case AF_INET6:
      reinterpret_cast<sockaddr_in6*>(&storage_)->sin6_port = htons(port);
      break;
    default:
      break;  // no address yet: nothing to carry a port
  }
}

std::string SockAddr::host() const {
  char text[INET6_ADDRSTRLEN] = {};
  const void* src = nullptr;
  switch (family()) {
    case AF_INET:
      src = &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr;
      break;
    case AF_INET6:
      src = &reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr;
      break;
    default:
      return {};
  }
  if (::inet_ntop(family(), src, text, sizeof(text)) == nullptr) return {};
  return text;
}

std::string SockAddr::toString() const {
  switch (family()) {
    case AF_INET:
      return host() + ":" + std::to_string(port());
    case AF_INET6:
      return "[" + host() + "]:" + std::to_string(port());
    default:
      return "(unknown address)";
  }
}

}  // namespace reactor
