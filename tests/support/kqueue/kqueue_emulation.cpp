// Test-only kqueue() and kevent() for Linux, over epoll: FreeBSD's documented kqueue(2)
// semantics for the subset src/poller/kqueue_poller.cpp uses, so that file runs the poller
// conformance suite on Linux unchanged.
//
// What is modelled (kqueue(2), FreeBSD 13):
// - a knote per (descriptor, filter); EV_ADD creates it or updates its udata, EV_DELETE drops
//   it (ENOENT when there is none, EBADF for a closed descriptor); close(2) drops a
//   descriptor's knotes, which here shows up as epoll's ENOENT on the next change (only when
//   the descriptor was the last one open on its file: epoll forgets a registration then);
// - a change that fails, or carries EV_RECEIPT, is written to the event list as an EV_ERROR
//   entry whose data is the errno (0 for success); if any were written, kevent() returns their
//   count at once without waiting for events; with no room left for one, the later changes
//   are not processed, and a failure fails the call;
// - level-triggered events, one per ready filter: EVFILT_READ on data, end-of-file or error,
//   EVFILT_WRITE on space or error; EV_EOF when the peer shut down (read filter) or the
//   connection is gone (write filter), with a non-zero fflags when a socket error is pending.
// What is not: other filters and flags (EINVAL), the data field of returned events (0), and
// the exact fflags errno: Linux cannot read a pending socket error without clearing it
// (SO_ERROR and recv both consume it), and the caller must still learn it from recv(), so a
// pending error is marked with EIO.
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/event.h>

#include <cerrno>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace {

struct Knotes {
  bool read = false;
  bool write = false;
  void* readUdata = nullptr;
  void* writeUdata = nullptr;
};

struct Queue {
  std::unordered_map<int, Knotes> notes;  // by descriptor
};

std::mutex gMutex;
std::unordered_map<int, Queue> gQueues;  // by the epoll descriptor that stands for the kqueue

uint32_t epollMask(const Knotes& k) {
  uint32_t m = 0;
  if (k.read) m |= EPOLLIN | EPOLLRDHUP;
  if (k.write) m |= EPOLLOUT;
  return m;
}

int control(int ep, int op, int fd, const Knotes& k) {
  epoll_event ev{};
  ev.events = epollMask(k);
  ev.data.fd = fd;
  return ::epoll_ctl(ep, op, fd, &ev) < 0 ? errno : 0;
}

int addKnote(int ep, Queue& q, int fd, short filter, void* udata) {
  auto it = q.notes.find(fd);
  const bool known = it != q.notes.end();
  Knotes next = known ? it->second : Knotes{};
  (filter == EVFILT_READ ? next.read : next.write) = true;
  (filter == EVFILT_READ ? next.readUdata : next.writeUdata) = udata;
  int err = known ? control(ep, EPOLL_CTL_MOD, fd, next) : control(ep, EPOLL_CTL_ADD, fd, next);
  if (known && err == ENOENT) {
    // The descriptor was closed (dropping its knotes) and its number reused.
    next = Knotes{};
    (filter == EVFILT_READ ? next.read : next.write) = true;
    (filter == EVFILT_READ ? next.readUdata : next.writeUdata) = udata;
    err = control(ep, EPOLL_CTL_ADD, fd, next);
  }
  if (err != 0) return err;
  q.notes[fd] = next;
  return 0;
}

int deleteKnote(int ep, Queue& q, int fd, short filter) {
  auto it = q.notes.find(fd);
  if (it == q.notes.end()) return ENOENT;
  Knotes next = it->second;
  bool& has = filter == EVFILT_READ ? next.read : next.write;
  if (!has) return ENOENT;
  has = false;
  const int err = (next.read || next.write) ? control(ep, EPOLL_CTL_MOD, fd, next)
                                            : control(ep, EPOLL_CTL_DEL, fd, next);
  if (err == ENOENT) {
    q.notes.erase(it);  // closed and reused: the knotes went with the close
    return ENOENT;
  }
  if (err != 0) return err;
  if (next.read || next.write) {
    it->second = next;
  } else {
    q.notes.erase(it);
  }
  return 0;
}

