// A fixed-memory log-linear latency histogram (HdrHistogram's idea, no package needed): values
// in nanoseconds, 32 linear sub-buckets per power of two, so a reported value is within 1/32
// (3.1%) of the truth. 1,920 counters, no allocation after construction; merge() adds another
// thread's histogram.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace reactor::stress {

class Histogram {
 public:
  void record(uint64_t ns) {
    ++counts_[bucketOf(ns)];
    ++total_;
    if (ns > max_) max_ = ns;
  }
  void merge(const Histogram& other);
  void reset() { *this = Histogram(); }

  uint64_t count() const { return total_; }
  uint64_t maxNs() const { return max_; }
  /// The value at quantile q (0 < q <= 1): the upper bound of the bucket holding the
  /// ceil(q * count)-th smallest value, capped by the exact maximum. 0 when empty.
  uint64_t quantileNs(double q) const;
  /// Mean and standard deviation, from each bucket's middle value (as HdrHistogram does).
  double meanNs() const;
  double stddevNs() const;

  /// One row of the percentile spectrum: the highest value of a bucket (capped by the maximum),
  /// the percentile level it answers (0..1) and the count of values up to it.
  struct Level {
    uint64_t valueNs;
    double percentile;
    uint64_t totalCount;
  };
  /// HdrHistogram's percentile iteration: levels 0%, then halving the distance to 100% in
  /// `ticksPerHalfDistance` steps each time, ending at 100%. Empty when nothing was recorded.
  std::vector<Level> spectrum(int ticksPerHalfDistance) const;
  /// The spectrum in HdrHistogram's percentile-distribution text format (.hgrm: the columns
  /// Value Percentile TotalCount 1/(1-Percentile), then the #[Mean..., #[Max..., #[Buckets...
  /// footer), values in microseconds with 3 decimals.
  std::string percentileDistribution(int ticksPerHalfDistance) const;

  static constexpr int kSubBits = 5;
  static constexpr int kSub = 1 << kSubBits;
  static constexpr int kBuckets = kSub + (64 - kSubBits) * kSub;
  static int bucketOf(uint64_t v) {
    if (v < kSub) return static_cast<int>(v);
    int e = 63 - __builtin_clzll(v);
    int sub = static_cast<int>((v >> (e - kSubBits)) & (kSub - 1));
    return kSub + (e - kSubBits) * kSub + sub;
  }
  static uint64_t bucketUpper(int b);
  static uint64_t bucketLower(int b);

 private:
  std::array<uint64_t, kBuckets> counts_{};
  uint64_t total_ = 0;
  uint64_t max_ = 0;
};

}  // namespace reactor::stress
