// reactor-server past one process: --workers N under a master (a killed worker is replaced,
// SIGHUP restarts without refusing or resetting anyone), systemd socket activation (LISTEN_FDS
// set by hand, a socket the test made) and sd_notify (a datagram socket the test reads).
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iterator>
#include <regex>
#include <set>
#include <thread>

#include "helpers.h"

namespace servertest {
namespace {

using Clock = std::chrono::steady_clock;

// The pids of the workers the master reported ready (in order), from its stderr.
std::vector<pid_t> readyWorkers(const Process& master) {
  static const std::regex kReady(R"(^reactor-server: info: worker (\d+) ready$)");
  std::vector<pid_t> pids;
  std::smatch m;
  for (const std::string& line : lines(master.stderrText())) {
    if (std::regex_match(line, m, kReady)) pids.push_back(std::stoi(m[1].str()));
  }
  return pids;
}

// Waits until the master has reported `count` workers ready in all; returns them.
std::vector<pid_t> waitForReady(const Process& master, size_t count, Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    std::vector<pid_t> pids = readyWorkers(master);
    if (pids.size() >= count || Clock::now() >= deadline) return pids;
    std::this_thread::sleep_for(Millis(20));
  }
}

uint16_t localPort(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) return 0;
  return ntohs(a.sin_port);
}

// The inode of the server's end of a loopback connection (from /proc/net/tcp), 0 if unseen.
unsigned long serverSideInode(uint16_t serverPort, uint16_t clientPort) {
  std::ifstream in("/proc/net/tcp");
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    unsigned localPort = 0, remotePort = 0;
    unsigned long inode = 0;
    if (std::sscanf(line.c_str(), " %*d: %*8x:%x %*8x:%x %*x %*x:%*x %*x:%*x %*x %*d %*d %lu",
                    &localPort, &remotePort, &inode) == 3 &&
        localPort == serverPort && remotePort == clientPort && inode != 0) {
      return inode;
    }
  }
  return 0;
}

// Whether process pid holds the socket with this inode.
bool holdsSocket(pid_t pid, unsigned long inode) {
  const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  const std::string wanted = "socket:[" + std::to_string(inode) + "]";
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return false;
  bool found = false;
  while (dirent* e = ::readdir(d)) {
    char target[64];
    const std::string link = dir + "/" + e->d_name;
    const ssize_t n = ::readlink(link.c_str(), target, sizeof target - 1);
    if (n > 0 && std::string(target, static_cast<size_t>(n)) == wanted) {
      found = true;
      break;
    }
  }
  ::closedir(d);
  return found;
}

// Which of `workers` serves the connection fd (waits for it to be accepted); -1 if none.
pid_t ownerOf(int fd, uint16_t serverPort, const std::vector<pid_t>& workers) {
  const auto deadline = Clock::now() + Millis(10000);
  while (Clock::now() < deadline) {
    const unsigned long inode = serverSideInode(serverPort, localPort(fd));
    for (pid_t pid : workers) {
      if (inode != 0 && holdsSocket(pid, inode)) return pid;
    }
    std::this_thread::sleep_for(Millis(10));
  }
  return -1;
}

