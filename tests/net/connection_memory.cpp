// Measures the user-space memory of idle connections: heap bytes in use (mallinfo2) and RSS
// before and after N connections are accepted, and again after each has echoed a 4 KiB message.
// The clients live in a forked child so that only the server side is measured.
//
//   connection_memory [N]        (default 10000; needs RLIMIT_NOFILE above N)
#include <malloc.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "reactor/acceptor.h"
#include "reactor/connection.h"
#include "reactor/event_loop.h"
#include "support/socket_client.h"

namespace {

using namespace std::chrono_literals;

struct Usage {
  size_t heap;
  size_t rss;
};

Usage usage() {
  long pages = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return {mallinfo2().uordblks, static_cast<size_t>(resident) * sysconf(_SC_PAGESIZE)};
}

class Echo final : public reactor::ConnectionHandler {
 public:
  size_t open = 0;
  size_t refused = 0;  // registration failed (select's FD_SETSIZE)
  size_t echoed = 0;
  void onMessage(reactor::Connection& conn, reactor::Buffer& input) override {
    echoed += input.readableBytes();
    conn.send(input);
  }
  void onClose(reactor::Connection&, reactor::CloseReason) override { --open; }
};

// The child: N clients, then one 4 KiB message each once told, then hold until told to exit.
[[noreturn]] void runClients(uint16_t port, size_t n, int control) {
  std::vector<testsupport::Fd> clients;
  clients.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    clients.push_back(
        testsupport::connectTcp("127.0.0.1", port, 5000ms, testsupport::loopbackSource(i)));
  }
  char c;
  if (::write(control, "c", 1) != 1 || ::read(control, &c, 1) != 1) ::_exit(1);
  const std::string message(4096, 'm');
  for (auto& fd : clients) {
    if (testsupport::sendAll(fd.get(), message) != 0) ::_exit(2);
  }
  for (auto& fd : clients) {
    if (!testsupport::recvExactly(fd.get(), message.size()).ok()) ::_exit(3);
  }
  if (::write(control, "e", 1) != 1 || ::read(control, &c, 1) != 1) ::_exit(1);
  for (auto& fd : clients) testsupport::closeWithReset(fd);
  ::_exit(0);
}

}  // namespace

int main(int argc, char** argv) {
  const size_t n = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 10000;
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &limit);
  if (limit.rlim_cur < n + 64) {
    std::fprintf(stderr, "RLIMIT_NOFILE %lu is too low for %zu connections\n",
                 static_cast<unsigned long>(limit.rlim_cur), n);
    return 2;
  }

  reactor::EventLoop loop(reactor::createPoller("auto"));
  Echo echo;
  reactor::ConnectionOptions options;
  reactor::Acceptor acceptor(
      loop, reactor::SockAddr::parse("127.0.0.1", 0), {},
      [&](reactor::UniqueFd fd, const reactor::SockAddr&) {
        std::error_code ec;
        if (reactor::Connection::create(loop, std::move(fd), &echo, &options, ec) != nullptr) {
          ++echo.open;
        } else {
          ++echo.refused;
        }
      });
  int control[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM, 0, control) != 0) return 1;
  // Settle the loop's own allocations (batch, timers) before the baseline.
  loop.runOnce(0);
  const Usage base = usage();
  const pid_t child = ::fork();
  if (child == 0) runClients(acceptor.localAddress().port(), n, control[1]);

  auto runUntil = [&](auto pred) {
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (std::chrono::steady_clock::now() < deadline) {
      if (pred()) return true;
      loop.runOnce(10);
    }
    return false;
  };
  auto readable = [&] {
    char c;
    return ::recv(control[0], &c, 1, MSG_DONTWAIT) == 1;
  };
  bool ok = runUntil([&] { return echo.open == n || echo.refused > 0; }) && echo.refused == 0 &&
            runUntil(readable);
  const Usage idle = usage();
  ok = ok && ::write(control[0], "g", 1) == 1 && runUntil(readable);
  const Usage after = usage();
  ok = ok && ::write(control[0], "x", 1) == 1;
  int status = 0;
  if (!ok) ::kill(child, SIGKILL);
  ::waitpid(child, &status, 0);
  if (!ok || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "measurement failed (open %zu of %zu, refused %zu, child status %d)\n",
                 echo.open, n, echo.refused, status);
    return 1;
  }
  auto per = [&](size_t later, size_t earlier) {
    return static_cast<double>(later) / static_cast<double>(n) -
           static_cast<double>(earlier) / static_cast<double>(n);
  };
  std::printf("backend=%s connections=%zu sizeof(Connection)=%zu\n",
              std::string(loop.poller().name()).c_str(), n, sizeof(reactor::Connection));
  std::printf("idle:              heap %.0f B/conn, RSS %.0f B/conn\n", per(idle.heap, base.heap),
              per(idle.rss, base.rss));
  std::printf("after 4 KiB echo:  heap %.0f B/conn, RSS %.0f B/conn\n", per(after.heap, base.heap),
              per(after.rss, base.rss));
  return 0;
}
