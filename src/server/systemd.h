// The two halves of systemd's service protocol that reactor-server uses, read and written by
// hand instead of through libsystemd (see systemd.cpp for why that is all it takes).
//
// Socket activation (sd_listen_fds(3)): systemd, or reactor-server's own master process,
// starts the server with listening sockets at descriptors 3, 4, ... and LISTEN_FDS / LISTEN_PID
// in the environment. Readiness (sd_notify(3)): state lines such as READY=1 sent as one
// datagram to the AF_UNIX socket named in NOTIFY_SOCKET.
// Not thread-safe (environment access): call from the main thread, before starting others.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "reactor/fd.h"

namespace reactor::server::systemd {

/// The listening sockets handed over through LISTEN_FDS, when LISTEN_PID names this process;
/// empty when there are none. Unsets LISTEN_FDS, LISTEN_PID and LISTEN_FDNAMES either way (so
/// nothing this process starts mistakes them for its own). Each descriptor is checked to be a
/// listening stream socket and made close-on-exec and non-blocking; throws std::runtime_error
/// naming the descriptor and the problem otherwise.
std::vector<UniqueFd> takeListenFds();

/// Sends `state` (newline-separated assignments, e.g. "READY=1\nMAINPID=123") to NOTIFY_SOCKET.
/// Does nothing when it is unset. Returns an empty string on success, or what went wrong (the
/// caller logs it: a notification that cannot be sent must not stop the server).
std::string notify(std::string_view state);

}  // namespace reactor::server::systemd
