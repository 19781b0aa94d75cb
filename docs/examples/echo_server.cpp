// A minimal echo server on reactor's public API: docs/library.md explains it line by line.
//   echo-server [PORT]        (default 65432; 0 lets the kernel pick one)
#include <reactor/address.h>
#include <reactor/connection.h>
#include <reactor/event_loop.h>
#include <reactor/poller.h>
#include <reactor/tcp_server.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>

// The protocol: every byte received goes back. One object serves every connection.
class Echo final : public reactor::ConnectionHandler, public reactor::HandlerFactory {
 public:
  void onMessage(reactor::Connection& conn, reactor::Buffer& input) override { conn.send(input); }
  reactor::ConnectionHandler* create(reactor::Connection&) override { return this; }
};

int main(int argc, char** argv) {
  const auto port = static_cast<uint16_t>(argc > 1 ? std::atoi(argv[1]) : 65432);
  reactor::EventLoop loop(reactor::createPoller("auto"));
  Echo echo;
  reactor::TcpServer server(loop, reactor::SockAddr::parse("127.0.0.1", port), {}, echo);
  for (int signo : {SIGINT, SIGTERM}) loop.watchSignal(signo, [&loop](int) { loop.stop(); });

  std::printf("listening on %s backend=%s\n", server.localAddress().toString().c_str(),
              std::string(loop.poller().name()).c_str());
  std::fflush(stdout);
  loop.run();
  std::printf("served %llu connections\n",
              static_cast<unsigned long long>(server.stats().accepted));
  return 0;
}
