// reactor-server at run time: N event loops (one per thread, each with its own listening socket
// on the same port through SO_REUSEPORT), signal handling on the main loop, statistics and the
// graceful shutdown.
#pragma once

#include "server/options.h"

namespace reactor::server {

/// Listens, prints the listening line, serves until SIGINT/SIGTERM. Returns the exit code
/// (0 after a clean shutdown, 1 if the address cannot be used, 2 for an unknown backend).
int run(const Config& config);

}  // namespace reactor::server
