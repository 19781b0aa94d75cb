#include "server/master.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <cerrno>
#include <charconv>
#include <cinttypes>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "reactor/acceptor.h"
#include "reactor/address.h"
#include "reactor/event_loop.h"
#include "reactor/log.h"
#include "server/systemd.h"

extern char** environ;

namespace reactor::server {
namespace {

constexpr const char* kWorkerFdVariable = "REACTOR_SERVER_WORKER_FD";
// Where a worker finds what the master hands it (after exec): the listening socket where
// systemd would put it, the pipe to the master right after.
constexpr int kChildListenFd = 3;
constexpr int kChildChannelFd = 4;
// A worker that lived less than this is respawned this much later (crash-loop bound).
constexpr std::chrono::milliseconds kRespawnDelay{1000};
// Workers stop within their own shutdown grace (3 s); past this they are killed.
constexpr std::chrono::milliseconds kStopTimeout{10000};
// The signals the master handles: reset to their defaults in a child before it executes.
constexpr int kMasterSignals[] = {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGUSR1};

void printLine(const std::string& line) {
  std::string text = line + "\n";
  // A failed write to stderr has nowhere to be reported.
  ssize_t ignored = ::write(STDERR_FILENO, text.data(), text.size());
  (void)ignored;
}

void notifyManager(const std::string& state) {
  std::string error = systemd::notify(state);
  if (!error.empty()) log::warn("{}", error);
}

std::string describeStatus(int status) {
  if (WIFSIGNALED(status)) return fmt::format("was killed by signal {}", WTERMSIG(status));
  return fmt::format("exited with status {}", WEXITSTATUS(status));
}

// This program's own file, executed again for each worker. On Linux the link is read at each
// start, so a binary replaced on disk is the one a restart (SIGHUP) runs.
std::string ownExecutable(const char* argv0) {
#ifdef __linux__
  char path[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", path, sizeof path - 1);
  if (n > 0) return std::string(path, static_cast<size_t>(n));
#endif
  char resolved[PATH_MAX];
  if (::realpath(argv0, resolved) != nullptr) return resolved;
  return argv0;
}

// Writes n in decimal at out (room for 20 digits and a NUL). Async-signal-safe (used between
// fork and exec).
void formatPid(long n, char* out) {
  char digits[24];
  int len = 0;
  do {
    digits[len++] = static_cast<char>('0' + n % 10);
    n /= 10;
  } while (n > 0 && len < 20);
  for (int i = 0; i < len; ++i) out[i] = digits[len - 1 - i];
  out[len] = '\0';
}

struct WorkerStats {
  uint64_t accepted = 0;
  uint64_t bytesIn = 0;
  uint64_t bytesOut = 0;
};

class Master {
 public:
  Master(const Config& config, int argc, char** argv);
  int run();

 private:
  struct Child final : IoHandler {
    Master* master = nullptr;
    pid_t pid = -1;
    unsigned generation = 0;
    size_t slot = 0;
    UniqueFd channel;  // read end of the worker's pipe; reset at EOF
    std::string pending;
    bool ready = false;
    bool retiring = false;
    Clock::time_point started;
    WorkerStats stats;

    void handleEvent(const Event&) override { master->readChannel(*this); }
  };

  bool spawn(size_t slot);
  void fillSlots();
  void scheduleFill();
  void readChannel(Child& child);
  void onMessage(Child& child, std::string_view line);
  void onGenerationReady();
  void reap();
  void onExit(Child& child, int status);
  void restart();
  void abandonRestart();
  void beginShutdown();
  void signalAll(int signo);
  void failStart();

  Config config_;
  std::vector<std::string> argv_;
  std::string executable_;
  UniqueFd listener_;
  SockAddr bound_;
  std::unique_ptr<EventLoop> loop_;
  std::map<pid_t, std::unique_ptr<Child>> children_;
  unsigned generation_ = 1;          // the generation that serves (or is starting)
  unsigned previousGeneration_ = 0;  // what serves while generation_ starts, during a restart
  unsigned nextGeneration_ = 2;
  bool announced_ = false;  // generation_ is all ready and (after a restart) the old one retired
  bool everReady_ = false;  // the listening line was printed
  bool stopping_ = false;
  int exitCode_ = 0;
  TimerId respawnTimer_ = 0;
  TimerId killTimer_ = 0;
  WorkerStats total_;
};

Master::Master(const Config& config, int argc, char** argv)
    : config_(config), argv_(argv, argv + argc), executable_(ownExecutable(argv[0])) {}

int Master::run() {
  try {
    loop_ = std::make_unique<EventLoop>(createPoller(config_.backend));
  } catch (const UnknownBackend& e) {
    printLine(fmt::format("reactor-server: {}", e.what()));
    return 2;
  } catch (const std::exception& e) {
    printLine(fmt::format("reactor-server: backend {}: {}", config_.backend, e.what()));
    return 1;
  }
  try {
    std::vector<UniqueFd> inherited = systemd::takeListenFds();
    if (inherited.size() > 1) {
      throw std::runtime_error(fmt::format(
          "LISTEN_FDS={}: reactor-server serves one listening socket", inherited.size()));
    }
    if (inherited.empty()) {
      listener_ =
          listenOn(SockAddr::resolve(config_.host, config_.port).front(), config_.backlog, false);
    } else {
      listener_ = std::move(inherited.front());
    }
    bound_ = SockAddr::local(listener_.get());
  } catch (const std::exception& e) {
    printLine(fmt::format("reactor-server: {}", e.what()));
    return 1;
  }
  loop_->watchSignal(SIGCHLD, [this](int) { reap(); });
  loop_->watchSignal(SIGTERM, [this](int) { beginShutdown(); });
  loop_->watchSignal(SIGINT, [this](int) { beginShutdown(); });
  loop_->watchSignal(SIGHUP, [this](int) { restart(); });
  loop_->watchSignal(SIGUSR1, [this](int) { signalAll(SIGUSR1); });
  fillSlots();
  loop_->run();
  if (exitCode_ == 0) {
    printLine(
        fmt::format("reactor-server: shut down: {} connections served, {} bytes in, {} bytes out",
                    total_.accepted, total_.bytesIn, total_.bytesOut));
  }
  return exitCode_;
}

// The worker is this program with the same arguments; what makes it a worker is the
// environment: LISTEN_FDS/LISTEN_PID for the socket and REACTOR_SERVER_WORKER_FD for the pipe.
bool Master::spawn(size_t slot) {
  int pipeFds[2];
  if (::pipe(pipeFds) != 0) {
    log::error("cannot start a worker: pipe: {}", std::strerror(errno));
    return false;
  }
  UniqueFd readEnd(pipeFds[0]);
  UniqueFd writeEnd(pipeFds[1]);
  if (::fcntl(readEnd.get(), F_SETFD, FD_CLOEXEC) < 0 ||
      ::fcntl(writeEnd.get(), F_SETFD, FD_CLOEXEC) < 0 ||
      ::fcntl(readEnd.get(), F_SETFL, O_NONBLOCK) < 0) {
    log::error("cannot start a worker: fcntl: {}", std::strerror(errno));
    return false;
  }

  // Everything the child needs is built before fork: between fork and exec it only makes
  // async-signal-safe calls.
  std::vector<char*> argv;
  for (std::string& a : argv_) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> envStore = {
      "LISTEN_FDS=1", fmt::format("{}={}", kWorkerFdVariable, kChildChannelFd),
      "LISTEN_PID=" + std::string(24, '0'),  // the digits are written in the child
  };
  // The master notifies the service manager (NOTIFY_SOCKET); the workers must not.
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view entry(*e);
    if (entry.starts_with("LISTEN_") || entry.starts_with("NOTIFY_SOCKET=") ||
        entry.starts_with("REACTOR_SERVER_WORKER_FD=")) {
      continue;
    }
    envStore.emplace_back(entry);
  }
  std::vector<char*> envp;
  for (std::string& e : envStore) envp.push_back(e.data());
  envp.push_back(nullptr);
  char* pidDigits = envStore[2].data() + std::strlen("LISTEN_PID=");
  const char* path = executable_.c_str();
  const pid_t masterPid = ::getpid();
  const int listenFd = listener_.get();
  const int channelFd = writeEnd.get();

  // Signals stay blocked from before fork until the child has reset the master's handlers:
  // a SIGTERM meant for the child must not run the master's handler (which would write to
  // the master's signal pipe) in it.
  sigset_t all;
  sigset_t previous;
  sigfillset(&all);
  sigprocmask(SIG_SETMASK, &all, &previous);
  const pid_t pid = ::fork();
  if (pid == 0) {
    for (int signo : kMasterSignals) {
      struct sigaction dfl {};
      dfl.sa_handler = SIG_DFL;
      sigemptyset(&dfl.sa_mask);
      sigaction(signo, &dfl, nullptr);
    }
#ifdef __linux__
    // The worker gets SIGTERM (a graceful stop) when the master dies; if it died already,
    // before this call, the worker must not start at all.
    if (::prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || ::getppid() != masterPid) ::_exit(1);
#endif
    // Move both descriptors above the targets first, so dup2 cannot overwrite one with the
    // other; the copies are close-on-exec, the targets (from dup2) are not.
    const int listenCopy = ::fcntl(listenFd, F_DUPFD_CLOEXEC, kChildChannelFd + 1);
    const int channelCopy = ::fcntl(channelFd, F_DUPFD_CLOEXEC, kChildChannelFd + 1);
    if (listenCopy < 0 || channelCopy < 0 || ::dup2(listenCopy, kChildListenFd) < 0 ||
        ::dup2(channelCopy, kChildChannelFd) < 0) {
      ::_exit(126);
    }
    formatPid(static_cast<long>(::getpid()), pidDigits);
    sigprocmask(SIG_SETMASK, &previous, nullptr);
    ::execve(path, argv.data(), envp.data());
    static const char kMessage[] = "reactor-server: cannot execute the worker program\n";
    ssize_t ignored = ::write(STDERR_FILENO, kMessage, sizeof kMessage - 1);
    (void)ignored;
    ::_exit(127);
  }
  const int forkError = errno;
  sigprocmask(SIG_SETMASK, &previous, nullptr);
  if (pid < 0) {
    log::error("cannot start a worker: fork: {}", std::strerror(forkError));
    return false;
  }
  auto child = std::make_unique<Child>();
  child->master = this;
  child->pid = pid;
  child->generation = generation_;
  child->slot = slot;
  child->started = Clock::now();
  child->channel = std::move(readEnd);
  if (auto ec = loop_->add(child->channel.get(), Interest::kReadable, child.get())) {
    // Without its pipe the worker's readiness cannot be seen: stop it (it is reaped as usual).
    log::error("cannot watch worker {}: {}", pid, ec.message());
    child->channel.reset();
    ::kill(pid, SIGTERM);
  }
  log::info("worker {} started", pid);
  children_.emplace(pid, std::move(child));
  return true;
}

// Starts a worker of the current generation for every slot that has none.
void Master::fillSlots() {
  if (stopping_) return;
  std::vector<bool> filled(config_.workers, false);
  for (const auto& [pid, child] : children_) {
    if (child->generation == generation_) filled[child->slot] = true;
  }
  bool failed = false;
  for (size_t slot = 0; slot < filled.size(); ++slot) {
    if (!filled[slot] && !spawn(slot)) failed = true;
  }
  if (failed) scheduleFill();
}

// fillSlots() a little later: after a worker that died young, or a failed fork.
void Master::scheduleFill() {
  if (respawnTimer_ != 0) return;
  respawnTimer_ = loop_->runAfter(kRespawnDelay, [this] {
    respawnTimer_ = 0;
    fillSlots();
  });
}

void Master::readChannel(Child& child) {
  char buffer[512];
  for (;;) {
    const ssize_t n = ::read(child.channel.get(), buffer, sizeof buffer);
    if (n > 0) {
      child.pending.append(buffer, static_cast<size_t>(n));
      size_t nl;
      while ((nl = child.pending.find('\n')) != std::string::npos) {
        std::string line = child.pending.substr(0, nl);
        child.pending.erase(0, nl + 1);
        onMessage(child, line);
      }
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    // EOF (the worker is gone or closed it) or an error: nothing more will come.
    loop_->remove(child.channel.get());
    child.channel.reset();
    return;
  }
}

void Master::onMessage(Child& child, std::string_view line) {
  if (line == "READY=1") {
    child.ready = true;
    log::info("worker {} ready", child.pid);
    if (child.generation == generation_ && !announced_) {
      for (const auto& [pid, other] : children_) {
        if (other->generation == generation_ && !other->ready) return;
      }
      onGenerationReady();
    }
    return;
  }
  WorkerStats s;
  if (std::sscanf(std::string(line).c_str(),
                  "STATS accepted=%" SCNu64 " bytes_in=%" SCNu64 " bytes_out=%" SCNu64, &s.accepted,
                  &s.bytesIn, &s.bytesOut) == 3) {
    child.stats = s;
    return;
  }
  log::warn("worker {}: unexpected message '{}'", child.pid, line);
}

void Master::onGenerationReady() {
  announced_ = true;
  const std::string mainPid = fmt::format("MAINPID={}", ::getpid());
  if (!everReady_) {
    everReady_ = true;
    std::printf("listening on %s backend=%.*s protocol=%s\n", bound_.toString().c_str(),
                static_cast<int>(loop_->poller().name().size()), loop_->poller().name().data(),
                config_.protocol.c_str());
    std::fflush(stdout);
    notifyManager("READY=1\n" + mainPid);
    return;
  }
  size_t retired = 0;
  for (auto& [pid, child] : children_) {
    if (child->generation != generation_ && !child->retiring) {
      child->retiring = true;
      ::kill(pid, SIGQUIT);
      ++retired;
    }
  }
  log::info("restart: {} new workers ready; {} old ones retire (they finish their connections)",
            config_.workers, retired);
  notifyManager("READY=1\n" + mainPid);
}

void Master::reap() {
  for (;;) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid == 0) return;
    if (pid < 0) {
      if (errno == EINTR) continue;
      return;  // ECHILD: none left
    }
    auto it = children_.find(pid);
    if (it == children_.end()) continue;  // not a worker (none other is started)
    std::unique_ptr<Child> child = std::move(it->second);
    children_.erase(it);
    // What it wrote before exiting is all in the pipe now.
    if (child->channel) readChannel(*child);
    if (child->channel) loop_->remove(child->channel.get());
    onExit(*child, status);
  }
}

void Master::onExit(Child& child, int status) {
  total_.accepted += child.stats.accepted;
  total_.bytesIn += child.stats.bytesIn;
  total_.bytesOut += child.stats.bytesOut;
  if (stopping_) {
    log::info("worker {} {}", child.pid, describeStatus(status));
    if (children_.empty()) loop_->stop();
    return;
  }
  if (child.generation != generation_) {
    log::info("worker {} {}{}", child.pid, describeStatus(status),
              child.retiring ? " (retired)" : "");
    return;
  }
  if (!child.ready && !everReady_) {
    log::error("worker {} {} before it was ready", child.pid, describeStatus(status));
    failStart();
    return;
  }
  if (!child.ready && !announced_) {
    log::error("restart abandoned: new worker {} {} before it was ready", child.pid,
               describeStatus(status));
    abandonRestart();
    return;
  }
  const auto lived = Clock::now() - child.started;
  log::warn("worker {} {}; replacing it", child.pid, describeStatus(status));
  if (lived >= kRespawnDelay) {
    fillSlots();
  } else {
    scheduleFill();
  }
}

void Master::restart() {
  if (stopping_) return;
  if (!announced_) {
    log::warn("SIGHUP: a start or restart is already under way; ignored");
    return;
  }
  struct timespec now {};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  // MONOTONIC_USEC: what Type=notify-reload services must send with RELOADING=1.
  notifyManager(fmt::format(
      "RELOADING=1\nMONOTONIC_USEC={}",
      static_cast<uint64_t>(now.tv_sec) * 1000000 + static_cast<uint64_t>(now.tv_nsec) / 1000));
  log::info("restart: starting {} new workers", config_.workers);
  previousGeneration_ = generation_;
  generation_ = nextGeneration_++;
  announced_ = false;
  fillSlots();
}

// The new generation cannot start: stop what started of it, the previous one serves on (and
// gets back any worker it lost meanwhile).
void Master::abandonRestart() {
  for (auto& [pid, child] : children_) {
    if (child->generation == generation_) {
      child->retiring = true;
      ::kill(pid, SIGTERM);
    }
  }
  generation_ = previousGeneration_;
  announced_ = true;
  notifyManager(fmt::format("READY=1\nMAINPID={}", ::getpid()));
  fillSlots();
}

void Master::failStart() {
  exitCode_ = 1;
  beginShutdown();
}

void Master::beginShutdown() {
  if (stopping_) return;  // a second signal: the workers are already stopping
  stopping_ = true;
  notifyManager("STOPPING=1");
  if (respawnTimer_ != 0) loop_->cancel(respawnTimer_);
  respawnTimer_ = 0;
  if (children_.empty()) {
    loop_->stop();
    return;
  }
  signalAll(SIGTERM);
  killTimer_ = loop_->runAfter(kStopTimeout, [this] {
    killTimer_ = 0;
    log::warn("{} workers still running after {} ms: killing them", children_.size(),
              kStopTimeout.count());
    signalAll(SIGKILL);
  });
}

void Master::signalAll(int signo) {
  for (const auto& [pid, child] : children_) ::kill(pid, signo);
}

}  // namespace

