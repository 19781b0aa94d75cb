#include "histogram.h"

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
