// reactor-stress: the load generator. Many concurrent connections over N event loops, every
// echoed byte (or app answer) verified, closed or open loop, latency percentiles.
#include <fmt/format.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

#include "options.h"
#include "payload.h"
#include "reactor/io.h"
#include "reactor/poller.h"
#include "report.h"
#include "tools/cli.h"
#include "worker.h"

namespace reactor::stress {
namespace {

// SIGINT/SIGTERM count: the first stops sending, the second exits at once.
volatile sig_atomic_t gSignals = 0;

void onSignal(int) { gSignals = gSignals + 1; }

// After the first signal, answers in flight get this long before the summary.
constexpr int64_t kInterruptGraceNs = 1'000'000'000;
// 128 + SIGINT, what a shell reports for a program that Ctrl-C ended.
constexpr int kAbortStatus = 130;

constexpr int kFdSlack = 64;  // stdio, poller, wakeup and signal descriptors, per-thread extras

// "50,90,99.9" into o.percentiles; the validator has checked it.
std::vector<double> percentileList(const std::string& text) {
  std::vector<double> list;
  for (size_t from = 0; from <= text.size();) {
    size_t comma = std::min(text.find(',', from), text.size());
    list.push_back(*tools::parseCount(text.substr(from, comma - from)));
    from = comma + 1;
  }
  return list;
}

CLI::Validator percentileListValidator() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        for (size_t from = 0; from <= value.size();) {
          size_t comma = std::min(value.find(',', from), value.size());
          std::string_view item = std::string_view(value).substr(from, comma - from);
          std::optional<double> p;
          if (item.find_first_not_of("0123456789.") == std::string_view::npos) {
            p = tools::parseCount(item);
          }
          if (!p || *p <= 0 || *p > 100) {
            return tools::invalidValue(
                value,
                "a comma-separated list of percentiles above 0 and up to 100, as in "
                "50,90,99,99.9");
          }
          from = comma + 1;
        }
        return {};
      },
      "");
}

