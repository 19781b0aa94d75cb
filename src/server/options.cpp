#include "server/options.h"

#include <CLI/CLI.hpp>
#include <charconv>
#include <cstdio>
#include <initializer_list>
#include <string_view>

#include "server/version.h"

namespace reactor::server {
namespace {

// Validators whose message names the bad value and what is accepted; CLI11 prefixes the flag.
CLI::Validator integerIn(long long lo, long long hi) {
  return CLI::Validator(
      [lo, hi](std::string& value) -> std::string {
        long long n = 0;
        const char* end = value.data() + value.size();
        auto [ptr, ec] = std::from_chars(value.data(), end, n);
        if (ec == std::errc() && ptr == end && n >= lo && n <= hi) return {};
        return "invalid value '" + value + "' (accepted: an integer from " + std::to_string(lo) +
               " to " + std::to_string(hi) + ")";
      },
      std::to_string(lo) + ".." + std::to_string(hi));
}

CLI::Validator oneOf(std::initializer_list<std::string_view> names) {
  std::string list;
  for (std::string_view n : names) {
    if (!list.empty()) list += "|";
    list += n;
  }
  std::vector<std::string> accepted(names.begin(), names.end());
  return CLI::Validator(
      [accepted, list](std::string& value) -> std::string {
        for (const std::string& a : accepted) {
          if (value == a) return {};
        }
        return "invalid value '" + value + "' (accepted: " + list + ")";
      },
      list);
}

// CLI11's messages can span lines; the contract wants exactly one.
std::string oneLine(std::string text) {
  for (char& c : text) {
    if (c == '\n') c = ' ';
  }
  while (!text.empty() && text.back() == ' ') text.pop_back();
  return text;
}

}  // namespace

std::optional<int> parseCommandLine(int argc, char** argv, Config* config) {
  CLI::App app("reactor-server: a non-blocking echo and app-protocol server", "reactor-server");
  app.set_version_flag("--version", "reactor-server " REACTOR_VERSION);
  app.add_option("--host", config->host, "address or name to listen on")->capture_default_str();
  app.add_option("--port", config->port, "TCP port (0: an ephemeral port)")
      ->check(integerIn(0, 65535))
      ->capture_default_str();
  app.add_option("--backend", config->backend, "event notification backend")
      ->check(oneOf({"auto", "epoll", "kqueue", "poll", "select"}))
      ->capture_default_str();
  app.add_option("--protocol", config->protocol, "protocol served")
      ->check(oneOf({"echo", "app"}))
      ->capture_default_str();
  app.add_option(
         "--threads", config->threads,
         "event loops, one per thread; helps once one core is saturated by many busy connections")
      ->check(integerIn(1, 256))
      ->capture_default_str();
  app.add_option("--max-connections", config->maxConnections,
                 "open connections at most, in total; more are accepted and closed")
      ->check(integerIn(1, 10'000'000))
      ->capture_default_str();
  app.add_option("--idle-timeout", config->idleTimeoutSeconds,
                 "close connections idle this many seconds (0: never)")
      ->check(integerIn(0, 100'000'000))
      ->capture_default_str();
  app.add_option("--backlog", config->backlog, "listen backlog")
      ->check(integerIn(1, 1'000'000))
      ->capture_default_str();
  app.add_option("--max-message-bytes", config->maxMessageBytes,
                 "app protocol: largest content-length accepted")
      ->check(integerIn(0, 1 << 30))
      ->capture_default_str();
  app.add_flag("--trace", config->trace,
               "one line on stderr per reactor step (accept, readiness, reads, writes, close)");
  app.add_option("--log-level", config->logLevel, "messages on stderr from this level up")
      ->check(oneOf({"error", "warn", "info", "debug"}))
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version: on stdout
    std::fprintf(stderr, "reactor-server: %s (see --help)\n", oneLine(e.what()).c_str());
    return 2;
  }
  return std::nullopt;
}

}  // namespace reactor::server
