#include "histogram.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace reactor::stress {

void Histogram::merge(const Histogram& other) {
  for (int i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
  total_ += other.total_;
  if (other.max_ > max_) max_ = other.max_;
}

uint64_t Histogram::bucketUpper(int b) {
  if (b < kSub) return static_cast<uint64_t>(b);
  int e = (b - kSub) / kSub + kSubBits;
  uint64_t sub = static_cast<uint64_t>((b - kSub) % kSub);
  uint64_t width = uint64_t{1} << (e - kSubBits);
  return ((kSub + sub) << (e - kSubBits)) + width - 1;
}

uint64_t Histogram::bucketLower(int b) {
  if (b < kSub) return static_cast<uint64_t>(b);
  int e = (b - kSub) / kSub + kSubBits;
  uint64_t sub = static_cast<uint64_t>((b - kSub) % kSub);
  return (kSub + sub) << (e - kSubBits);
}

double Histogram::meanNs() const {
  if (total_ == 0) return 0;
  double sum = 0;
  for (int i = 0; i < kBuckets; ++i) {
    if (counts_[i] == 0) continue;
    double middle = (static_cast<double>(bucketLower(i)) + static_cast<double>(bucketUpper(i))) / 2;
    sum += middle * static_cast<double>(counts_[i]);
  }
  return sum / static_cast<double>(total_);
}

double Histogram::stddevNs() const {
  if (total_ == 0) return 0;
  double mean = meanNs();
  double squares = 0;
  for (int i = 0; i < kBuckets; ++i) {
    if (counts_[i] == 0) continue;
    double middle = (static_cast<double>(bucketLower(i)) + static_cast<double>(bucketUpper(i))) / 2;
    squares += (middle - mean) * (middle - mean) * static_cast<double>(counts_[i]);
  }
  return std::sqrt(squares / static_cast<double>(total_));
}

std::vector<Histogram::Level> Histogram::spectrum(int ticksPerHalfDistance) const {
  std::vector<Level> levels;
  if (total_ == 0) return levels;
  double next = 0;  // the percentile level to report next, 0..100
  uint64_t seen = 0;
  for (int i = 0; i < kBuckets && seen < total_; ++i) {
    if (counts_[i] == 0) continue;
    seen += counts_[i];
    uint64_t value = std::min(bucketUpper(i), max_);
    double reached = 100.0 * static_cast<double>(seen) / static_cast<double>(total_);
    // Every level this bucket reaches is reported with its value, as HdrHistogram's
    // percentile iterator does: the steps halve each time the distance to 100% halves. The
    // last bucket reports one level, then 100% (the levels approach 100% without reaching it).
    while (next <= reached) {
      levels.push_back({value, next / 100, seen});
      auto halvings = static_cast<int64_t>(std::log2(100 / (100 - next))) + 1;
      next += 100.0 / (ticksPerHalfDistance * std::pow(2.0, static_cast<double>(halvings)));
      if (seen == total_) break;
    }
  }
  levels.push_back({max_, 1.0, total_});
  return levels;
}

std::string Histogram::percentileDistribution(int ticksPerHalfDistance) const {
  std::string out = fmt::format("{:>12} {:>12} {:>12} {:>12}\n\n", "Value", "Percentile",
                                "TotalCount", "1/(1-Percentile)");
  for (const Level& l : spectrum(ticksPerHalfDistance)) {
    double inverse = l.percentile < 1 ? 1 / (1 - l.percentile) : INFINITY;
    out += fmt::format("{:12.3f} {:12.6f} {:12} {:>12.2f}\n", static_cast<double>(l.valueNs) / 1e3,
                       l.percentile, l.totalCount, inverse);
  }
  out += fmt::format("#[Mean    = {:12.3f}, StdDeviation   = {:12.3f}]\n", meanNs() / 1e3,
                     stddevNs() / 1e3);
  out += fmt::format("#[Max     = {:12.3f}, Total count    = {:12}]\n",
                     static_cast<double>(max_) / 1e3, total_);
  // In HdrHistogram's terms: 32 sub-buckets per power of two are the upper half of 64, and 59
  // such buckets cover 64-bit values.
  out += fmt::format("#[Buckets = {:12}, SubBuckets     = {:12}]\n", 64 - kSubBits, 2 * kSub);
  return out;
}

uint64_t Histogram::quantileNs(double q) const {
  if (total_ == 0) return 0;
  auto rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(total_)));
  if (rank < 1) rank = 1;
  uint64_t seen = 0;
  for (int i = 0; i < kBuckets; ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      uint64_t v = bucketUpper(i);
      return v < max_ ? v : max_;
    }
  }
  return max_;
}

}  // namespace reactor::stress
