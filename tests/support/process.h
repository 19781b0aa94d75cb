// Child processes for black-box tests: the real binaries, started with fork+execv, their
// output captured, always reaped.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "support/socket_client.h"

namespace testsupport {

/// The path of a binary from an environment variable set by meson (e.g. REACTOR_SERVER).
/// Throws std::runtime_error if unset.
std::string binaryFromEnv(const char* variable);

/// The backend this test run is for (REACTOR_TEST_BACKEND), empty if unset.
std::string testBackend();
/// {"--backend", NAME} for the test backend, or nothing.
std::vector<std::string> backendArgs();

struct ProcessOptions {
  /// RLIMIT_NOFILE (soft and hard) set in the child before exec, when given.
  std::optional<unsigned long> fileLimit;
  /// Extra environment entries ("NAME=value"), added to the inherited environment.
  std::vector<std::string> env;
  /// Descriptors handed to the child at 3, 4, ... (as systemd passes listening sockets).
  std::vector<int> inheritFds;
};

struct ProcessResult {
  int exitCode = -1;  // the exit status, or 128 + signal
  std::string out;
  std::string err;
};

/// Runs a program to completion (killed after `timeout`), capturing stdout and stderr.
ProcessResult runProgram(const std::string& path, const std::vector<std::string>& args,
                         Millis timeout = Millis(10000), const ProcessOptions& options = {});

/// A running child. stdout is a pipe (the first line is read with a deadline); stderr goes to an
/// unlinked temporary file, so the child never blocks on it and everything stays readable.
class Process {
 public:
  Process(const std::string& path, const std::vector<std::string>& args,
          const ProcessOptions& options = {});
  ~Process();  // kills (SIGKILL) if still running, and reaps
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  /// Reads one line of stdout (without '\n'); nullopt on EOF or timeout.
  std::optional<std::string> readLine(Millis timeout = kDefaultTimeout);
  /// Everything on stdout until EOF (or timeout), after what readLine() took.
  std::string readStdoutToEof(Millis timeout = kDefaultTimeout);
  /// Everything written to stderr so far.
  std::string stderrText() const;
  /// Waits until stderr contains `needle`. True if it did in time.
  bool waitForStderr(const std::string& needle, Millis timeout = kDefaultTimeout) const;

  void signal(int signo);
  /// Waits for the exit: the status (or 128 + signal), or nullopt on timeout.
  std::optional<int> wait(Millis timeout = kDefaultTimeout);
  /// SIGKILL and reap.
  void kill();
  bool running() const { return running_; }

 private:
  pid_t pid_ = -1;
  bool running_ = false;
  int exitCode_ = -1;
  Fd stdout_;
  Fd stderrFile_;
  std::string stdoutBuf_;
};

/// reactor-server started on 127.0.0.1 --port 0 (plus the test backend and `args`); the
/// constructor waits for the listening line and parses the port (throws if it does not come).
class ServerProcess {
 public:
  explicit ServerProcess(std::vector<std::string> args = {}, const ProcessOptions& options = {},
                         Millis startTimeout = Millis(10000));
  ~ServerProcess();

  uint16_t port() const { return port_; }
  const std::string& host() const { return host_; }
  const std::string& listeningLine() const { return line_; }
  Process& process() { return process_; }

  /// A connected socket to the server (throws on failure).
  Fd connect(const std::string& source = {}, Millis timeout = kDefaultTimeout) const;
  /// SIGTERM and wait: the exit code (nullopt on timeout, then killed).
  std::optional<int> stop(Millis timeout = Millis(10000));

 private:
  Process process_;
  std::string line_;
  std::string host_;
  uint16_t port_ = 0;
};

}  // namespace testsupport
