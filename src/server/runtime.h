// reactor-server at run time: N event loops (one per thread, each with its own listening socket
// on the same port through SO_REUSEPORT), signal handling on the main loop, statistics and the
// graceful shutdown.
//
// Given a listening socket (LISTEN_FDS: from systemd, or from our master, see master.h) it
// binds nothing: every loop accepts on a duplicate of that one socket. As a master's worker it
// prints no listening or summary line (the master does), tells the master when it accepts and
// what it served, takes its share of --max-connections, and on SIGQUIT retires: it stops
// accepting and serves its open connections until they close (at most kRetireGrace).
//
// When --threads helps: a single loop already handles tens of thousands of mostly idle
// connections; more loops pay off only once one core is saturated (many busy connections, small
// messages, where syscalls dominate). Past the number of cores they only add contention. Each
// connection stays on the loop that accepted it, so one very busy connection cannot be spread.
#pragma once

#include "server/options.h"

namespace reactor::server {

/// Listens, prints the listening line, serves until SIGINT/SIGTERM. Returns the exit code
/// (0 after a clean shutdown, 1 if the address cannot be used, 2 for an unknown backend).
int run(const Config& config);

}  // namespace reactor::server
