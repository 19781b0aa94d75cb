// A GoogleTest main for running whole suites under the I/O fault injector: with
// REACTOR_FAULT_SEED set, every library socket call of this process is faulted (short reads and
// writes, spurious EINTR and EAGAIN), and programs the tests spawn inherit the variable and do
// the same. The seed is printed at start and again after each failing test, so a failure names
// the command that replays it.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <utility>

#include "reactor/io.h"

namespace {

// Tests may install their own hooks and restore the real calls in TearDown (setHooks(nullptr));
// the environment's injector is put back before each test so the rest still run faulted.
class FaultListener : public ::testing::EmptyTestEventListener {
 public:
  FaultListener(reactor::io::Hooks* hooks, std::string seed)
      : hooks_(hooks), seed_(std::move(seed)) {}

  void OnTestStart(const ::testing::TestInfo&) override {
    if (hooks_ != nullptr) reactor::io::setHooks(hooks_);
  }
  void OnTestEnd(const ::testing::TestInfo& info) override {
    if (!info.result()->Failed()) return;
    std::fprintf(stderr,
                 "reactor: %s.%s failed under fault injection: REACTOR_FAULT_SEED=%s "
                 "--gtest_filter=%s.%s replays it\n",
                 info.test_suite_name(), info.name(), seed_.c_str(), info.test_suite_name(),
                 info.name());
  }

 private:
  reactor::io::Hooks* hooks_;
  std::string seed_;
};

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (const char* env = std::getenv("REACTOR_FAULT_SEED"); env != nullptr && *env != '\0') {
    std::string seed = env;
    // "random" is drawn once here and exported, so the spawned programs share this seed and the
    // printed number replays the whole run.
    if (seed == "random") {
      std::random_device rd;
      seed = std::to_string((uint64_t{rd()} << 32) ^ rd());
      ::setenv("REACTOR_FAULT_SEED", seed.c_str(), 1);
    }
    reactor::io::Hooks* hooks = nullptr;
    if (reactor::io::installFaultInjectionFromEnv()) hooks = reactor::io::detail::gHooks;
    ::testing::UnitTest::GetInstance()->listeners().Append(new FaultListener(hooks, seed));
  }
  return RUN_ALL_TESTS();
}
