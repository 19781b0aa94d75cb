// An echo server for testing reactor-stress, independent of the reactor library: one thread,
// poll(2), non-blocking sockets. It can misbehave on purpose on the first connection it
// accepts: drop, duplicate or corrupt one byte, or close early, at a given stream offset; never
// answer at all; or close it at once.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "support/socket_client.h"

namespace toolstest {

enum class Fault {
  kNone,
  kDropByte,
  kCorruptByte,
  kCloseEarly,
  kSilent,
  kCloseOnAccept,
  kDuplicateByte,
  kSlowFirstAnswer  // the first answer is held back `offset` milliseconds after its first byte
};

class FakeEchoServer {
 public:
  /// Listens on 127.0.0.1, an ephemeral port; the fault hits the first accepted connection at
  /// byte `offset` of its stream.
  explicit FakeEchoServer(Fault fault = Fault::kNone, uint64_t offset = 0);
  ~FakeEchoServer();
  FakeEchoServer(const FakeEchoServer&) = delete;
  FakeEchoServer& operator=(const FakeEchoServer&) = delete;

  uint16_t port() const { return port_; }
  /// Peer addresses seen (without ports).
  std::set<std::string> peerHosts() const;
  uint64_t accepted() const { return accepted_.load(); }

 private:
  void run();

  Fault fault_;
  uint64_t offset_;
  testsupport::Fd listener_;
  testsupport::Fd wakeRead_;
  testsupport::Fd wakeWrite_;
  uint16_t port_ = 0;
  std::atomic<uint64_t> accepted_{0};
  mutable std::mutex mutex_;
  std::set<std::string> peers_;
  std::thread thread_;
};

/// A loopback port on which nothing listens (bound, then closed).
uint16_t closedPort();

/// stderr without the "fault injection on, seed=N" notice the programs print when the suite
/// runs under REACTOR_FAULT_SEED, so exact-output checks hold in fault runs too.
std::string withoutFaultNotice(const std::string& err);

}  // namespace toolstest