void addOptions(CLI::App& app, Options& o, std::string& percentiles) {
  app.add_option("--host", o.host,
                 "server address or name (every address it resolves to is tried in turn)")
      ->type_name("HOST")
      ->capture_default_str();
  app.add_option("-p,--port", o.port, "server port")
      ->type_name("PORT")
      ->check(tools::integerIn(1, 65535))
      ->capture_default_str();
  app.add_option("-c,--connections", o.connections, "concurrent connections")
      ->type_name("N")
      ->transform(tools::count(1, 1'000'000))
      ->capture_default_str();
  app.add_option("--messages", o.messages, "messages per connection (unless --duration)")
      ->type_name("N")
      ->transform(tools::count(1, 1'000'000'000'000))
      ->capture_default_str();
  app.add_option("--size", o.size, "echo message bytes (app: binary request content bytes)")
      ->type_name("BYTES")
      ->transform(tools::size(1, 16 << 20))
      ->capture_default_str();
  app.add_option("-d,--duration", o.duration,
                 "measured traffic for this long, whatever --messages says (with --idle: how "
                 "long to hold)")
      ->type_name("DURATION")
      ->transform(tools::duration(0, 1e6));
  app.add_option("-R,--rate", o.rate,
                 "open loop: total messages per second (latency from each message's scheduled "
                 "send time)")
      ->type_name("RATE")
      ->transform(tools::rate(0, 1e9));
  app.add_option("--pipeline", o.pipeline, "messages in flight per connection")
      ->type_name("N")
      ->transform(tools::count(1, 1024))
      ->capture_default_str();
  app.add_option("--protocol", o.protocol, "protocol to speak")
      ->type_name("echo|app")
      ->check(tools::oneOf({"echo", "app"}))
      ->capture_default_str();
  app.add_option("--backend", o.backend, "poller backend of this build")
      ->type_name(tools::backendChoices())
      ->check(tools::backend())
      ->capture_default_str();
  app.add_option("-t,--threads", o.threads, "event loops (threads) to spread connections over")
      ->type_name("N")
      ->check(tools::integerIn(1, 256))
      ->capture_default_str();
  app.add_flag("--json", o.json, "print one JSON object on stdout instead of the summary");
  app.add_option("--connect-rate", o.connectRate, "new connections per second (0: no limit)")
      ->type_name("RATE")
      ->transform(tools::rate(0, 1e9));
  app.add_option("--source-addresses", o.sourceAddresses,
                 "bind connection i to 127.0.0.(1 + i % N), to use more than one address's "
                 "ephemeral ports (0: don't bind)")
      ->type_name("N")
      ->check(tools::integerIn(0, 254));
  app.add_option("--warmup", o.warmup, "traffic for this long before measuring (not counted)")
      ->type_name("DURATION")
      ->transform(tools::duration(0, 1e6));
  app.add_flag("--idle", o.idle,
               "open the connections and hold them (for --duration, or until SIGINT/SIGTERM), "
               "sending nothing");
  app.add_option("--timeout", o.timeout,
                 "answer timeout: a connection with a message in flight fails when nothing "
                 "has moved for this long")
      ->type_name("DURATION")
      ->transform(tools::duration(0.001, 1e6))
      ->capture_default_str();
  app.add_option("--connect-timeout", o.connectTimeout,
                 "connections not up this long after their start fail (default: the --timeout "
                 "value)")
      ->type_name("DURATION")
      ->transform(tools::duration(0.001, 1e6));
  app.add_option("--percentiles", percentiles, "latency percentiles to report")
      ->type_name("LIST")
      ->check(percentileListValidator())
      ->capture_default_str();
  app.add_flag("-L,--latency-spectrum", o.latencySpectrum,
               "also print the full latency percentile spectrum (as wrk2 -L does)");
  app.add_option("--histogram-out", o.histogramOut,
                 "write the latency percentile distribution to FILE, in HdrHistogram's text "
                 "format (for plotting)")
      ->type_name("FILE");
}

// Raises the soft descriptor limit to the hard one; false if the run cannot fit.
bool checkDescriptorLimit(const Options& o) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return true;  // unknown: let connects report EMFILE
  if (rl.rlim_cur < rl.rlim_max) {
    rlimit raised = rl;
    raised.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) rl = raised;
  }
  auto need = static_cast<rlim_t>(o.connections) + kFdSlack + 4 * static_cast<rlim_t>(o.threads);
  if (rl.rlim_cur != RLIM_INFINITY && need > rl.rlim_cur) {
    fmt::print(stderr,
               "reactor-stress: {} connections need about {} file descriptors, but the limit "
               "(RLIMIT_NOFILE) is {}: raise it (ulimit -n) or use fewer connections\n",
               o.connections, need, static_cast<unsigned long long>(rl.rlim_cur));
    return false;
  }
  return true;
}

class Progress {
 public:
  explicit Progress(bool on) : on_(on) {}
  void show(const std::vector<std::unique_ptr<Worker>>& workers, const Options& o, int64_t t0) {
    if (!on_) return;
    uint64_t connected = 0, sent = 0, verified = 0, errors = 0;
    for (const auto& w : workers) {
      const Counters& c = w->counters();
      connected += c.connected.load(std::memory_order_relaxed);
      sent += c.sent.load(std::memory_order_relaxed);
      verified += c.verified.load(std::memory_order_relaxed);
      errors += c.errorTotal();
    }
    int64_t now = nowNs();
    int64_t since = lastNs_ != 0 ? lastNs_ : t0;
    double dt = static_cast<double>(now - since) / 1e9;
    double rate = dt > 0 ? static_cast<double>(verified - lastVerified_) / dt : 0;
    lastNs_ = now;
    lastVerified_ = verified;
    fmt::print(stderr,
               "\r[{:6.1f} s] connections {}/{}  sent {}  verified {}  {:.0f} msgs/s  "
               "errors {}\x1b[K",
               static_cast<double>(now - t0) / 1e9, connected, o.connections, sent, verified, rate,
               errors);
    shown_ = true;
  }
  void clear() {
    if (shown_) fmt::print(stderr, "\r\x1b[K");
  }