TEST(Workers, KilledWorkerIsReplacedAndTheOthersKeepTheirConnections) {
#ifndef __linux__
  GTEST_SKIP() << "finds each connection's worker through /proc";
#endif
  Server server({"--workers", "2"});
  std::vector<pid_t> workers = waitForReady(server.process(), 2, Millis(10000));
  ASSERT_EQ(workers.size(), 2u) << server.process().stderrText();
  // Connections until both workers hold some (which one accepts is up to the kernel).
  std::vector<Fd> fds;
  std::vector<pid_t> owners;
  std::set<pid_t> seen;
  for (size_t i = 0; i < 400 && seen.size() < 2; ++i) {
    fds.push_back(server.connect());
    expectEcho(fds.back().get(), "hello");
    owners.push_back(ownerOf(fds.back().get(), server.port(), workers));
    ASSERT_NE(owners.back(), -1);
    seen.insert(owners.back());
  }
  ASSERT_EQ(seen.size(), 2u) << "every connection went to one worker";

  const pid_t victim = workers[0];
  ASSERT_EQ(::kill(victim, SIGKILL), 0);
  ASSERT_TRUE(server.process().waitForStderr(
      "worker " + std::to_string(victim) + " was killed by signal 9; replacing it", Millis(10000)));
  // A replacement reports ready.
  std::vector<pid_t> now = waitForReady(server.process(), 3, Millis(10000));
  ASSERT_EQ(now.size(), 3u) << server.process().stderrText();
  // The victim's connections are gone; the other worker's still echo.
  size_t survived = 0;
  for (size_t i = 0; i < fds.size(); ++i) {
    if (owners[i] == victim) {
      EXPECT_TRUE(waitForClose(fds[i].get())) << "connection " << i << " of the killed worker";
    } else {
      expectEcho(fds[i].get(), "still here");
      ++survived;
    }
  }
  EXPECT_GT(survived, 0u);
  // New connections are served (by either worker).
  for (int i = 0; i < 10; ++i) {
    Fd fd = server.connect();
    expectEcho(fd.get(), "new");
  }
}

bool waitUntil(const std::function<bool()>& condition, Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!condition()) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(Millis(10));
  }
  return true;
}

// Whether pid is gone (or a zombie nobody reaped yet: it runs no more either way).
bool processGone(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return ::kill(pid, 0) != 0;
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const size_t paren = text.rfind(')');
  return paren != std::string::npos && text.size() > paren + 2 && text[paren + 2] == 'Z';
}

TEST(Workers, SigtermStopsEveryWorkerWithOneSummary) {
  Server server({"--workers", "3"});
  std::vector<pid_t> workers = waitForReady(server.process(), 3, Millis(10000));
  ASSERT_EQ(workers.size(), 3u);
  constexpr int kConnections = 12;
  for (int i = 0; i < kConnections; ++i) {
    Fd fd = server.connect();
    expectEcho(fd.get(), std::string(100, 'w'));
  }
  Fd open = server.connect();
  expectEcho(open.get(), "open");
  EXPECT_EQ(server.stop(), 0);
  EXPECT_TRUE(waitForClose(open.get()));
  for (pid_t pid : workers) EXPECT_TRUE(processGone(pid)) << pid;
  size_t summaries = 0;
  for (const std::string& line : lines(server.process().stderrText())) {
    if (line.find("connections served") == std::string::npos) continue;
    ++summaries;
    EXPECT_EQ(line,
              "reactor-server: shut down: 13 connections served, 1204 bytes in, 1204 bytes out");
  }
  EXPECT_EQ(summaries, 1u) << server.process().stderrText();
}

TEST(Workers, WorkersStopWhenTheMasterDies) {
  ServerProcess server({"--workers", "2"});
  std::vector<pid_t> workers = waitForReady(server.process(), 2, Millis(10000));
  ASSERT_EQ(workers.size(), 2u);
  server.process().kill();
  for (pid_t pid : workers) {
    EXPECT_TRUE(waitUntil([pid] { return processGone(pid); }, Millis(10000))) << pid;
  }
}

// A client loop: connect, echo a message, close; every failure counted.
struct LoadLoop {
  explicit LoadLoop(const ServerProcess& server) {
    thread = std::thread([this, &server] {
      for (size_t i = 0; !stop.load(); ++i) {
        int error = 0;
        Fd fd = connectTcp(server.host(), server.port(), Millis(5000), {}, &error);
        const std::string message = "message " + std::to_string(i);
        if (!fd || sendAll(fd.get(), message) != 0) {
          failures.fetch_add(1);
          continue;
        }
        RecvResult got = recvExactly(fd.get(), message.size());
        if (!got.ok() || got.data != message) failures.fetch_add(1);
        closeWithReset(fd);
        done.fetch_add(1);
      }
    });
  }
  ~LoadLoop() { finish(); }
  void finish() {
    stop = true;
    if (thread.joinable()) thread.join();
  }
  std::atomic<bool> stop{false};
  std::atomic<size_t> done{0};
  std::atomic<size_t> failures{0};
  std::thread thread;
};

