#include "client.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>

#include "reactor/app_codec.h"
#include "reactor/connection.h"
#include "reactor/connector.h"
#include "reactor/event_loop.h"

namespace reactor::client {

namespace {

// One client connection: connects, sends `request`, hands every arrival to `onData` (which
// returns true once the exchange is complete), and reports failures on stderr.
class Exchange final : public ConnectionHandler {
 public:
  using OnData = std::function<bool(Buffer& input)>;
  using OnDone = std::function<void(bool ok)>;

  Exchange(EventLoop& loop, const std::vector<SockAddr>& addresses, const Target& target,
           std::string request, OnData onData, OnDone onDone)
      : loop_(loop),
        addresses_(addresses),
        chunkBytes_(target.chunkBytes),
        delay_(target.delay),
        request_(std::move(request)),
        onData_(std::move(onData)),
        onDone_(std::move(onDone)),
        deadline_(Clock::now() +
                  std::chrono::milliseconds(static_cast<int64_t>(target.timeoutS * 1000))) {}
  ~Exchange() override {
    if (chunkTimer_ != 0) loop_.cancel(chunkTimer_);
    closeNow();
  }
  Exchange(const Exchange&) = delete;
  Exchange& operator=(const Exchange&) = delete;

  void start() { connectTo(0); }
  bool finished() const { return finished_; }
  /// The address connected to, or being tried.
  const SockAddr& address() const { return addresses_[index_]; }
  uint64_t bytesReceived() const { return conn_ != nullptr ? conn_->bytesIn() : 0; }
  /// Closes the connection if still open (pending deletion runs at the loop's next batch end).
  void closeNow() {
    if (conn_ != nullptr) conn_->close();
  }

  void onMessage(Connection& conn, Buffer& input) override {
    if (finished_) return;
    if (onData_(input)) {
      finished_ = true;
      conn.close();
      onDone_(true);
    }
  }
  void onClose(Connection& conn, CloseReason reason) override {
    conn_ = nullptr;
    if (chunkTimer_ != 0) {
      loop_.cancel(chunkTimer_);
      chunkTimer_ = 0;
    }
    if (finished_) return;
    finished_ = true;
    fmt::print(stderr,
               "reactor-client: connection to {} closed ({}) before the answer was "
               "complete ({} bytes received)\n",
               address().toString(), toString(reason), conn.bytesIn());
    onDone_(false);
  }
  void fail(const std::string& why) {
    if (finished_) return;
    finished_ = true;
    fmt::print(stderr, "reactor-client: {}\n", why);
    closeNow();
    onDone_(false);
  }

 private:
  // Every address the name resolved to is tried in turn until one connects, within the
  // one deadline.
  void connectTo(size_t index) {
    index_ = index;
    ConnectOptions options;
    options.timeout =
        std::max(std::chrono::milliseconds(1),
                 std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - Clock::now()));
    connector_ = std::make_unique<Connector>(
        loop_, addresses_[index], options,
        [this](UniqueFd fd, std::error_code error) { connected(std::move(fd), error); });
    connector_->start();
  }

  void connected(UniqueFd fd, std::error_code error) {
    if (error) {
      std::string why =
          fmt::format("cannot connect to {}: {}", address().toString(), error.message());
      if (index_ + 1 < addresses_.size() && Clock::now() < deadline_) {
        fmt::print(stderr, "reactor-client: {}; trying the next address\n", why);
        // The connector is inside its own callback: destroy it after the batch.
        Connector* finished = connector_.release();
        loop_.defer([finished] { delete finished; });
        connectTo(index_ + 1);
        return;
      }
      fail(why);
      return;
    }
    std::error_code e;
    conn_ = Connection::create(loop_, std::move(fd), this, &options_, e);
    if (conn_ == nullptr || e) {
      conn_ = nullptr;
      fail(fmt::format("cannot watch the connection to {}: {}", address().toString(), e.message()));
      return;
    }
    sendNextChunk();
  }

