#include "server/runtime.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>
#include <vector>

#include "reactor/address.h"
#include "reactor/event_loop.h"
#include "reactor/io.h"
#include "reactor/log.h"
#include "reactor/protocols.h"
#include "reactor/tcp_server.h"
#include "reactor/trace.h"
#include "server/master.h"
#include "server/systemd.h"

namespace reactor::server {
namespace {

// Bounded time to finish writing what is buffered after SIGINT/SIGTERM.
constexpr std::chrono::milliseconds kShutdownGrace{3000};
// Descriptors scanned for the ones already open once the server is set up (stdio, the
// pollers, wakeup and signal pipes, listeners, the acceptor's spare): they are allocated
// lowest first, so at start-up they all sit far below this.
constexpr int kDescriptorScan = 65536;
constexpr size_t kSelectLimit = 1024;  // FD_SETSIZE on the platforms we build for

// Whether the kernel spreads new connections over SO_REUSEPORT listeners (Linux 3.9+). Elsewhere
// (macOS, older BSDs) the newest listener takes them all, so one acceptor hands connections out
// round-robin instead. REACTOR_SERVER_HANDOFF=1 forces that path (to test it on Linux).
bool kernelBalancesReusePort() {
  const char* force = std::getenv("REACTOR_SERVER_HANDOFF");
  if (force != nullptr && std::string_view(force) == "1") return false;
#ifdef __linux__
  return true;
#else
  return false;
#endif
}

bool& workerFlag() {
  static bool worker = false;
  return worker;
}
bool isWorker() { return workerFlag(); }

void notifyManager(const std::string& state) {
  std::string error = systemd::notify(state);
  if (!error.empty()) log::warn("{}", error);
}

// Writes one line on stderr in one write, whatever the log level (the contract's summary and
// SIGUSR1 statistics are output, not logs).
void printLine(const std::string& line) {
  std::string text = line + "\n";
  // A worker's lines name it: "reactor-server[PID]: ...".
  if (isWorker() && text.starts_with("reactor-server: ")) {
    text.replace(0, 14, fmt::format("reactor-server[{}]", ::getpid()));
  }
  // A failed write to stderr has nowhere to be reported.
  ssize_t ignored = ::write(STDERR_FILENO, text.data(), text.size());
  (void)ignored;
}

// Raises the soft RLIMIT_NOFILE to the hard limit and returns the soft limit in effect.
rlim_t raiseFileLimit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return 1024;
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    // macOS refuses RLIM_INFINITY (and values over OPEN_MAX): keep what we have then.
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  return limit.rlim_cur;
}

struct Snapshot {
  ServerStats server;
  LoopStats loop;

  void add(const Snapshot& other) {
    server.open += other.server.open;
    server.accepted += other.server.accepted;
    server.closed += other.server.closed;
    server.refused += other.server.refused;
    server.bytesIn += other.server.bytesIn;
    server.bytesOut += other.server.bytesOut;
    loop.iterations += other.loop.iterations;
    loop.events += other.loop.events;
  }
};

// One event loop with its server. Loop 0 runs on the main thread; the others construct and run
// their loop and server on their own thread and destroy the server there. The main thread
// destroys a worker's loop, after join(): its stop() may still be writing the loop's wakeup
// descriptor when the loop thread, already awake, sees the flag and returns from run().
struct Worker {
  std::unique_ptr<EventLoop> loop;
  std::unique_ptr<TcpServer> server;
  std::thread thread;
  Snapshot final;  // taken on the worker's thread before its server is destroyed

  Snapshot snapshot() const { return {server->stats(), loop->stats()}; }
};

class Runtime {
 public:
  Runtime(const Config& config, std::optional<WorkerChannel> channel)
      : config_(config),
        channel_(std::move(channel)),
        appFactory_(config.maxMessageBytes),
        echoFactory_(echo_) {
    // --max-connections is the total over all workers: each gets its share.
    if (channel_)
      config_.maxConnections = (config.maxConnections + config.workers - 1) / config.workers;
  }

  int run();

 private:
  HandlerFactory& factory() {
    return config_.protocol == "app" ? static_cast<HandlerFactory&>(appFactory_) : echoFactory_;
  }
  ServerOptions serverOptions(bool reusePort) {
    ServerOptions options;
    options.maxConnections = config_.maxConnections;
    options.sharedOpen = &open_;
    options.idleTimeout = std::chrono::seconds(config_.idleTimeoutSeconds);
    options.acceptor.backlog = config_.backlog;
    options.acceptor.reusePort = reusePort;
    return options;
  }
  void startWorker(Worker& worker, const std::optional<SockAddr>& address, UniqueFd listening,
                   std::promise<void> ready);
  void retire();
  void handOff(UniqueFd socket);
  void stopWorkers();
  void beginShutdown();
  void printStatistics();
  void warnAboutLimits(rlim_t fileLimit, std::string_view backend);

