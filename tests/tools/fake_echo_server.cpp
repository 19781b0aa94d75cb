#include "fake_echo_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <vector>

namespace toolstest {

namespace {

constexpr size_t kMaxPending = 1 << 20;  // stop reading a client with this much unsent

struct Client {
  testsupport::Fd fd;
  bool faulty = false;
  uint64_t streamIn = 0;  // bytes read so far
  std::string out;
  bool closeAfterFlush = false;
  std::chrono::steady_clock::time_point holdUntil{};  // kSlowFirstAnswer: send nothing before
};

sockaddr_in loopback(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

}  // namespace

FakeEchoServer::FakeEchoServer(Fault fault, uint64_t offset) : fault_(fault), offset_(offset) {
  listener_ = testsupport::Fd(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  int one = 1;
  setsockopt(listener_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a = loopback(0);
  if (!listener_ || bind(listener_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      listen(listener_.get(), 1024) != 0) {
    throw std::runtime_error("fake echo server: cannot listen");
  }
  socklen_t len = sizeof a;
  getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
  int p[2];
  if (pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) throw std::runtime_error("pipe2");
  wakeRead_ = testsupport::Fd(p[0]);
  wakeWrite_ = testsupport::Fd(p[1]);
  thread_ = std::thread([this] { run(); });
}

FakeEchoServer::~FakeEchoServer() {
  char c = 'x';
  // The pipe is empty and non-blocking: this write cannot fail but for a closed reader.
  (void)!write(wakeWrite_.get(), &c, 1);
  thread_.join();
}

std::set<std::string> FakeEchoServer::peerHosts() const {
  std::lock_guard lock(mutex_);
  return peers_;
}

void FakeEchoServer::run() {
  std::vector<std::unique_ptr<Client>> clients;
  std::vector<pollfd> fds;
  std::vector<char> buf(64 * 1024);
  bool faultUsed = fault_ == Fault::kNone;
  const auto held = [this](const Client& c) {
    return c.faulty && fault_ == Fault::kSlowFirstAnswer &&
           std::chrono::steady_clock::now() < c.holdUntil;
  };
  for (;;) {
    fds.clear();
    int timeoutMs = 1000;
    fds.push_back({wakeRead_.get(), POLLIN, 0});
    fds.push_back({listener_.get(), POLLIN, 0});
    for (auto& c : clients) {
      short events = 0;
      if (c->out.size() < kMaxPending && !c->closeAfterFlush) events |= POLLIN;
      if (!c->out.empty() && !held(*c)) events |= POLLOUT;
      if (held(*c)) timeoutMs = 10;  // wake up to release the held answer in time
      fds.push_back({c->fd.get(), events, 0});
    }
    if (poll(fds.data(), fds.size(), timeoutMs) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[0].revents != 0) return;
    const size_t polled = clients.size();  // clients accepted below have no pollfd yet
    if (fds[1].revents & POLLIN) {
      for (int i = 0; i < 256; ++i) {
        sockaddr_in peer{};
        socklen_t len = sizeof peer;
        int fd = accept4(listener_.get(), reinterpret_cast<sockaddr*>(&peer), &len,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) break;  // EAGAIN: drained; anything else: try again at the next poll
        auto c = std::make_unique<Client>();
        c->fd = testsupport::Fd(fd);
        accepted_.fetch_add(1);
        if (!faultUsed) {
          c->faulty = true;
          faultUsed = true;
          if (fault_ == Fault::kCloseOnAccept) continue;  // c (and its socket) goes away
        }
        char host[INET_ADDRSTRLEN] = {};
        inet_ntop(AF_INET, &peer.sin_addr, host, sizeof host);
        {
          std::lock_guard lock(mutex_);
          peers_.insert(host);
        }
        clients.push_back(std::move(c));
      }
    }
    std::vector<bool> dead(clients.size(), false);
    for (size_t i = 0; i < polled; ++i) {
      Client& c = *clients[i];
      short rev = fds[i + 2].revents;
      if (rev & (POLLIN | POLLHUP | POLLERR)) {
        ssize_t n = read(c.fd.get(), buf.data(), buf.size());
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
          dead[i] = true;
          continue;
        }
        for (ssize_t k = 0; k < n; ++k) {
          uint64_t at = c.streamIn++;
          char b = buf[static_cast<size_t>(k)];
          if (c.faulty && at == 0 && fault_ == Fault::kSlowFirstAnswer) {
            c.holdUntil = std::chrono::steady_clock::now() + std::chrono::milliseconds(offset_);
          }
          if (c.faulty && at == offset_) {
            if (fault_ == Fault::kDropByte) continue;
            if (fault_ == Fault::kCorruptByte) b = static_cast<char>(b ^ 0x5a);
            if (fault_ == Fault::kDuplicateByte) c.out.push_back(b);
            if (fault_ == Fault::kCloseEarly) {
              c.closeAfterFlush = true;
              break;
            }
          }
          if (c.faulty && fault_ == Fault::kSilent) continue;
          c.out.push_back(b);
        }
      }
      if (!c.out.empty() && !held(c)) {
        ssize_t n = send(c.fd.get(), c.out.data(), c.out.size(), MSG_NOSIGNAL);
        if (n > 0) c.out.erase(0, static_cast<size_t>(n));
        if (n < 0 && errno != EAGAIN && errno != EINTR) dead[i] = true;
      }
      if (c.closeAfterFlush && c.out.empty()) dead[i] = true;
    }
    for (size_t i = clients.size(); i-- > 0;) {
      if (dead[i]) clients.erase(clients.begin() + static_cast<ptrdiff_t>(i));
    }
  }
}

uint16_t closedPort() {
  testsupport::Fd s(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a = loopback(0);
  socklen_t len = sizeof a;
  if (bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      getsockname(s.get(), reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    throw std::runtime_error("closedPort: bind");
  }
  return ntohs(a.sin_port);
}

std::string withoutFaultNotice(const std::string& err) {
  std::string out;
  size_t from = 0;
  while (from < err.size()) {
    size_t end = err.find('\n', from);
    end = end == std::string::npos ? err.size() : end + 1;
    std::string_view line(err.data() + from, end - from);
    if (line.find("fault injection on, seed=") == std::string_view::npos) out += line;
    from = end;
  }
  return out;
}

}  // namespace toolstest