size_t countOf(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

TEST(Workers, SighupRestartsWithoutRefusingOrResettingAnyone) {
  Server server({"--workers", "2"});
  ASSERT_EQ(waitForReady(server.process(), 2, Millis(10000)).size(), 2u);
  // Established before the restarts, kept open through all of them.
  Fd established = server.connect();
  expectEcho(established.get(), "before");

  constexpr int kRestarts = 3;
  {
    LoadLoop load(server);
    for (int r = 1; r <= kRestarts; ++r) {
      const size_t before = load.done.load();
      ASSERT_TRUE(waitUntil([&] { return load.done.load() >= before + 20; }, Millis(20000)));
      server.process().signal(SIGHUP);
      ASSERT_TRUE(waitUntil(
          [&] { return countOf(server.process().stderrText(), "new workers ready") >= size_t(r); },
          Millis(20000)))
          << server.process().stderrText();
      // The established connection is served by a retired worker now, and still echoes.
      expectEcho(established.get(), "during " + std::to_string(r));
    }
    const size_t before = load.done.load();
    ASSERT_TRUE(waitUntil([&] { return load.done.load() >= before + 20; }, Millis(20000)));
    load.finish();
    EXPECT_EQ(load.failures.load(), 0u) << "of " << load.done.load() << " connections";
  }
  // Its worker retired with it open: it exits once the connection closes.
  expectEcho(established.get(), "after");
  const std::string err = server.process().stderrText();
  const size_t retiredBefore = countOf(err, "(retired)");
  EXPECT_LT(retiredBefore, size_t(2 * kRestarts)) << err;
  established.reset();
  EXPECT_TRUE(waitUntil(
      [&] { return countOf(server.process().stderrText(), "(retired)") == size_t(2 * kRestarts); },
      Millis(10000)))
      << server.process().stderrText();
}

// A listening socket on 127.0.0.1, port 0, made here (not by the server).
Fd listeningSocket(uint16_t* port) {
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (!fd || ::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::listen(fd.get(), 64) != 0 ||
      ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    return Fd();
  }
  *port = ntohs(a.sin_port);
  return fd;
}

// reactor-server started the way systemd starts it: the socket at descriptor 3, LISTEN_FDS=1
// and LISTEN_PID set to the server's own pid (by a shell that then executes the server, which
// keeps the pid). `pidOffset` makes LISTEN_PID name another process.
std::unique_ptr<Process> activated(int listenFd, std::vector<std::string> args, int pidOffset = 0) {
  std::vector<std::string> shArgs = {
      "-c",
      "LISTEN_PID=$(($$ + " + std::to_string(pidOffset) + ")) LISTEN_FDS=1 exec \"$0\" \"$@\"",
      binaryFromEnv("REACTOR_SERVER"), "--port", "0"};
  for (std::string& a : backendArgs()) shArgs.push_back(a);
  for (std::string& a : args) shArgs.push_back(a);
  ProcessOptions options;
  options.inheritFds = {listenFd};
  return std::make_unique<Process>("/bin/sh", shArgs, options);
}

void expectServedOnHandedSocket(std::vector<std::string> args) {
  uint16_t port = 0;
  Fd listener = listeningSocket(&port);
  ASSERT_TRUE(listener);
  std::unique_ptr<Process> server = activated(listener.get(), args);
  std::optional<std::string> line = server->readLine(Millis(10000));
  ASSERT_TRUE(line) << server->stderrText();
  EXPECT_NE(line->find("listening on 127.0.0.1:" + std::to_string(port) + " "), std::string::npos)
      << *line;
  for (int i = 0; i < 5; ++i) {
    Fd fd = connectTcp("127.0.0.1", port);
    expectEcho(fd.get(), "activated " + std::to_string(i));
  }
  server->signal(SIGTERM);
  EXPECT_EQ(server->wait(Millis(15000)), 0) << server->stderrText();
}

TEST(SocketActivation, ServesOnTheHandedSocket) { expectServedOnHandedSocket({}); }

TEST(SocketActivation, ServesOnTheHandedSocketWithThreads) {
  expectServedOnHandedSocket({"--threads", "2"});
}

TEST(SocketActivation, ServesOnTheHandedSocketWithWorkers) {
  expectServedOnHandedSocket({"--workers", "2"});
}

TEST(SocketActivation, IgnoresVariablesMeantForAnotherProcess) {
  uint16_t port = 0;
  Fd listener = listeningSocket(&port);
  ASSERT_TRUE(listener);
  std::unique_ptr<Process> server = activated(listener.get(), {}, 1);
  std::optional<std::string> line = server->readLine(Millis(10000));
  ASSERT_TRUE(line) << server->stderrText();
  // It bound a port of its own (--port 0).
  EXPECT_EQ(line->find("127.0.0.1:" + std::to_string(port) + " "), std::string::npos) << *line;
  server->signal(SIGTERM);
  EXPECT_EQ(server->wait(Millis(15000)), 0) << server->stderrText();
}

// The service manager's end of sd_notify: a datagram socket at a path.
class NotifySocket {
 public:
  NotifySocket() {
    char dir[] = "/tmp/reactor-notify-XXXXXX";
    if (::mkdtemp(dir) != nullptr) dir_ = dir;
    path_ = dir_ + "/notify";
    fd_ = Fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path_.c_str());
    bound_ = fd_ && ::bind(fd_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~NotifySocket() {
    ::unlink(path_.c_str());
    ::rmdir(dir_.c_str());
  }
  bool bound() const { return bound_; }
  const std::string& path() const { return path_; }
  // The next datagram, empty on timeout.
  std::string next(Millis timeout = Millis(10000)) {
    if (waitForPoll(fd_.get(), POLLIN, timeout) == 0) return {};
    char buffer[4096];
    const ssize_t n = ::recv(fd_.get(), buffer, sizeof buffer, 0);
    return n > 0 ? std::string(buffer, static_cast<size_t>(n)) : std::string();
  }

 private:
  std::string dir_;
  std::string path_;
  Fd fd_;
  bool bound_ = false;
};

TEST(Notify, ReadyThenStopping) {
  NotifySocket notify;
  ASSERT_TRUE(notify.bound());
  ProcessOptions options;
  options.env = {"NOTIFY_SOCKET=" + notify.path()};
  ServerProcess server({}, options);
  const std::string ready = notify.next();
  EXPECT_NE(ready.find("READY=1"), std::string::npos) << ready;
  EXPECT_NE(ready.find("MAINPID=" + std::to_string(server.process().pid())), std::string::npos)
      << ready;
  EXPECT_EQ(server.stop(), 0);
  EXPECT_EQ(notify.next(), "STOPPING=1");
}

TEST(Notify, MasterReportsRestartsAndOnlyTheMasterNotifies) {
  NotifySocket notify;
  ASSERT_TRUE(notify.bound());
  ProcessOptions options;
  options.env = {"NOTIFY_SOCKET=" + notify.path()};
  ServerProcess server({"--workers", "2"}, options);
  const std::string mainPid = "MAINPID=" + std::to_string(server.process().pid());
  std::string ready = notify.next();
  EXPECT_NE(ready.find("READY=1"), std::string::npos) << ready;
  EXPECT_NE(ready.find(mainPid), std::string::npos) << ready;
  server.process().signal(SIGHUP);
  const std::string reloading = notify.next();
  EXPECT_EQ(reloading.rfind("RELOADING=1\nMONOTONIC_USEC=", 0), 0u) << reloading;
  ready = notify.next();
  EXPECT_NE(ready.find("READY=1"), std::string::npos) << ready;
  EXPECT_EQ(server.stop(), 0);
  EXPECT_EQ(notify.next(), "STOPPING=1");
  // Nothing else: no worker wrote to the socket.
  EXPECT_EQ(notify.next(Millis(200)), "");
}

}  // namespace
}  // namespace servertest