int applyChange(int ep, Queue& q, const struct kevent& kev) {
  if (kev.filter != EVFILT_READ && kev.filter != EVFILT_WRITE) return EINVAL;
  const unsigned op = kev.flags & ~static_cast<unsigned>(EV_RECEIPT);
  if (op != EV_ADD && op != EV_DELETE) return EINVAL;
  const int fd = static_cast<int>(kev.ident);
  if (::fcntl(fd, F_GETFD) < 0) return EBADF;
  return op == EV_ADD ? addKnote(ep, q, fd, kev.filter, kev.udata)
                      : deleteKnote(ep, q, fd, kev.filter);
}

int timeoutMs(const struct timespec* ts) {
  if (ts == nullptr) return -1;
  const long long ns = static_cast<long long>(ts->tv_sec) * 1000000000LL + ts->tv_nsec;
  const long long ms = (ns + 999999) / 1000000;  // round up, as the kernel never wakes early
  return ms > 0x7fffffff ? 0x7fffffff : static_cast<int>(ms);
}

struct kevent makeEvent(int fd, short filter, unsigned short flags, unsigned fflags, void* udata) {
  struct kevent ev;
  EV_SET(&ev, static_cast<uintptr_t>(fd), filter, flags, fflags, 0, udata);
  return ev;
}

}  // namespace

extern "C" int kqueue(void) {
  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) return -1;
  std::lock_guard<std::mutex> lock(gMutex);
  gQueues[ep] = Queue{};  // a reused number starts empty, as a new kqueue would
  return ep;
}

extern "C" int kevent(int kq, const struct kevent* changelist, int nchanges,
                      struct kevent* eventlist, int nevents, const struct timespec* timeout) {
  if (nchanges < 0 || nevents < 0 ||
      (timeout != nullptr &&
       (timeout->tv_sec < 0 || timeout->tv_nsec < 0 || timeout->tv_nsec >= 1000000000L))) {
    errno = EINVAL;
    return -1;
  }
  int receipts = 0;
  {
    std::lock_guard<std::mutex> lock(gMutex);
    auto it = gQueues.find(kq);
    if (it == gQueues.end()) {
      errno = EBADF;
      return -1;
    }
    for (int i = 0; i < nchanges; ++i) {
      struct kevent kev = changelist[i];
      const int err = applyChange(kq, it->second, kev);
      if (err == 0 && (kev.flags & EV_RECEIPT) == 0) continue;
      if (receipts == nevents) {
        // No room for the EV_ERROR entry: the later changes are not processed.
        if (err == 0) return receipts;
        errno = err;
        return -1;
      }
      kev.flags = EV_ERROR;
      kev.data = err;
      eventlist[receipts++] = kev;
    }
  }
  if (receipts > 0 || nevents == 0) return receipts;

  std::vector<epoll_event> ready(static_cast<size_t>(nevents));
  const int n = ::epoll_wait(kq, ready.data(), nevents, timeoutMs(timeout));
  if (n < 0) return -1;  // errno from epoll_wait (EINTR included)
  std::lock_guard<std::mutex> lock(gMutex);
  const Queue& q = gQueues[kq];
  int out = 0;
  for (int i = 0; i < n && out < nevents; ++i) {
    const int fd = ready[static_cast<size_t>(i)].data.fd;
    const uint32_t e = ready[static_cast<size_t>(i)].events;
    auto it = q.notes.find(fd);
    if (it == q.notes.end()) continue;
    const unsigned error = (e & EPOLLERR) ? EIO : 0;
    if (it->second.read && (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
      const bool eof = (e & (EPOLLRDHUP | EPOLLHUP)) != 0;
      eventlist[out++] =
          makeEvent(fd, EVFILT_READ, eof ? EV_EOF : 0, eof ? error : 0, it->second.readUdata);
    }
    if (out < nevents && it->second.write && (e & (EPOLLOUT | EPOLLHUP | EPOLLERR))) {
      const bool eof = (e & EPOLLHUP) != 0;
      eventlist[out++] =
          makeEvent(fd, EVFILT_WRITE, eof ? EV_EOF : 0, eof ? error : 0, it->second.writeUdata);
    }
  }
  return out;
}
