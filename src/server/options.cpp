#include "server/options.h"

#include <CLI/CLI.hpp>

#include "server/version.h"
#include "tools/cli.h"

namespace reactor::server {

std::optional<int> parseCommandLine(int argc, char** argv, Config* config) {
  CLI::App app("reactor-server: a non-blocking echo and app-protocol server", "reactor-server");
  app.set_version_flag("--version", "reactor-server " REACTOR_VERSION);
  app.add_option("--host", config->host, "address or name to listen on")
      ->type_name("HOST")
      ->capture_default_str();
  app.add_option("-p,--port", config->port, "TCP port (0: an ephemeral port)")
      ->type_name("PORT")
      ->check(tools::integerIn(0, 65535))
      ->capture_default_str();
  app.add_option("--backend", config->backend, "event notification backend of this build")
      ->type_name(tools::backendChoices())
      ->check(tools::backend())
      ->capture_default_str();
  app.add_option("--protocol", config->protocol, "protocol served")
      ->type_name("echo|app")
      ->check(tools::oneOf({"echo", "app"}))
      ->capture_default_str();
  app.add_option(
         "-t,--threads", config->threads,
         "event loops, one per thread; helps once one core is saturated by many busy connections")
      ->type_name("N")
      ->check(tools::integerIn(1, 256))
      ->capture_default_str();
  app.add_option("--workers", config->workers,
                 "worker processes under a master (1: no master); restart them with SIGHUP")
      ->type_name("N")
      ->check(tools::integerIn(1, 1024))
      ->capture_default_str();
  app.add_option("--max-connections", config->maxConnections,
                 "open connections at most, in total; more are accepted and closed")
      ->type_name("N")
      ->transform(tools::count(1, 10'000'000))
      ->capture_default_str();
  app.add_option("--idle-timeout", config->idleTimeoutSeconds,
                 "close connections idle this long, in whole seconds (0: never)")
      ->type_name("DURATION")
      ->transform(tools::wholeSeconds(0, 100'000'000))
      ->capture_default_str();
  app.add_option("--backlog", config->backlog, "listen backlog")
      ->type_name("N")
      ->transform(tools::count(1, 1'000'000))
      ->capture_default_str();
  app.add_option("--max-message-bytes", config->maxMessageBytes,
                 "app protocol: largest content-length accepted")
      ->type_name("BYTES")
      ->transform(tools::size(0, 1 << 30))
      ->capture_default_str();
  app.add_flag("--trace", config->trace,
               "one line on stderr per reactor step (accept, readiness, reads, writes, close)");
  app.add_option("--log-level", config->logLevel, "messages on stderr from this level up")
      ->type_name("error|warn|info|debug")
      ->check(tools::oneOf({"error", "warn", "info", "debug"}))
      ->capture_default_str();
  return tools::parse(app, argc, argv);
}

}  // namespace reactor::server
