// The end-of-run report: a human summary with units, or one JSON object (--json).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "histogram.h"
#include "options.h"
#include "worker.h"

namespace reactor::stress {

struct Report {
  std::string target;  // HOST:PORT, an IPv6 address in brackets
  std::string backend;
  bool interrupted = false;  // SIGINT/SIGTERM stopped the run
  uint64_t connected = 0;
  uint64_t sent = 0;
  uint64_t verified = 0;
  uint64_t bytesSent = 0;
  uint64_t bytesReceived = 0;
  uint64_t errorsByKind[kErrorKinds] = {};
  uint64_t errors = 0;
  double elapsedS = 0;
  Histogram latency;
  std::vector<uint64_t> intervals;  // messages verified in each whole second of the run
  std::vector<double> busy;         // per worker loop: CPU / wall over the traffic phase

  double msgsPerS() const { return elapsedS > 0 ? static_cast<double>(verified) / elapsedS : 0; }
  double achievedRate() const { return elapsedS > 0 ? static_cast<double>(sent) / elapsedS : 0; }
};

std::string humanSummary(const Report& report, const Options& options);
std::string jsonSummary(const Report& report, const Options& options);
/// What --histogram-out writes: HdrHistogram's percentile distribution of the latencies.
std::string histogramFile(const Report& report);
/// The JSON key of a percentile: 50 -> "p50", 99.9 -> "p999".
std::string percentileKey(double percentile);

}  // namespace reactor::stress