  // The whole request at once, or (--chunk) the next chunkBytes_ of it and a timer for the rest.
  void sendNextChunk() {
    chunkTimer_ = 0;
    if (conn_ == nullptr) return;
    const size_t n =
        chunkBytes_ == 0 ? request_.size() : std::min(chunkBytes_, request_.size() - sent_);
    const size_t offset = sent_;
    sent_ += n;
    if (!conn_->send(request_.data() + offset, n)) return;
    if (sent_ < request_.size()) chunkTimer_ = loop_.runAfter(delay_, [this] { sendNextChunk(); });
  }

  EventLoop& loop_;
  const std::vector<SockAddr>& addresses_;
  size_t index_ = 0;
  size_t chunkBytes_;
  std::chrono::milliseconds delay_;
  std::string request_;
  size_t sent_ = 0;  // bytes of request_ handed to the connection
  TimerId chunkTimer_ = 0;
  OnData onData_;
  OnDone onDone_;
  Clock::time_point deadline_;
  ConnectionOptions options_;
  std::unique_ptr<Connector> connector_;
  Connection* conn_ = nullptr;
  bool finished_ = false;
};

// Resolves the target and runs the loop with `exchanges` until all are done or the timeout.
class Run {
 public:
  explicit Run(const Target& target) : target_(target), loop_(createPoller("auto")) {}

  bool resolve() {
    try {
      addresses_ = SockAddr::resolve(target_.host, target_.port);
      if (addresses_.empty()) throw std::runtime_error(target_.host + ": no address");
      return true;
    } catch (const std::exception& e) {
      fmt::print(stderr, "reactor-client: {}\n", e.what());
      return false;
    }
  }

  Exchange& add(std::string request, Exchange::OnData onData) {
    exchanges_.push_back(std::make_unique<Exchange>(loop_, addresses_, target_, std::move(request),
                                                    std::move(onData), [this](bool ok) {
                                                      if (!ok) failed_ = true;
                                                      if (++done_ == exchanges_.size())
                                                        loop_.stop();
                                                    }));
    return *exchanges_.back();
  }

  /// Returns the exit status: 0 when every exchange completed. `expected` says, for a
  /// timeout, what a whole answer would have been.
  int run(const std::string& expected) {
    for (auto& e : exchanges_) e->start();
    auto limit = std::chrono::milliseconds(static_cast<int64_t>(target_.timeoutS * 1000));
    loop_.runAfter(limit, [this, expected] {
      for (auto& e : exchanges_) {
        if (e->finished()) continue;
        // A server of the other protocol waits for more (the app server reads "He" of "Hello"
        // as a header length of 18533) or answers with something never complete.
        e->fail(
            fmt::format("no complete answer from {} within {} s ({} byte(s) received, {}): "
                        "the server may speak another protocol",
                        e->address().toString(), target_.timeoutS, e->bytesReceived(), expected));
      }
    });
    loop_.run();
    if (!exchanges_.empty()) used_ = exchanges_.front()->address();
    for (auto& e : exchanges_) e->closeNow();
    exchanges_.clear();
    loop_.runOnce(0);  // runs the deferred deletion of the closed connections
    return failed_ ? 1 : 0;
  }

  /// After run(): the address the first exchange connected to (or tried last).
  const SockAddr& address() const { return used_; }
  /// The name's first address, before anything is tried.
  const SockAddr& firstAddress() const { return addresses_.front(); }

