#include "reactor/buffer.h"

#include <sys/uio.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <stdexcept>
#include <utility>

#include "reactor/io.h"

namespace reactor {

namespace {

// The first allocation: big enough for a typical request, small enough for 10k idle peers.
constexpr size_t kInitialCapacity = 1024;
constexpr size_t kMaxCapacity = std::numeric_limits<uint32_t>::max();

}  // namespace

Buffer::Buffer(Buffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      cap_(std::exchange(other.cap_, 0)),
      read_(std::exchange(other.read_, 0)),
      write_(std::exchange(other.write_, 0)) {}

Buffer& Buffer::operator=(Buffer&& other) noexcept {
  if (this != &other) {
    std::free(data_);
    data_ = std::exchange(other.data_, nullptr);
    cap_ = std::exchange(other.cap_, 0);
    read_ = std::exchange(other.read_, 0);
    write_ = std::exchange(other.write_, 0);
  }
  return *this;
}

Buffer::~Buffer() { std::free(data_); }

void Buffer::retrieve(size_t n) {
  assert(n <= readableBytes());
  if (n < readableBytes()) {
    read_ += static_cast<uint32_t>(n);
  } else {
    retrieveAll();
  }
}

std::string Buffer::retrieveAsString(size_t n) {
  assert(n <= readableBytes());
  std::string s(peek(), n);
  retrieve(n);
  return s;
}

void Buffer::append(const void* data, size_t n) {
  if (n == 0) return;  // memcpy from a null pointer is undefined even for 0 bytes
  ensureWritable(n);
  std::memcpy(beginWrite(), data, n);
  hasWritten(n);
}

void Buffer::prepend(const void* data, size_t n) {
  assert(n <= prependableBytes());
  if (n == 0) return;
  read_ -= static_cast<uint32_t>(n);
  std::memcpy(data_ + read_, data, n);
}

void Buffer::ensureWritable(size_t n) {
  if (writableBytes() >= n) return;
  const size_t readable = readableBytes();
  // Moving the readable bytes back to kPrepend frees the space already consumed; prefer it
  // to growing when it is enough, so a steadily used buffer keeps its size.
  if (data_ != nullptr && prependableBytes() + writableBytes() >= n + kPrepend) {
    std::memmove(data_ + kPrepend, data_ + read_, readable);
    read_ = static_cast<uint32_t>(kPrepend);
    write_ = static_cast<uint32_t>(kPrepend + readable);
    return;
  }
  if (n > kMaxCapacity - kPrepend - readable) throw std::length_error("Buffer: too large");
  const size_t needed = kPrepend + readable + n;
  size_t newCap = std::max<size_t>({needed, size_t{cap_} * 2, kInitialCapacity});
  if (newCap > kMaxCapacity) newCap = kMaxCapacity;
  // A fresh block and one copy of the readable bytes: realloc would copy the dead prefix too.
  char* fresh = static_cast<char*>(std::malloc(newCap));
  if (fresh == nullptr) throw std::bad_alloc();
  if (readable > 0) std::memcpy(fresh + kPrepend, data_ + read_, readable);
  std::free(data_);
  data_ = fresh;
  cap_ = static_cast<uint32_t>(newCap);
  read_ = static_cast<uint32_t>(kPrepend);
  write_ = static_cast<uint32_t>(kPrepend + readable);
}

void Buffer::release() {
  std::free(data_);
  data_ = nullptr;
  cap_ = read_ = write_ = 0;
}

void Buffer::shrinkToFit() {
  if (empty()) {
    releaseIfEmpty();
    return;
  }
  const size_t readable = readableBytes();
  const size_t target = kPrepend + readable;
  // Worth a copy only when at least half of the block would be given back.
  if (size_t{cap_} < 2 * target) return;
  char* fresh = static_cast<char*>(std::malloc(target));
  if (fresh == nullptr) return;  // keeping the bigger block is always correct
  std::memcpy(fresh + kPrepend, data_ + read_, readable);
  std::free(data_);
  data_ = fresh;
  cap_ = static_cast<uint32_t>(target);
  read_ = static_cast<uint32_t>(kPrepend);
  write_ = static_cast<uint32_t>(target);
}

ssize_t Buffer::readFd(int fd, int* savedErrno, size_t maxBytes) {
  assert(maxBytes > 0);
  // One readv fills the writable region and spills the rest onto the stack, so a buffer
  // needs no more storage than what really arrived (muduo Buffer::readFd).
  char spill[kSpill];
  const size_t writable = std::min(writableBytes(), maxBytes);
  const size_t spillLen = std::min(kSpill, maxBytes - writable);
  iovec vec[2];
  int count = 0;
  if (writable > 0) vec[count++] = {beginWrite(), writable};
  if (spillLen > 0) vec[count++] = {spill, spillLen};
  // Most reads fit the writable region (a connection reads into the loop's big scratch buffer):
  // read() then, which spares the kernel copying and checking an iovec array.
  const ssize_t n =
      count == 1 ? io::read(fd, vec[0].iov_base, vec[0].iov_len) : io::readv(fd, vec, count);
  if (n < 0) {
    *savedErrno = errno;
    return n;
  }
  const auto got = static_cast<size_t>(n);
  if (got <= writable) {
    hasWritten(got);
  } else {
    hasWritten(writable);
    append(spill, got - writable);
  }
  return n;
}

}  // namespace reactor
