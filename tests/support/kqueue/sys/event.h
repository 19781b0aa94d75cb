/* Test-only emulation of FreeBSD's <sys/event.h> on Linux, over epoll.
 *
 * Models the documented kqueue(2) semantics for the subset the reactor's kqueue backend uses:
 * EVFILT_READ and EVFILT_WRITE on descriptors, EV_ADD, EV_DELETE and EV_RECEIPT as changes,
 * EV_ERROR receipts carrying the errno in data, and EV_EOF (with the socket error as a non-zero
 * fflags) on returned events. Anything else is refused with EINVAL, so a backend change that
 * strays from this subset fails the tests rather than passing by accident. Never installed and
 * never linked into the library: see kqueue_emulation.cpp. Layout and constants are FreeBSD's. */
#ifndef REACTOR_TESTS_KQUEUE_EMULATION_SYS_EVENT_H
#define REACTOR_TESTS_KQUEUE_EMULATION_SYS_EVENT_H

#include <stdint.h>
#include <time.h>

#define EVFILT_READ (-1)
#define EVFILT_WRITE (-2)

#define EV_ADD 0x0001
#define EV_DELETE 0x0002
#define EV_ENABLE 0x0004
#define EV_DISABLE 0x0008
#define EV_ONESHOT 0x0010
#define EV_CLEAR 0x0020
#define EV_RECEIPT 0x0040
#define EV_DISPATCH 0x0080
#define EV_ERROR 0x4000
#define EV_EOF 0x8000

struct kevent {
  uintptr_t ident;      /* the descriptor */
  short filter;         /* EVFILT_READ or EVFILT_WRITE */
  unsigned short flags; /* EV_* */
  unsigned int fflags;  /* with EV_EOF: the pending socket error, if any */
  int64_t data;         /* with EV_ERROR: the errno of the change (0 for a receipt) */
  void* udata;          /* passed through unchanged */
  uint64_t ext[4];
};

#define EV_SET(kevp, a, b, c, d, e, f) \
  do {                                 \
    struct kevent* ev_ = (kevp);       \
    ev_->ident = (a);                  \
    ev_->filter = (b);                 \
    ev_->flags = (c);                  \
    ev_->fflags = (d);                 \
    ev_->data = (e);                   \
    ev_->udata = (f);                  \
    ev_->ext[0] = 0;                   \
    ev_->ext[1] = 0;                   \
    ev_->ext[2] = 0;                   \
    ev_->ext[3] = 0;                   \
  } while (0)

#ifdef __cplusplus
extern "C" {
#endif

int kqueue(void);
int kevent(int kq, const struct kevent* changelist, int nchanges, struct kevent* eventlist,
           int nevents, const struct timespec* timeout);

#ifdef __cplusplus
}
#endif

#endif
