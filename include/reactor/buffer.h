// Buffer: contiguous bytes with a prependable area, a readable region and a writable region
// (muduo's Buffer):
//
//   +-------------+------------------+------------------+
//   | prependable |     readable     |     writable     |
//   +-------------+------------------+------------------+
//   0      <=  readIndex   <=   writeIndex    <=    capacity
//
// An empty buffer can hold no storage at all (release()), so an idle connection costs only
// this object (24 bytes). Not thread-safe.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace reactor {

class Buffer {
 public:
  /// Room kept in front of the data for a length header (the app protocol's 2 bytes, or more).
  static constexpr size_t kPrepend = 8;
  /// Size of the stack spill readFd() uses past the writable region.
  static constexpr size_t kSpill = 64 * 1024;

  Buffer() = default;
  Buffer(Buffer&& other) noexcept;
  Buffer& operator=(Buffer&& other) noexcept;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer();

  size_t readableBytes() const { return write_ - read_; }
  size_t writableBytes() const { return cap_ - write_; }
  size_t prependableBytes() const { return read_; }
  size_t capacity() const { return cap_; }
  bool empty() const { return read_ == write_; }

  /// The readable bytes (valid until the next non-const call).
  const char* peek() const { return data_ + read_; }
  std::string_view view() const { return {peek(), readableBytes()}; }

  /// Consumes n readable bytes (n <= readableBytes()). Consuming everything resets the
  /// indices so the next append starts at kPrepend without moving bytes.
  void retrieve(size_t n);
  void retrieveAll() {
    // Without storage there is no prepend area to keep: indices stay 0.
    const uint32_t start = data_ != nullptr ? static_cast<uint32_t>(kPrepend) : 0;
    read_ = start;
    write_ = start;
  }
  std::string retrieveAsString(size_t n);

  void append(const void* data, size_t n);
  void append(std::string_view s) { append(s.data(), s.size()); }
  /// Writes n bytes just before the readable region (n <= prependableBytes()).
  void prepend(const void* data, size_t n);

  /// Makes room for n more bytes: compacts (moves readable bytes to the front) when that is
  /// enough, else grows geometrically.
  void ensureWritable(size_t n);
  char* beginWrite() { return data_ + write_; }
  void hasWritten(size_t n) { write_ += static_cast<uint32_t>(n); }

  /// Frees the storage if the buffer is empty (an idle connection then holds no buffer).
  void releaseIfEmpty() {
    if (data_ != nullptr && empty()) release();
  }
  /// Shrinks capacity to fit readable bytes plus kPrepend (when worth it).
  void shrinkToFit();

  /// Reads from fd with one readv into the writable region plus a 64 KiB stack spill; spilled
  /// bytes are appended. At most maxBytes are read. Returns bytes read, 0 at EOF, or -1 with
  /// *savedErrno set (EAGAIN included). Goes through the io seam.
  ssize_t readFd(int fd, int* savedErrno, size_t maxBytes = kSpill);

 private:
  void release();

  char* data_ = nullptr;
  uint32_t cap_ = 0;
  uint32_t read_ = 0;
  uint32_t write_ = 0;
};

}  // namespace reactor
