// reactor-server's command line (the contract's flags and defaults).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace reactor::server {

struct Config {
  std::string host = "127.0.0.1";
  uint16_t port = 65432;
  std::string backend = "auto";
  std::string protocol = "echo";
  unsigned threads = 1;
  unsigned workers = 1;  // processes; more than 1: a master supervises them
  size_t maxConnections = 10000;
  unsigned idleTimeoutSeconds = 300;  // 0: off
  int backlog = 4096;
  size_t maxMessageBytes = 1 << 20;
  std::string logLevel = "info";
  bool trace = false;
};

/// Parses argv into *config. Returns nullopt to go on, or the exit code: 0 after --help or
/// --version (printed on stdout), 2 after one line on stderr for a bad flag or value.
std::optional<int> parseCommandLine(int argc, char** argv, Config* config);

}  // namespace reactor::server
