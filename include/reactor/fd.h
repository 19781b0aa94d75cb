// UniqueFd: the one owner of a file descriptor. Every descriptor the library opens lives in one.
#pragma once

#include <utility>

namespace reactor {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  int release() { return std::exchange(fd_, -1); }
  /// Closes the held descriptor (close(2) errors other than EBADF are not actionable: the
  /// descriptor is gone either way, and EINTR must not be retried on Linux).
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

}  // namespace reactor
