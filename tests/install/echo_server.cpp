// A minimal echo server built against an installed reactor (see check.sh): the public API only.
// Prints "listening on PORT backend=NAME" once bound; SIGINT or SIGTERM stops it.
#include <reactor/address.h>
#include <reactor/connection.h>
#include <reactor/event_loop.h>
#include <reactor/poller.h>
#include <reactor/tcp_server.h>

#include <csignal>
#include <cstdio>
#include <string>

namespace {

class Echo final : public reactor::ConnectionHandler, public reactor::HandlerFactory {
 public:
  void onMessage(reactor::Connection& conn, reactor::Buffer& input) override { conn.send(input); }
  reactor::ConnectionHandler* create(reactor::Connection& /*conn*/) override { return this; }
};

}  // namespace

int main() {
  reactor::EventLoop loop(reactor::createPoller());
  Echo echo;
  reactor::TcpServer server(loop, reactor::SockAddr::parse("127.0.0.1", 0), {}, echo);
  for (int signo : {SIGINT, SIGTERM}) loop.watchSignal(signo, [&loop](int) { loop.stop(); });

  std::string backend(loop.poller().name());
  std::printf("listening on %u backend=%s\n", server.localAddress().port(), backend.c_str());
  std::fflush(stdout);
  loop.run();
  return 0;
}