 private:
  bool on_;
  bool shown_ = false;
  int64_t lastNs_ = 0;
  uint64_t lastVerified_ = 0;
};

uint64_t sumVerified(const std::vector<std::unique_ptr<Worker>>& workers) {
  uint64_t total = 0;
  for (const auto& w : workers) total += w->counters().verified.load(std::memory_order_relaxed);
  return total;
}

std::string formatTarget(const Options& o) {
  if (o.host.find(':') != std::string::npos) return fmt::format("[{}]:{}", o.host, o.port);
  return fmt::format("{}:{}", o.host, o.port);
}

// The main thread's view of the run: it asks the workers to stop on the first signal and
// gives up waiting kInterruptGraceNs later; on the second it prints one line and exits.
struct Control {
  std::vector<std::unique_ptr<Worker>>& workers;
  const Options& options;
  Progress& progress;
  int64_t t0;
  bool stopSent = false;
  int64_t graceEndNs = 0;  // set by the first signal

  bool interrupted() const { return graceEndNs != 0; }

  void stop() {
    if (stopSent) return;
    stopSent = true;
    for (auto& w : workers) w->stopSending();
  }

  [[noreturn]] void abort() const {
    uint64_t connected = 0, sent = 0, verified = 0, errors = 0;
    for (const auto& w : workers) {
      const Counters& c = w->counters();
      connected += c.connected.load(std::memory_order_relaxed);
      sent += c.sent.load(std::memory_order_relaxed);
      verified += c.verified.load(std::memory_order_relaxed);
      errors += c.errorTotal();
    }
    double elapsed = static_cast<double>(nowNs() - t0) / 1e9;
    if (options.json) {
      nlohmann::json j = {
          {"connections", connected}, {"messages_sent", sent}, {"messages_verified", verified},
          {"errors", errors},         {"elapsed_s", elapsed},  {"interrupted", true},
          {"aborted", true}};
      fmt::print("{}\n", j.dump());
    } else {
      fmt::print(
          "interrupted twice after {:.3f} s: {} of {} connections, {} sent, {} verified, "
          "{} error(s)\n",
          elapsed, connected, options.connections, sent, verified, errors);
    }
    std::fflush(stdout);
    std::_Exit(kAbortStatus);  // at once: the worker threads are not joined
  }

  // Waits until `done` holds, `until` (if set) passes, or the grace after a signal ends,
  // showing progress; `tick` runs once a second.
  template <typename Done, typename Tick>
  void waitFor(Rendezvous& rv, Done done, int64_t until, Tick tick) {
    int64_t nextTick = nowNs() + 1'000'000'000;
    std::unique_lock lock(rv.mutex);
    while (!done()) {
      int64_t now = nowNs();
      if (until != 0 && now >= until) return;
      if (graceEndNs != 0 && now >= graceEndNs) return;
      rv.changed.wait_for(lock, std::chrono::milliseconds(20));
      if (gSignals >= 2) abort();
      if (gSignals >= 1 && graceEndNs == 0) {
        graceEndNs = nowNs() + kInterruptGraceNs;
        stop();
        progress.clear();
        fmt::print(stderr,
                   "reactor-stress: interrupted: waiting at most 1 s for the answers in "
                   "flight (interrupt again to exit at once)\n");
      }
      if (nowNs() >= nextTick) {
        nextTick += 1'000'000'000;
        lock.unlock();
        tick();
        lock.lock();
      }
    }
  }
};

