// reactor-server: every flag and behaviour users rely on is in docs/programs.md ("reactor-server")
// and the wire format in docs/app-protocol.md.
#include <optional>

#include "reactor/log.h"
#include "reactor/trace.h"
#include "server/master.h"
#include "server/options.h"
#include "server/runtime.h"

int main(int argc, char** argv) {
  reactor::log::setProgramName("reactor-server");
  reactor::server::Config config;
  if (std::optional<int> code = reactor::server::parseCommandLine(argc, argv, &config)) {
    return *code;
  }
  reactor::log::setLevel(*reactor::log::parseLevel(config.logLevel));
  // Before any loop thread exists: the flag is never written again (see trace.h).
  if (config.trace) reactor::trace::enable();
  if (config.workers > 1 && !reactor::server::isWorkerProcess()) {
    return reactor::server::runMaster(config, argc, argv);
  }
  return reactor::server::run(config);
}