int runMaster(const Config& config, int argc, char** argv) {
  Master master(config, argc, argv);
  return master.run();
}

bool isWorkerProcess() { return std::getenv(kWorkerFdVariable) != nullptr; }

std::optional<WorkerChannel> WorkerChannel::take() {
  const char* text = std::getenv(kWorkerFdVariable);
  if (text == nullptr) return std::nullopt;
  int fd = -1;
  const std::string_view value(text);
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), fd);
  ::unsetenv(kWorkerFdVariable);
  if (ec != std::errc() || ptr != value.data() + value.size() || fd < 0 ||
      ::fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
    return std::nullopt;
  }
  return WorkerChannel(UniqueFd(fd));
}

void WorkerChannel::ready() { send("READY=1\n"); }

void WorkerChannel::finalStats(uint64_t accepted, uint64_t bytesIn, uint64_t bytesOut) {
  send(fmt::format("STATS accepted={} bytes_in={} bytes_out={}\n", accepted, bytesIn, bytesOut));
}

// One short line in one write: atomic on a pipe (under PIPE_BUF). EPIPE means the master is
// gone; the worker is then stopping anyway (SIGTERM from PR_SET_PDEATHSIG), nothing to tell.
void WorkerChannel::send(const std::string& line) {
  for (;;) {
    if (::write(fd_.get(), line.data(), line.size()) >= 0 || errno != EINTR) return;
  }
}

}  // namespace reactor::server