int run(const Options& o) {
  std::vector<SockAddr> addresses;
  try {
    addresses = SockAddr::resolve(o.host, o.port);
  } catch (const std::exception& e) {
    fmt::print(stderr, "reactor-stress: {}\n", e.what());
    return 1;
  }
  if (o.sourceAddresses > 0) {
    // The source addresses are 127.0.0.x: only IPv4 targets can be reached from them.
    std::erase_if(addresses, [](const SockAddr& a) { return a.family() != AF_INET; });
    if (addresses.empty()) {
      fmt::print(stderr,
                 "reactor-stress: --source-addresses binds to 127.0.0.x and needs an IPv4 "
                 "target, not {}\n",
                 formatTarget(o));
      return 2;
    }
  }
  if (addresses.empty()) {
    fmt::print(stderr, "reactor-stress: {} resolves to no address\n", o.host);
    return 1;
  }
  if (!checkDescriptorLimit(o)) return 1;

  int threads = std::min(o.threads, o.connections);
  std::vector<std::unique_ptr<Poller>> pollers;
  try {
    for (int t = 0; t < threads; ++t) pollers.push_back(createPoller(o.backend));
  } catch (const UnknownBackend& e) {
    fmt::print(stderr, "reactor-stress: {}\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "reactor-stress: cannot create the {} poller: {}\n", o.backend, e.what());
    return 1;
  }

  std::unique_ptr<EchoPayload> echo;
  std::unique_ptr<AppWorkload> app;
  if (o.app()) {
    app = std::make_unique<AppWorkload>(o.size);
  } else {
    echo = std::make_unique<EchoPayload>(o.size);
  }
  Plan plan;
  plan.options = &o;
  plan.targets = addresses;
  plan.echo = echo.get();
  plan.app = app.get();

  Rendezvous rv;
  std::vector<std::unique_ptr<Worker>> workers;
  for (int t = 0; t < threads; ++t) {
    std::vector<uint32_t> ids;
    for (int i = t; i < o.connections; i += threads) ids.push_back(static_cast<uint32_t>(i));
    workers.push_back(std::make_unique<Worker>(plan, rv, std::move(ids), std::move(pollers[t])));
  }
  Report report;
  report.target = formatTarget(o);
  report.backend = workers.front()->backendName();

  struct sigaction sa {};
  sa.sa_handler = onSignal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  Progress progress(isatty(STDERR_FILENO) == 1);
  Control control{workers, o, progress, nowNs()};
  auto show = [&] { progress.show(workers, o, control.t0); };
  for (auto& w : workers) w->start();
  control.waitFor(
      rv, [&] { return rv.settled == threads; }, 0, show);

  for (const auto& w : workers) report.connected += w->counters().connected.load();
  if (o.idle && !control.stopSent) {
    progress.clear();
    fmt::print(stderr, "reactor-stress: holding {} connections{}\n", report.connected,
               o.duration > 0 ? fmt::format(" for {} s", o.duration) : " until SIGINT/SIGTERM");
  }
  plan.startNs = nowNs();
  plan.measureNs = plan.startNs + static_cast<int64_t>(o.warmup * 1e9);
  plan.endNs =
      o.duration > 0 && !o.idle ? plan.measureNs + static_cast<int64_t>(o.duration * 1e9) : 0;
  for (auto& w : workers) w->startTraffic();
  if (o.idle) {
    int64_t until = o.duration > 0 ? plan.startNs + static_cast<int64_t>(o.duration * 1e9) : 0;
    control.waitFor(
        rv, [&] { return control.stopSent; }, until, show);
    control.stop();
  }
  uint64_t lastVerified = 0;
  control.waitFor(
      rv, [&] { return rv.finished == threads; }, 0,
      [&] {
        show();
        if (nowNs() < plan.measureNs) return;
        uint64_t v = sumVerified(workers);
        report.intervals.push_back(v - lastVerified);
        lastVerified = v;
      });
  progress.clear();
  report.interrupted = control.interrupted();

  // A worker still waiting for answers when the grace ran out ends now.
  int64_t endNs = plan.measureNs;
  int64_t givenUpNs = nowNs();
  for (auto& w : workers) {
    w->finish();
    endNs = std::max(endNs, w->finishedNs() != 0 ? w->finishedNs() : givenUpNs);
  }
  report.elapsedS =
      std::max(0.0, static_cast<double>(endNs - (o.idle ? plan.startNs : plan.measureNs)) / 1e9);
  std::vector<std::string> details;
  for (size_t t = 0; t < workers.size(); ++t) {
    const Worker& w = *workers[t];
    const Counters& c = w.counters();
    report.sent += c.sent.load();
    report.verified += c.verified.load();
    report.bytesSent += c.bytesSent.load();
    report.bytesReceived += c.bytesReceived.load();
    for (int k = 0; k < kErrorKinds; ++k) report.errorsByKind[k] += c.errors[k].load();
    report.latency.merge(w.histogram());
    report.busy.push_back(w.busyFraction());
    for (const auto& d : w.errorDetails()) {
      if (details.size() < 10) details.push_back(d);
    }
    // A run shorter than half a second says little about saturation: don't warn on it.
    if (!o.idle && report.elapsedS >= 0.5 && w.busyFraction() > 0.95) {
      fmt::print(stderr,
                 "reactor-stress: warning: event loop {} was busy {:.0f}% of the time: "
                 "the generator may be the bottleneck (try more --threads)\n",
                 t, 100 * w.busyFraction());
    }
  }
  for (uint64_t e : report.errorsByKind) report.errors += e;

  std::cout << (o.json ? jsonSummary(report, o) + "\n" : humanSummary(report, o)) << std::flush;

  bool ok = true;
  if (!o.histogramOut.empty()) {
    std::ofstream file(o.histogramOut);
    file << histogramFile(report);
    file.close();
    if (!file) {
      fmt::print(stderr, "reactor-stress: cannot write {}: {}\n", o.histogramOut,
                 std::strerror(errno));
      ok = false;
    }
  }
  for (const auto& d : details) fmt::print(stderr, "reactor-stress: {}\n", d);
  if (report.errors > 0) {
    std::string kinds;
    for (int k = 0; k < kErrorKinds; ++k) {
      if (report.errorsByKind[k] == 0) continue;
      kinds += fmt::format("{}{} {}", kinds.empty() ? "" : ", ", label(static_cast<ErrorKind>(k)),
                           report.errorsByKind[k]);
    }
    fmt::print(stderr, "reactor-stress: failed: {} error(s) ({})\n", report.errors, kinds);
    ok = false;
  }
  if (report.connected < static_cast<uint64_t>(o.connections) && !report.interrupted) {
    fmt::print(stderr, "reactor-stress: failed: only {} of {} connections were established\n",
               report.connected, o.connections);
    ok = false;
  }
  // An interrupted --duration (or --idle) run stopped where the user asked: its figures stand
  // and it exits 0 if nothing failed; a --messages run that did not send its quota failed.
  if (!o.idle && o.duration <= 0) {
    uint64_t expected = static_cast<uint64_t>(o.connections) * o.messages;
    if (ok && report.verified < expected) {
      fmt::print(stderr, "reactor-stress: failed: {} of {} messages verified{}\n", report.verified,
                 expected, report.interrupted ? " (interrupted)" : "");
      ok = false;
    }
  }
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace reactor::stress

int main(int argc, char** argv) {
  using namespace reactor;
  stress::Options options;
  CLI::App app{"reactor-stress: a load generator that verifies every echoed byte",
               "reactor-stress"};
  app.set_version_flag("--version", fmt::format("reactor-stress {}", tools::version()));
  std::string percentiles = "50,90,99,99.9";
  stress::addOptions(app, options, percentiles);
  if (auto status = tools::parse(app, argc, argv)) return *status;
  options.percentiles = stress::percentileList(percentiles);
  if (app.count("--connect-timeout") == 0) options.connectTimeout = options.timeout;
  io::installFaultInjectionFromEnv();
  return stress::run(options);
}
