#include "support/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace testsupport {
namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void throwErrno(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

int statusToCode(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

std::string binaryFromEnv(const char* variable) {
  const char* value = std::getenv(variable);
  if (value == nullptr || *value == '\0') {
    throw std::runtime_error(std::string(variable) + " is not set (run the test through meson)");
  }
  return value;
}

std::string testBackend() {
  const char* value = std::getenv("REACTOR_TEST_BACKEND");
  return value == nullptr ? std::string() : std::string(value);
}

std::vector<std::string> backendArgs() {
  std::string backend = testBackend();
  if (backend.empty()) return {};
  return {"--backend", backend};
}

Process::Process(const std::string& path, const std::vector<std::string>& args,
                 const ProcessOptions& options) {
  // Everything the child needs is prepared before fork: between fork and exec only
  // async-signal-safe calls are allowed (the test process has threads).
  std::vector<std::string> argStore;
  argStore.push_back(path);
  argStore.insert(argStore.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : argStore) argv.push_back(a.data());
  argv.push_back(nullptr);

  std::vector<std::string> envStore = options.env;
  std::vector<char*> envp;
  for (std::string& e : envStore) envp.push_back(e.data());
  for (char** e = environ; *e != nullptr; ++e) envp.push_back(*e);
  envp.push_back(nullptr);

  int pipeFds[2];
  if (::pipe2(pipeFds, O_CLOEXEC) != 0) throwErrno("pipe2");
  stdout_ = Fd(pipeFds[0]);
  Fd writeEnd(pipeFds[1]);

  char tmpl[] = "/tmp/reactor-test-stderr-XXXXXX";
  int errFd = ::mkostemp(tmpl, O_CLOEXEC);
  if (errFd < 0) throwErrno("mkostemp");
  ::unlink(tmpl);
  stderrFile_ = Fd(errFd);

  Fd devNull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!devNull) throwErrno("/dev/null");

  rlimit limit{};
  const bool setLimit = options.fileLimit.has_value();
  if (setLimit) limit.rlim_cur = limit.rlim_max = *options.fileLimit;

  std::vector<int> inherit = options.inheritFds;
  pid_ = ::fork();
  if (pid_ < 0) throwErrno("fork");
  if (pid_ == 0) {
    if (::dup2(devNull.get(), 0) < 0 || ::dup2(writeEnd.get(), 1) < 0 || ::dup2(errFd, 2) < 0) {
      ::_exit(126);
    }
    if (setLimit && ::setrlimit(RLIMIT_NOFILE, &limit) != 0) ::_exit(126);
    // Copies above the targets first (close-on-exec), so no dup2 overwrites a source.
    const int above = 3 + static_cast<int>(inherit.size());
    for (size_t i = 0; i < inherit.size(); ++i) {
      inherit[i] = ::fcntl(inherit[i], F_DUPFD_CLOEXEC, above);
      if (inherit[i] < 0) ::_exit(126);
    }
    for (size_t i = 0; i < inherit.size(); ++i) {
      if (::dup2(inherit[i], 3 + static_cast<int>(i)) < 0) ::_exit(126);
    }
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  running_ = true;
}

Process::~Process() {
  if (running_) kill();
}

std::optional<std::string> Process::readLine(Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    size_t nl = stdoutBuf_.find('\n');
    if (nl != std::string::npos) {
      std::string line = stdoutBuf_.substr(0, nl);
      stdoutBuf_.erase(0, nl + 1);
      return line;
    }
    auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now()).count();
    if (left <= 0) return std::nullopt;
    pollfd p{stdout_.get(), POLLIN, 0};
    int n = ::poll(&p, 1, static_cast<int>(left));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;
    char chunk[4096];
    ssize_t got = ::read(stdout_.get(), chunk, sizeof(chunk));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return std::nullopt;
    stdoutBuf_.append(chunk, static_cast<size_t>(got));
  }
}

std::string Process::readStdoutToEof(Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now()).count();
    if (left <= 0) break;
    pollfd p{stdout_.get(), POLLIN, 0};
    int n = ::poll(&p, 1, static_cast<int>(left));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    char chunk[4096];
    ssize_t got = ::read(stdout_.get(), chunk, sizeof(chunk));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    stdoutBuf_.append(chunk, static_cast<size_t>(got));
  }
  return std::exchange(stdoutBuf_, std::string());
}

std::string Process::stderrText() const {
  std::string text;
  char chunk[4096];
  off_t offset = 0;
  for (;;) {
    ssize_t got = ::pread(stderrFile_.get(), chunk, sizeof(chunk), offset);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    text.append(chunk, static_cast<size_t>(got));
    offset += got;
  }
  return text;
}

bool Process::waitForStderr(const std::string& needle, Millis timeout) const {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (stderrText().find(needle) != std::string::npos) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(Millis(10));
  }
}

void Process::signal(int signo) {
  if (running_) ::kill(pid_, signo);
}

std::optional<int> Process::wait(Millis timeout) {
  if (!running_) return exitCode_;
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      running_ = false;
      exitCode_ = statusToCode(status);
      return exitCode_;
    }
    if (r < 0 && errno != EINTR) {
      running_ = false;  // ECHILD: nothing left to reap
      return exitCode_;
    }
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(Millis(5));
  }
}

void Process::kill() {
  if (!running_) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  running_ = false;
  exitCode_ = statusToCode(status);
}

ProcessResult runProgram(const std::string& path, const std::vector<std::string>& args,
                         Millis timeout, const ProcessOptions& options) {
  Process process(path, args, options);
  ProcessResult result;
  result.out = process.readStdoutToEof(timeout);
  std::optional<int> code = process.wait(timeout);
  if (!code) process.kill();
  result.exitCode = code.value_or(-1);
  result.err = process.stderrText();
  return result;
}

namespace {

std::vector<std::string> serverArgs(std::vector<std::string> extra) {
  std::vector<std::string> args = {"--port", "0"};
  for (std::string& a : backendArgs()) args.push_back(std::move(a));
  for (std::string& a : extra) args.push_back(std::move(a));
  return args;
}

}  // namespace

ServerProcess::ServerProcess(std::vector<std::string> args, const ProcessOptions& options,
                             Millis startTimeout)
    : process_(binaryFromEnv("REACTOR_SERVER"), serverArgs(std::move(args)), options) {
  std::optional<std::string> line = process_.readLine(startTimeout);
  if (!line) {
    process_.kill();
    throw std::runtime_error("reactor-server printed no listening line; stderr: " +
                             process_.stderrText());
  }
  line_ = *line;
  const std::string prefix = "listening on ";
  size_t space = line_.find(' ', prefix.size());
  size_t colon = line_.rfind(':', space);
  if (line_.rfind(prefix, 0) != 0 || space == std::string::npos || colon == std::string::npos ||
      colon < prefix.size()) {
    throw std::runtime_error("unexpected listening line: " + line_);
  }
  host_ = line_.substr(prefix.size(), colon - prefix.size());
  if (host_.size() >= 2 && host_.front() == '[') host_ = host_.substr(1, host_.size() - 2);
  port_ = static_cast<uint16_t>(std::stoi(line_.substr(colon + 1, space - colon - 1)));
}

ServerProcess::~ServerProcess() = default;

Fd ServerProcess::connect(const std::string& source, Millis timeout) const {
  return connectTcp(host_, port_, timeout, source);
}

std::optional<int> ServerProcess::stop(Millis timeout) {
  process_.signal(SIGTERM);
  std::optional<int> code = process_.wait(timeout);
  if (!code) process_.kill();
  return code;
}

}  // namespace testsupport
