// One Poller::wait(0) with K ready descriptors out of N registered, per backend: epoll (and
// kqueue) cost O(ready), poll and select O(registered).
//
// Idle registrations are dups of the read end of one empty pipe (never readable), so N can reach
// 10,000 under a 20,000-descriptor limit; the K ready ones are socketpair ends with one unread
// byte, created last so they hold the highest numbers and every scan walks the whole set.
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "reactor/fd.h"
#include "reactor/poller.h"

namespace {

using reactor::Event;
using reactor::Interest;
using reactor::UniqueFd;

void waitBench(benchmark::State& state, const std::string& backend) {
  const auto n = static_cast<int>(state.range(0));
  const auto k = static_cast<int>(state.range(1));
  auto poller = reactor::createPoller(backend);

  int pipeFds[2];
  if (::pipe(pipeFds) != 0) return state.SkipWithError("pipe failed");
  UniqueFd idleRead(pipeFds[0]);
  UniqueFd idleWrite(pipeFds[1]);
  std::vector<UniqueFd> fds;
  fds.reserve(static_cast<size_t>(n + k));
  uint64_t token = 0;
  auto registerFd = [&](int fd) {
    fds.emplace_back(fd);
    return fd >= 0 && !poller->add(fd, token++, Interest::kReadable);
  };
  for (int i = 0; i < n - k; ++i) {
    if (!registerFd(::dup(idleRead.get()))) {
      return state.SkipWithError("cannot register an idle descriptor");
    }
  }
  for (int i = 0; i < k; ++i) {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
      return state.SkipWithError("socketpair failed");
    }
    fds.emplace_back(sv[1]);
    if (::write(sv[1], "x", 1) != 1 || !registerFd(sv[0])) {
      return state.SkipWithError("cannot register a ready descriptor");
    }
  }

  std::vector<Event> batch(static_cast<size_t>(std::max(k, 64)));
  for (auto _ : state) {
    const int got = poller->wait(batch, 0);
    if (got != k) return state.SkipWithError("unexpected number of ready events");
    benchmark::DoNotOptimize(batch.data());
  }
  state.counters["registered"] = n;
  state.counters["ready"] = k;
}

void raiseFdLimit() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);  // best effort: too-large cases skip with an error
  }
}

}  // namespace

int main(int argc, char** argv) {
  raiseFdLimit();
  for (std::string_view name : reactor::availableBackends()) {
    for (int n : {10, 100, 1000, 10000}) {
      // select refuses descriptors >= FD_SETSIZE; N = 1,000 still fits below 1,024.
      if (name == "select" && n > FD_SETSIZE) continue;
      for (int k : {1, 10}) {
        if (k > n) continue;
        benchmark::RegisterBenchmark(("wait/" + std::string(name)).c_str(), waitBench,
                                     std::string(name))
            ->Args({n, k})
            ->ArgNames({"N", "K"});
      }
    }
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