 private:
  Target target_;
  EventLoop loop_;
  std::vector<SockAddr> addresses_;
  SockAddr used_;
  std::vector<std::unique_ptr<Exchange>> exchanges_;
  size_t done_ = 0;
  bool failed_ = false;
};

// The echo of `sent` is complete once as many bytes came back; returns false while waiting.
bool takeEcho(Buffer& input, std::string& received, size_t expected) {
  size_t take = std::min(input.readableBytes(), expected - received.size());
  received.append(input.peek(), take);
  input.retrieve(take);
  return received.size() == expected;
}

// The tutorial client's create_request(): "search" is a text/json request; any other action
// sends the bytes of action + value as a binary request.
app::Message tutorialRequest(const std::string& action, const std::string& value) {
  if (action == "search") return app::makeRequest(action, value);
  app::Message m;
  m.contentType = "binary/custom-client-binary-type";
  m.contentEncoding = "binary";
  m.byteorder = "little";
  m.content = action + value;
  return m;
}

// What is wrong with an answer that decoded as an app message but is not what the app server
// sends ("" if nothing): a JSON answer carries "result" or "error", a binary one the server's
// content type. An echo server sends the request back, which decodes fine.
std::string answerProblem(const std::string& request, const app::Message& answer) {
  if (app::encode(answer) == request) {
    return "the answer is the request itself, sent back: the server may be an echo server "
           "(reactor-server --protocol echo), not an app server";
  }
  if (answer.contentType == "text/json") {
    const auto body = nlohmann::json::parse(answer.content, nullptr, false);
    if (body.is_object() && (body.contains("result") || body.contains("error"))) return {};
    return "a text/json answer without the \"result\" or \"error\" key: the server may speak "
           "another protocol";
  }
  if (answer.contentType == "binary/custom-server-binary-type") return {};
  return fmt::format(
      "content-type '{}', not the app server's "
      "binary/custom-server-binary-type: the server may speak another protocol",
      answer.contentType);
}

}  // namespace

int runEcho(const Target& target, const std::string& message) {
  Run run(target);
  if (!run.resolve()) return 1;
  std::string received;
  bool match = true;
  run.add(message, [&](Buffer& input) {
    if (!takeEcho(input, received, message.size())) return false;
    match = received == message;
    return true;
  });
  int status = run.run(fmt::format("an echo of {} bytes expected", message.size()));
  if (status != 0) return status;
  if (!match) {
    fmt::print(stderr, "reactor-client: the echo differs: sent '{}', received '{}'\n", message,
               received);
    return 1;
  }
  fmt::print("Received '{}'\n", received);
  return 0;
}

int runMultiEcho(const Target& target, int connections, const std::vector<std::string>& messages) {
  Run run(target);
  if (!run.resolve()) return 1;
  std::string all;
  for (const auto& m : messages) all += m;
  std::vector<std::string> received(static_cast<size_t>(connections));
  size_t verified = 0;
  for (int i = 0; i < connections; ++i) {
    int id = i + 1;
    fmt::print("Starting connection {} to {}\n", id, run.firstAddress().toString());
    for (const auto& m : messages) fmt::print("Sending '{}' to connection {}\n", m, id);
    std::string& got = received[static_cast<size_t>(i)];
    run.add(all, [&, id](Buffer& input) {
      if (!takeEcho(input, got, all.size())) return false;
      if (got == all) {
        ++verified;
        fmt::print("Received '{}' from connection {}\n", got, id);
      } else {
        fmt::print(stderr,
                   "reactor-client: connection {}: the echo differs: sent '{}', "
                   "received '{}'\n",
                   id, all, got);
      }
      fmt::print("Closing connection {}\n", id);
      return true;
    });
  }
  std::fflush(stdout);
  int status = run.run(fmt::format("an echo of {} bytes expected", all.size()));
  fmt::print("{} of {} connections echoed {} message(s) each ({} bytes per connection)\n", verified,
             connections, messages.size(), all.size());
  return status == 0 && verified == static_cast<size_t>(connections) ? 0 : 1;
}

int runApp(const Target& target, const std::string& action, const std::string& value) {
  Run run(target);
  if (!run.resolve()) return 1;
  app::Decoder decoder;
  app::Message answer;
  std::string problem;
  const std::string request = app::encode(tutorialRequest(action, value));
  run.add(request, [&](Buffer& input) {
    switch (decoder.decode(input, &answer)) {
      case app::DecodeStatus::kNeedMore:
        return false;
      case app::DecodeStatus::kMessage:
        return true;
      case app::DecodeStatus::kError:
        problem = decoder.error();
        return true;
    }
    return false;
  });
  int status = run.run("an app-protocol answer expected");
  if (status != 0) return status;
  if (problem.empty()) problem = answerProblem(request, answer);
  if (!problem.empty()) {
    fmt::print(stderr, "reactor-client: bad answer from {}: {}\n", run.address().toString(),
               problem);
    return 1;
  }
  fmt::print("{}\n", app::describeAnswer(answer));
  return 0;
}

}  // namespace reactor::client
