// The sockets tutorial's clients on the reactor: an echo client, its multi-connection client,
// and the app-protocol client. Each runs one EventLoop until done and returns the exit status.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace reactor::client {

struct Target {
  std::string host = "127.0.0.1";
  uint16_t port = 65432;
  double timeoutS = 10;                // connect, and then the whole answer
  size_t chunkBytes = 0;               // > 0: send the request this many bytes at a time
  std::chrono::milliseconds delay{0};  // the pause between two chunks
};

/// Sends message, waits for the whole echo, prints "Received 'MESSAGE'".
int runEcho(const Target& target, const std::string& message);
/// The tutorial's multiconn-client: `connections` connections, each sending every message and
/// reading back every echo, with a line per step and a final summary.
int runMultiEcho(const Target& target, int connections, const std::vector<std::string>& messages);
/// Sends the tutorial's request for (action, value) and prints its answer.
int runApp(const Target& target, const std::string& action, const std::string& value);

}  // namespace reactor::client
