// reactor-client: the sockets tutorial's clients (echo, multi-connection echo, app).
#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <optional>
#include <string_view>

#include "client.h"
#include "reactor/io.h"
#include "tools/cli.h"

int main(int argc, char** argv) {
  using namespace reactor;
  client::Target target;
  std::string message = "Hello, world";
  std::string action;
  std::string value;
  int connections = 1;
  double delaySeconds = 0;

  CLI::App app{"reactor-client: the sockets tutorial's echo and app clients", "reactor-client"};
  app.set_version_flag("--version", fmt::format("reactor-client {}", tools::version()));
  app.add_option("--host", target.host,
                 "server address or name (every address it resolves to "
                 "is tried in turn)")
      ->type_name("HOST")
      ->capture_default_str();
  app.add_option("-p,--port", target.port, "server port")
      ->type_name("PORT")
      ->check(tools::integerIn(1, 65535))
      ->capture_default_str();
  app.add_option("--timeout", target.timeoutS,
                 "how long to wait for the connection and then for the answer")
      ->type_name("DURATION")
      ->transform(tools::duration(0.001, 1e6))
      ->capture_default_str();
  app.add_option("-c,--connections", connections,
                 "echo: the tutorial's multi-connection client with N connections, each "
                 "sending its messages and reading every echo")
      ->type_name("N")
      ->transform(tools::count(1, 10000));
  app.add_option("--chunk", target.chunkBytes,
                 "send the request BYTES at a time, with --delay between the pieces")
      ->type_name("BYTES")
      ->transform(tools::size(1, 1 << 30));
  app.add_option("--delay", delaySeconds,
                 "the pause between two --chunk pieces (300ms; a bare number is seconds)")
      ->type_name("DURATION")
      ->transform(tools::duration(0, 3600));
  app.require_subcommand(1);
  app.fallthrough();
  CLI::App* echo = app.add_subcommand("echo", "send MESSAGE and print its echo");
  echo->add_option("MESSAGE", message, "the message")->capture_default_str();
  CLI::App* appCmd =
      app.add_subcommand("app", "send the app protocol's request and print the answer");
  appCmd->add_option("ACTION", action, "search, or anything else for a binary request")->required();
  appCmd->add_option("VALUE", value, "what to search for")->required();

  if (auto status = tools::parse(app, argc, argv)) return *status;
  target.delay = std::chrono::milliseconds(std::llround(delaySeconds * 1000));
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
