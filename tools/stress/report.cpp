#include "report.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

namespace reactor::stress {

namespace {

struct Quantile {
  const char* key;
  const char* label;
  double q;
};
constexpr Quantile kQuantiles[] = {
    {"p50", "p50", 0.50}, {"p90", "p90", 0.90}, {"p99", "p99", 0.99}, {"p999", "p99.9", 0.999}};

double us(uint64_t ns) { return static_cast<double>(ns) / 1000.0; }

std::string bytes(uint64_t n) {
  if (n >= 1ULL << 30)
    return fmt::format("{} B ({:.2f} GiB)", n, static_cast<double>(n) / (1ULL << 30));
  if (n >= 1ULL << 20)
    return fmt::format("{} B ({:.1f} MiB)", n, static_cast<double>(n) / (1ULL << 20));
  if (n >= 1ULL << 10)
    return fmt::format("{} B ({:.1f} KiB)", n, static_cast<double>(n) / (1ULL << 10));
  return fmt::format("{} B", n);
}

}  // namespace

std::string humanSummary(const Report& r, const Options& o) {
  std::string out;
  auto line = [&out](std::string_view label, const std::string& value) {
    out += fmt::format("{:<12} {}\n", label, value);
  };
  line("target", fmt::format("{}:{} protocol={} backend={} threads={}", o.host, o.port, o.protocol,
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
    kinds += fmt::format("{}{} {}", k == 0 ? "" : ", ", toString(static_cast<ErrorKind>(k)),
                         r.errorsByKind[k]);
  }
  line("errors", fmt::format("{} ({})", r.errors, kinds));
  line("elapsed", fmt::format("{:.{}f} s", r.elapsedS, r.elapsedS < 1 ? 6 : 3));
  if (o.idle) return out;
  std::string rate = fmt::format("{:.0f} msgs/s", r.msgsPerS());
  if (o.rate > 0) {
    rate += fmt::format(" (requested {:.0f} msgs/s, achieved {:.0f} msgs/s sent)", o.rate,
                        r.achievedRate());
  }
  line("throughput", rate);
  std::string lat;
  for (const auto& q : kQuantiles) {
    lat += fmt::format("{} {:.1f} us, ", q.label, us(r.latency.quantileNs(q.q)));
  }
  lat += fmt::format("max {:.1f} us", us(r.latency.maxNs()));
  if (o.rate > 0) lat += " (from scheduled send times)";
  line("latency", lat);
  return out;
}

std::string jsonSummary(const Report& r, const Options& o) {
  nlohmann::json latency;
  for (const auto& q : kQuantiles) latency[q.key] = us(r.latency.quantileNs(q.q));
  latency["max"] = us(r.latency.maxNs());
  nlohmann::json kinds = nlohmann::json::object();
  for (int k = 0; k < kErrorKinds; ++k)
    kinds[toString(static_cast<ErrorKind>(k))] = r.errorsByKind[k];
  nlohmann::json j = {
      {"connections", r.connected},
      {"connections_requested", o.connections},
      {"messages_sent", r.sent},
      {"messages_verified", r.verified},
      {"bytes_sent", r.bytesSent},
      {"bytes_received", r.bytesReceived},
      {"errors", r.errors},
      {"errors_by_kind", kinds},
      {"elapsed_s", r.elapsedS},
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
  return j.dump();
}

}  // namespace reactor::stress
