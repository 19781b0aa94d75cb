// A tiny interpreter of Buffer operations, checked after every step against a std::string
// model. readFd reads from a pipe the interpreter fills, sometimes through a FaultInjector.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>

#include "reactor/buffer.h"
#include "reactor/io.h"

namespace {

using reactor::Buffer;

void check(bool ok) {
  if (!ok) std::abort();
}

void checkModel(const Buffer& b, const std::string& model) {
  check(b.view() == model);
  check(b.readableBytes() == model.size());
  check(b.empty() == model.empty());
  check(b.prependableBytes() + b.readableBytes() + b.writableBytes() == b.capacity());
  if (b.capacity() == 0) check(b.prependableBytes() == 0 && model.empty());
}

// One non-blocking pipe for the whole run; emptied after every input.
struct Pipe {
  int r = -1;
  int w = -1;
  Pipe() {
    int fds[2];
    check(::pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0);
    r = fds[0];
    w = fds[1];
  }
  void drain() {
    char sink[4096];
    while (::read(r, sink, sizeof(sink)) > 0) {
    }
  }
};

class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool done() const { return pos_ >= size_; }
  uint8_t byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  size_t number() { return size_t{byte()} << 8 | byte(); }
  std::string bytes(size_t n) {
    n = std::min(n, size_ - std::min(pos_, size_));
    std::string s(reinterpret_cast<const char*>(data_) + pos_, n);
    pos_ += n;
    return s;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Pipe pipe;
  Reader in(data, size);
  Buffer b;
  std::string model;
  std::string inPipe;  // written to the pipe, not read yet
  std::optional<reactor::io::FaultInjector> injector;
  for (int steps = 0; steps < 10000 && !in.done(); ++steps) {
    switch (in.byte() % 12) {
      case 0: {
        const std::string s = in.bytes(in.byte());
        b.append(s);
        model += s;
        break;
      }
      case 1: {
        const size_t n = in.number() % (model.size() + 1);
        b.retrieve(n);
        model.erase(0, n);
        break;
      }
      case 2:
        b.retrieveAll();
        model.clear();
        break;
      case 3: {
        const size_t n = std::min<size_t>(in.byte(), b.prependableBytes());
        const std::string s = in.bytes(n);
        b.prepend(s.data(), s.size());
        model.insert(0, s);
        break;
      }
      case 4: {
        const size_t n = in.number();
        b.ensureWritable(n);
        check(b.writableBytes() >= n);
        const std::string s = in.bytes(std::min<size_t>(n, in.byte()));
        std::copy(s.begin(), s.end(), b.beginWrite());
        b.hasWritten(s.size());
        model += s;
        break;
      }
      case 5:
        b.releaseIfEmpty();
        if (model.empty()) check(b.capacity() == 0);
        break;
      case 6:
        b.shrinkToFit();
        break;
      case 7: {
        const size_t n = in.number() % (model.size() + 1);
        check(b.retrieveAsString(n) == model.substr(0, n));
        model.erase(0, n);
        break;
      }
      case 8: {
        Buffer moved(std::move(b));
        check(b.capacity() == 0 && b.empty());
        b = std::move(moved);
        break;
      }
      case 9: {
        const std::string s = in.bytes(in.number());
        const ssize_t n = ::write(pipe.w, s.data(), s.size());
        if (n > 0) inPipe.append(s, 0, static_cast<size_t>(n));
        break;
      }
      case 10: {
        const size_t maxBytes = 1 + in.number() * 4;
        int err = 0;
        const ssize_t n = b.readFd(pipe.r, &err, maxBytes);
        if (n < 0) {
          check(err == EAGAIN || err == EINTR);
        } else {
          check(n > 0 && static_cast<size_t>(n) <= maxBytes &&
                static_cast<size_t>(n) <= inPipe.size());
          model.append(inPipe, 0, static_cast<size_t>(n));
          inPipe.erase(0, static_cast<size_t>(n));
        }
        break;
      }
      case 11:
        if (injector) {
          reactor::io::setHooks(nullptr);
          injector.reset();
        } else {
          injector.emplace(in.number());
          reactor::io::setHooks(&*injector);
        }
        break;
    }
    checkModel(b, model);
  }
  reactor::io::setHooks(nullptr);
  pipe.drain();
  return 0;
}
