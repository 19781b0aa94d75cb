// reactor-client: the sockets tutorial's clients (echo, multi-connection echo, app).
#include <fmt/format.h>

#include <charconv>
#include <optional>
#include <string_view>

#include "client.h"
#include "reactor/io.h"
#include "tools/cli.h"

namespace {

// --delay: milliseconds, as an integer or with the unit ("200" or "200ms"). A small local
// parser until the programs share one duration parser (seconds and other units).
std::optional<std::chrono::milliseconds> parseMilliseconds(std::string_view text) {
  if (text.ends_with("ms")) text.remove_suffix(2);
  long long ms = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), ms);
  if (ec != std::errc() || end != text.data() + text.size() || ms < 0 || ms > 3'600'000) {
    return std::nullopt;
  }
  return std::chrono::milliseconds(ms);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace reactor;
  client::Target target;
  std::string message = "Hello, world";
  std::string action;
  std::string value;
  int connections = 1;
  std::string delay = "0";

  CLI::App app{"reactor-client: the sockets tutorial's echo and app clients", "reactor-client"};
  app.set_version_flag("--version", fmt::format("reactor-client {}", tools::version()));
  app.add_option("--host", target.host, "server address or name")->capture_default_str();
  app.add_option("--port", target.port, "server port")
      ->check(tools::integerIn(1, 65535))
      ->capture_default_str();
  app.add_option("--timeout", target.timeoutS, "seconds to wait for the connection and the answer")
      ->check(tools::numberIn(0.001, 1e6))
      ->capture_default_str();
  app.add_option("--connections", connections,
                 "echo: the tutorial's multi-connection client with N connections, each "
                 "sending its messages and reading every echo")
      ->check(tools::integerIn(1, 10000));
  app.add_option("--chunk", target.chunkBytes,
                 "send the request BYTES at a time, with --delay between the pieces")
      ->check(tools::integerIn(1, 1 << 30));
  app.add_option("--delay", delay, "the pause between two --chunk pieces: milliseconds (200ms)")
      ->check(CLI::Validator(
          [](std::string& value) -> std::string {
            if (parseMilliseconds(value)) return {};
            return fmt::format(
                "'{}' is not a number of milliseconds from 0 to 3600000 "
                "(accepted: 200 or 200ms)",
                value);
          },
          "MS"));
  app.require_subcommand(1);
  app.fallthrough();
  CLI::App* echo = app.add_subcommand("echo", "send MESSAGE and print its echo");
  echo->add_option("MESSAGE", message, "the message")->capture_default_str();
  CLI::App* appCmd =
      app.add_subcommand("app", "send the app protocol's request and print the answer");
  appCmd->add_option("ACTION", action, "search, or anything else for a binary request")->required();
  appCmd->add_option("VALUE", value, "what to search for")->required();

  if (auto status = tools::parse(app, argc, argv)) return *status;
  target.delay = *parseMilliseconds(delay);
  if (app.count("--delay") > 0 && app.count("--chunk") == 0) {
    fmt::print(stderr, "reactor-client: --delay needs --chunk BYTES\n");
    return 2;
  }
  io::installFaultInjectionFromEnv();
  if (appCmd->parsed()) {
    if (app.count("--connections") > 0) {
      fmt::print(stderr, "reactor-client: --connections applies to echo, not app\n");
      return 2;
    }
    return client::runApp(target, action, value);
  }
  if (app.count("--connections") > 0) {
    std::vector<std::string> messages{"Message 1 from client.", "Message 2 from client."};
    if (echo->count("MESSAGE") > 0) messages = {message};
    return client::runMultiEcho(target, connections, messages);
  }
  return client::runEcho(target, message);
}
