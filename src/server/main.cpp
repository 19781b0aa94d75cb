// reactor-server: see CONTRACT.md ("reactor-server") for every flag and behaviour.
#include <optional>

#include "reactor/log.h"
#include "reactor/trace.h"
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
  return reactor::server::run(config);
}