  Config config_;
  std::optional<WorkerChannel> channel_;  // set in a worker of a master process
  EchoHandler echo_;
  AppFactory appFactory_;
  SharedHandlerFactory echoFactory_;
  std::atomic<size_t> open_{0};  // the connection limit is a total over every loop
  std::vector<Worker> workers_;
  bool stopping_ = false;
  bool retiring_ = false;
  TimerId retireCheck_ = 0;
  TimerId retireDeadline_ = 0;
  size_t shutdownsPending_ = 0;
  size_t nextWorker_ = 0;  // round-robin hand-off
};

// With a listening socket the worker accepts on it (a duplicate of the inherited one); with an
// address it listens on it (SO_REUSEPORT); with neither, it serves what the main loop hands it.
void Runtime::startWorker(Worker& worker, const std::optional<SockAddr>& address,
                          UniqueFd listening, std::promise<void> ready) {
  const auto index = static_cast<unsigned>(&worker - workers_.data());
  worker.thread = std::thread([this, &worker, index, address, listening = std::move(listening),
                               ready = std::move(ready)]() mutable {
    trace::setLoopIndex(index);
    try {
      worker.loop = std::make_unique<EventLoop>(createPoller(config_.backend));
      if (listening) {
        worker.server = std::make_unique<TcpServer>(*worker.loop, std::move(listening),
                                                    serverOptions(false), factory());
      } else if (address) {
        worker.server =
            std::make_unique<TcpServer>(*worker.loop, *address, serverOptions(true), factory());
      } else {
        worker.server = std::make_unique<TcpServer>(*worker.loop, serverOptions(false), factory());
      }
    } catch (...) {
      worker.server.reset();
      worker.loop.reset();
      ready.set_exception(std::current_exception());
      return;
    }
    ready.set_value();
    worker.loop->run();
    worker.final = worker.snapshot();
    worker.server.reset();
  });
}

void Runtime::handOff(UniqueFd socket) {
  Worker& worker = workers_[nextWorker_];
  nextWorker_ = (nextWorker_ + 1) % workers_.size();
  if (&worker == &workers_[0]) {
    worker.server->adopt(std::move(socket));
    return;
  }
  // The task must be copyable: it carries the raw descriptor and owns it again on arrival.
  TcpServer* server = worker.server.get();
  const int fd = socket.release();
  worker.loop->post([server, fd] { server->adopt(UniqueFd(fd)); });
}

// Stops the loops of workers 1..N-1 and joins their threads; only then are their loops
// destroyed (see Worker).
void Runtime::stopWorkers() {
  for (size_t i = 1; i < workers_.size(); ++i) {
    workers_[i].loop->stop();
    workers_[i].thread.join();
    workers_[i].loop.reset();
  }
}

// The descriptors open in this process now (below kDescriptorScan and the limit).
size_t openDescriptors(rlim_t fileLimit) {
  const int end = static_cast<int>(std::min<rlim_t>(fileLimit, kDescriptorScan));
  size_t open = 0;
  for (int fd = 0; fd < end; ++fd) {
    if (::fcntl(fd, F_GETFD) != -1) ++open;
  }
  return open;
}

// Called once everything but the connections is open: each connection then takes one
// descriptor of what is left.
void Runtime::warnAboutLimits(rlim_t fileLimit, std::string_view backend) {
  const size_t used = openDescriptors(fileLimit);
  const size_t room = fileLimit > used ? static_cast<size_t>(fileLimit) - used : 0;
  if (config_.maxConnections > room) {
    log::warn(
        "--max-connections {} is more than the descriptor limit ({}) allows: past about {} "
        "connections, new ones will be refused",
        config_.maxConnections, fileLimit, room);
  }
  if (backend == "select" && config_.maxConnections > kSelectLimit) {
    log::warn(
        "the select backend watches descriptors below {} only: connections past that are "
        "refused",
        kSelectLimit);
  }
}

int Runtime::run() {
  const rlim_t fileLimit = raiseFileLimit();
  // A socket handed over by systemd or by our master process replaces --host/--port.
  UniqueFd inherited;
  SockAddr address;
  try {
    std::vector<UniqueFd> fds = systemd::takeListenFds();
    if (fds.size() > 1) {
      throw std::runtime_error(
          fmt::format("LISTEN_FDS={}: reactor-server serves one listening socket", fds.size()));
    }
    if (fds.empty()) {
      address = SockAddr::resolve(config_.host, config_.port).front();
    } else {
      inherited = std::move(fds.front());
    }
  } catch (const std::exception& e) {
    printLine(fmt::format("reactor-server: {}", e.what()));
    return 1;
  }

  workers_.resize(config_.threads);
  Worker& main = workers_[0];
  try {
    main.loop = std::make_unique<EventLoop>(createPoller(config_.backend));
  } catch (const UnknownBackend& e) {
    printLine(fmt::format("reactor-server: {}", e.what()));
    return 2;
  } catch (const std::exception& e) {
    printLine(fmt::format("reactor-server: backend {}: {}", config_.backend, e.what()));
    return 1;
  }
  // After the checks that can refuse to start (so their one line stays the only one), before
  // any socket I/O.
  io::installFaultInjectionFromEnv();
  // An inherited socket is shared as it is: every loop accepts on a duplicate of it (one queue;
  // a socket of our own per loop would be one queue each, reset when that loop closes it).
  const bool reusePort = config_.threads > 1 && !inherited && kernelBalancesReusePort();
  ServerOptions mainOptions = serverOptions(reusePort);
  if (config_.threads > 1 && !reusePort && !inherited) {
    mainOptions.distribute = [this](UniqueFd socket) { handOff(std::move(socket)); };
  }
  try {
    // SO_REUSEPORT would let us share a port that another server of this user listens on with
    // SO_REUSEPORT too; an ordinary bind first makes "address in use" an error as it should be.
    if (inherited) {
      UniqueFd own(::fcntl(inherited.get(), F_DUPFD_CLOEXEC, 0));
      if (!own) throw std::system_error(errno, std::system_category(), "LISTEN_FDS: dup");
      main.server = std::make_unique<TcpServer>(*main.loop, std::move(own), mainOptions, factory());
    } else {
      if (reusePort && address.port() != 0) listenOn(address, 1, false);
      main.server = std::make_unique<TcpServer>(*main.loop, address, mainOptions, factory());
    }
  } catch (const std::exception& e) {
    printLine(fmt::format("reactor-server: {}", e.what()));
    return 1;
  }

  // The siblings bind the real port (it may have been 0) with SO_REUSEPORT; the kernel spreads
  // new connections over the listening sockets, and each connection stays on its loop.
  const SockAddr bound = main.server->localAddress();
  std::optional<SockAddr> siblingAddress;
  if (reusePort) siblingAddress = bound;
  std::string startError;
  for (size_t i = 1; i < workers_.size(); ++i) {
    std::promise<void> ready;
    std::future<void> started = ready.get_future();
    UniqueFd listening;
    if (inherited) {
      listening.reset(::fcntl(inherited.get(), F_DUPFD_CLOEXEC, 0));
      if (!listening) {
        startError = fmt::format("LISTEN_FDS: dup: {}", std::strerror(errno));
        workers_.resize(i);
        break;
      }
    }
    startWorker(workers_[i], siblingAddress, std::move(listening), std::move(ready));
    try {
      started.get();
    } catch (const std::exception& e) {
      startError = e.what();
      workers_[i].thread.join();
      workers_.resize(i);
      break;
    }
  }
  if (!startError.empty()) {
    stopWorkers();
    printLine(fmt::format("reactor-server: {}", startError));
    return 1;
  }

  EventLoop& loop = *main.loop;
  loop.watchSignal(SIGINT, [this](int) { beginShutdown(); });
  loop.watchSignal(SIGTERM, [this](int) { beginShutdown(); });
  loop.watchSignal(SIGUSR1, [this](int) { printStatistics(); });
  warnAboutLimits(fileLimit, loop.poller().name());

  if (channel_) {
    // A worker: the master prints the listening line once all its workers are ready, and
    // restarts by retiring this one (SIGQUIT). SIGHUP is the master's (a terminal hang-up
    // reaches the whole process group).
    loop.watchSignal(SIGQUIT, [this](int) { retire(); });
    loop.watchSignal(SIGHUP, [](int) {});
#ifndef __linux__
    // Without PR_SET_PDEATHSIG: notice within a second that the master is gone.
    const pid_t master = ::getppid();
    loop.runEvery(std::chrono::seconds(1), [this, master] {
      if (::getppid() != master) beginShutdown();
    });
#endif
    channel_->ready();
  } else {
    loop.watchSignal(SIGHUP, [](int) {
      log::warn("SIGHUP ignored: restarts need a master process (--workers 2 or more)");
    });
    std::printf("listening on %s backend=%.*s protocol=%s\n", bound.toString().c_str(),
                static_cast<int>(loop.poller().name().size()), loop.poller().name().data(),
                config_.protocol.c_str());
    std::fflush(stdout);
    notifyManager(fmt::format("READY=1\nMAINPID={}", ::getpid()));
  }

  loop.run();

  stopWorkers();
  main.final = main.snapshot();
  Snapshot total;
  for (const Worker& w : workers_) total.add(w.final);
  if (channel_) {
    // The master prints one summary for all its workers.
    channel_->finalStats(total.server.accepted, total.server.bytesIn, total.server.bytesOut);
    return 0;
  }
  printLine(
      fmt::format("reactor-server: shut down: {} connections served, {} bytes in, {} bytes out",
                  total.server.accepted, total.server.bytesIn, total.server.bytesOut));
  return 0;
}

void Runtime::beginShutdown() {
  if (stopping_) return;  // a second signal while flushing: the deadline is already set
  stopping_ = true;
  if (!channel_) notifyManager("STOPPING=1");
  EventLoop& loop = *workers_[0].loop;
  if (retireCheck_ != 0) loop.cancel(retireCheck_);
  if (retireDeadline_ != 0) loop.cancel(retireDeadline_);
  retireCheck_ = retireDeadline_ = 0;
  EventLoop& mainLoop = *workers_[0].loop;
  shutdownsPending_ = workers_.size();
  auto oneDone = [this, &mainLoop] {
    mainLoop.post([this, &mainLoop] {
      if (--shutdownsPending_ == 0) mainLoop.stop();
    });
  };
  for (Worker& w : workers_) {
    TcpServer* server = w.server.get();
    w.loop->post([server, oneDone] { server->shutdown(kShutdownGrace, oneDone); });
  }
}

// A worker replaced by a restart: no new connections (the new workers take them from the
// same socket), the open ones are served until they close or kRetireGrace has passed.
void Runtime::retire() {
  if (stopping_ || retiring_) return;
  retiring_ = true;
  log::info("retiring: no longer accepting; serving the {} open connections for up to {} s",
            open_.load(), kRetireGrace.count());
  for (Worker& w : workers_) {
    TcpServer* server = w.server.get();
    w.loop->post([server] { server->stopAccepting(); });
  }
  EventLoop& loop = *workers_[0].loop;
  retireCheck_ = loop.runEvery(std::chrono::milliseconds(100), [this] {
    if (open_.load() == 0) beginShutdown();
  });
  retireDeadline_ = loop.runAfter(kRetireGrace, [this] { beginShutdown(); });
}

void Runtime::printStatistics() {
  // Each loop's counters are read on its own thread; the last answer prints the sum.
  struct Gather {
    Snapshot total;
    size_t pending = 0;
  };
  auto gather = std::make_shared<Gather>();
  gather->pending = workers_.size();
  EventLoop& mainLoop = *workers_[0].loop;
  std::string backend(mainLoop.poller().name());
  const size_t threads = workers_.size();
  for (Worker& w : workers_) {
    Worker* worker = &w;
    w.loop->post([worker, gather, &mainLoop, backend, threads] {
      Snapshot s = worker->snapshot();
      mainLoop.post([gather, s, backend, threads] {
        gather->total.add(s);
        if (--gather->pending > 0) return;
        const Snapshot& t = gather->total;
        nlohmann::json line = {
            {"backend", backend},
            {"threads", threads},
            {"open_connections", t.server.open},
            {"accepted", t.server.accepted},
            {"closed", t.server.closed},
            {"refused", t.server.refused},
            {"bytes_in", t.server.bytesIn},
            {"bytes_out", t.server.bytesOut},
            {"loop_iterations", t.loop.iterations},
            {"events_per_wait",
             t.loop.iterations == 0
                 ? 0.0
                 : static_cast<double>(t.loop.events) / static_cast<double>(t.loop.iterations)},
        };
        if (isWorker()) line["pid"] = ::getpid();  // one line per worker: say whose
        printLine(line.dump());
      });
    });
  }
}

}  // namespace

int run(const Config& config) {
  std::optional<WorkerChannel> channel = WorkerChannel::take();
  if (channel) {
    workerFlag() = true;
    log::setProgramName(fmt::format("reactor-server[{}]", ::getpid()));
  }
  Runtime runtime(config, std::move(channel));
  return runtime.run();
}

}  // namespace reactor::server
