#include "report.h"

#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "tools/cli.h"

namespace reactor::stress {

namespace {

// wrk2 -L prints its spectrum with 5 steps per halving of the distance to 100%.
constexpr int kSpectrumTicks = 5;

std::string bytes(uint64_t n) {
  if (n >= 1ULL << 30)
    return fmt::format("{} B ({:.2f} GiB)", n, static_cast<double>(n) / (1ULL << 30));
  if (n >= 1ULL << 20)
    return fmt::format("{} B ({:.1f} MiB)", n, static_cast<double>(n) / (1ULL << 20));
  if (n >= 1ULL << 10)
    return fmt::format("{} B ({:.1f} KiB)", n, static_cast<double>(n) / (1ULL << 10));
  return fmt::format("{} B", n);
}

std::string percentileLabel(double p) { return fmt::format("p{}", p); }

}  // namespace

std::string percentileKey(double percentile) {
  std::string key = percentileLabel(percentile);
  key.erase(std::remove(key.begin(), key.end(), '.'), key.end());
  return key;
}

std::string humanSummary(const Report& r, const Options& o) {
  std::string out;
  auto line = [&out](std::string_view label, const std::string& value) {
    out += fmt::format("{:<12} {}\n", label, value);
  };
  line("target", fmt::format("{} protocol={} backend={} threads={}", r.target, o.protocol,
                             r.backend, o.threads));
  line("connections", fmt::format("{} of {} established", r.connected, o.connections));
  if (!o.idle) {
    line("messages", fmt::format("{} sent, {} verified ({})", r.sent, r.verified,
                                 o.app() ? std::string("app requests and their answers")
                                         : fmt::format("{} B each way per echo", o.size)));
    line("bytes", fmt::format("{} sent, {} received", bytes(r.bytesSent), bytes(r.bytesReceived)));
  }
  std::string kinds;
  for (int k = 0; k < kErrorKinds; ++k) {
    kinds += fmt::format("{}{} {}", k == 0 ? "" : ", ", label(static_cast<ErrorKind>(k)),
                         r.errorsByKind[k]);
  }
  line("errors", fmt::format("{} ({})", r.errors, kinds));
  line("elapsed", fmt::format("{:.3f} s{}", r.elapsedS, r.interrupted ? " (interrupted)" : ""));
  if (o.idle) return out;
  std::string rate = fmt::format("{:.0f} msgs/s", r.msgsPerS());
  if (o.rate > 0) {
    rate += fmt::format(" (requested {:.0f} msgs/s, achieved {:.0f} msgs/s sent)", o.rate,
                        r.achievedRate());
  }
  line("throughput", rate);
  if (r.latency.count() == 0) {
    line("latency", "n/a (no answer was measured)");
    return out;
  }
  std::string lat = fmt::format("mean {}, stddev {}", tools::formatLatency(r.latency.meanNs()),
                                tools::formatLatency(r.latency.stddevNs()));
  for (double p : o.percentiles) {
    lat += fmt::format(", {} {}", percentileLabel(p),
                       tools::formatLatency(static_cast<double>(r.latency.quantileNs(p / 100))));
  }
  lat += fmt::format(", max {}", tools::formatLatency(static_cast<double>(r.latency.maxNs())));
  if (o.rate > 0) lat += " (from scheduled send times)";
  line("latency", lat);
  if (o.latencySpectrum) {
    out += "\nlatency spectrum (microseconds):\n";
    out += r.latency.percentileDistribution(kSpectrumTicks);
  }
  return out;
}

std::string jsonSummary(const Report& r, const Options& o) {
  const bool measured = r.latency.count() > 0;
  auto us = [measured](double ns) -> nlohmann::json {
    if (!measured) return nullptr;
    return ns / 1e3;
  };
  nlohmann::json latency;
  for (double p : o.percentiles) {
    latency[percentileKey(p)] = us(static_cast<double>(r.latency.quantileNs(p / 100)));
  }
  latency["max"] = us(static_cast<double>(r.latency.maxNs()));
  latency["mean"] = us(r.latency.meanNs());
  latency["stddev"] = us(r.latency.stddevNs());
  latency["count"] = r.latency.count();
  nlohmann::json kinds = nlohmann::json::object();
  for (int k = 0; k < kErrorKinds; ++k)
    kinds[toString(static_cast<ErrorKind>(k))] = r.errorsByKind[k];
  nlohmann::json j = {
      {"target", r.target},
      {"connections", r.connected},
      {"connections_requested", o.connections},
      {"messages_sent", r.sent},
      {"messages_verified", r.verified},
      {"bytes_sent", r.bytesSent},
      {"bytes_received", r.bytesReceived},
      {"errors", r.errors},
      {"errors_by_kind", kinds},
      {"elapsed_s", r.elapsedS},
      {"interrupted", r.interrupted},
      {"msgs_per_s", r.msgsPerS()},
      {"latency_us", latency},
      {"protocol", o.protocol},
      {"backend", r.backend},
      {"threads", o.threads},
      {"pipeline", o.pipeline},
      {"size", o.size},
      {"intervals_msgs", r.intervals},
      {"loop_busy", r.busy},
  };
  if (o.rate > 0) {
    j["requested_rate"] = o.rate;
    j["achieved_rate"] = r.achievedRate();
  }
  if (o.latencySpectrum) {
    nlohmann::json spectrum = nlohmann::json::array();
    for (const auto& l : r.latency.spectrum(kSpectrumTicks)) {
      spectrum.push_back({{"value_us", static_cast<double>(l.valueNs) / 1e3},
                          {"percentile", l.percentile},
                          {"count", l.totalCount}});
    }
    j["latency_spectrum"] = spectrum;
  }
  return j.dump();
}

std::string histogramFile(const Report& r) {
  return r.latency.percentileDistribution(kSpectrumTicks);
}

}  // namespace reactor::stress
