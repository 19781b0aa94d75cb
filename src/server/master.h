// reactor-server --workers N: a master process that owns the listening socket and supervises
// N worker processes serving on it, and the worker's end of the pipe between them.
//
// The master binds the one listening socket (or takes it from systemd) and keeps it open for
// its whole life. Each worker is this same program, re-executed with the socket at descriptor 3
// (LISTEN_FDS=1, as systemd would hand it over) and a pipe to the master at descriptor 4
// (REACTOR_SERVER_WORKER_FD): a fresh process that inherits nothing of the master's event loop.
// All workers, and all --threads loops of each, accept from that one socket's queue.
//
// Signals to the master:
//   SIGCHLD          a worker of the current generation that died is replaced: at once if it
//                    had run for a second, else a second later (a crash loop forks once a
//                    second per worker, not in a spin). The other workers are not touched.
//   SIGHUP           a restart: a new generation of N workers starts on the same socket; once
//                    all of them are ready, the old ones get SIGQUIT: they stop accepting, serve
//                    their open connections until those close (at most kRetireGrace), then exit.
//                    The socket is never closed, so no connection in its queue is reset. If a
//                    new worker dies before it is ready, the restart is abandoned and the old
//                    generation keeps serving.
//   SIGTERM, SIGINT  SIGTERM to every worker (each stops as a single server does), wait for
//                    them (SIGKILL after kStopTimeout), print the one summary line, exit 0.
//   SIGUSR1          forwarded: each worker prints its statistics line.
// Workers die with the master: PR_SET_PDEATHSIG (Linux) or a once-a-second check of getppid().
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

#include "reactor/fd.h"
#include "server/options.h"

namespace reactor::server {

/// How long a retired worker (SIGQUIT) may go on serving its open connections.
inline constexpr std::chrono::seconds kRetireGrace{30};

/// Runs the master until SIGTERM/SIGINT. Returns the exit code (as run() in runtime.h).
int runMaster(const Config& config, int argc, char** argv);

/// Whether this process was started by a master as one of its workers.
bool isWorkerProcess();

/// A worker's end of the pipe to its master: one line per message.
class WorkerChannel {
 public:
  /// The channel named by REACTOR_SERVER_WORKER_FD (the variable is removed), or nullopt.
  static std::optional<WorkerChannel> take();

  /// Every loop of this worker is accepting.
  void ready();
  /// The worker's totals, sent once just before it exits (the master sums them).
  void finalStats(uint64_t accepted, uint64_t bytesIn, uint64_t bytesOut);

 private:
  explicit WorkerChannel(UniqueFd fd) : fd_(std::move(fd)) {}
  void send(const std::string& line);

  UniqueFd fd_;
};

}  // namespace reactor::server
