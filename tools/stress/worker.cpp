#include "worker.h"

#include <fmt/format.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "reactor/connector.h"
#include "reactor/io.h"

namespace reactor::stress {

namespace {

constexpr size_t kMaxConnecting = 256;  // connects in progress per worker (SYN backlog)
constexpr uint64_t kNever = UINT64_MAX;
constexpr size_t kScratchBytes = 64 * 1024;
constexpr int kDetailsPerKind = 3;
constexpr int64_t kTickNs = 1'000'000;  // the open loop's and the connect ramp's timer

int64_t threadCpuNs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// `connecting`: the error ended a connect (its ETIMEDOUT is a connect timeout).
ErrorKind kindOfErrno(int err, bool connecting) {
  switch (err) {
    case ECONNREFUSED:
      return ErrorKind::kRefused;
    case ECONNRESET:
    case EPIPE:
      return ErrorKind::kReset;
    case ETIMEDOUT:
      return connecting ? ErrorKind::kConnectTimeout : ErrorKind::kAnswerTimeout;
    default:
      return ErrorKind::kOther;
  }
}

const char* resetHint(int err) {
  return err == EPIPE || err == ECONNRESET ? " (the server closed the connection early)" : "";
}

}  // namespace

const char* toString(ErrorKind kind) {
  static constexpr const char* kNames[kErrorKinds] = {
      "refused", "reset", "closed", "connect_timeout", "answer_timeout", "verify", "other"};
  return kNames[static_cast<int>(kind)];
}

std::string label(ErrorKind kind) {
  std::string name = toString(kind);
  std::replace(name.begin(), name.end(), '_', ' ');
  return name;
}

uint64_t Counters::errorTotal() const {
  uint64_t total = 0;
  for (const auto& e : errors) total += e.load(std::memory_order_relaxed);
  return total;
}

void Rendezvous::arrive(int Rendezvous::*counter) {
  std::lock_guard lock(mutex);
  ++(this->*counter);
  changed.notify_all();
}

int64_t nowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

// One connection of the generator. Its stream is the concatenation of messages 0, 1, 2, ...;
// send and receive positions walk it independently, so every byte that comes back is checked
// against the byte sent at that position.
class Worker::Conn final : public IoHandler {
 public:
  enum State : uint8_t { kNew, kConnecting, kUp, kDone, kDead };

  Conn(Worker& worker, uint32_t id, int64_t* ring) : w_(worker), id_(id), ring_(ring) {}

  void connect(const std::optional<SockAddr>& source, int64_t deadlineNs);
  void connectNext();
  void up(UniqueFd fd);
  void pump(int64_t now);
  void fail(ErrorKind kind, std::string detail);
  void markDone();
  void closeQuietly();
  void checkTimeout(int64_t now, int64_t limitNs);
  void handleEvent(const Event& event) override;

  State state() const { return state_; }
  bool drained() const { return recvSeq_ == sendSeq_ && !begun_; }
  void setSlot(uint32_t slot) { slot_ = slot; }
  void addScheduled() { ++scheduled_; }

 private:
  std::string_view message(uint64_t seq) const {
    if (w_.plan_.app != nullptr) return w_.plan_.app->pick(id_, seq).request;
    return {w_.plan_.echo->message(id_, seq), w_.plan_.echo->size()};
  }
  bool counted(uint64_t seq) const { return firstCounted_ != kNever && seq >= firstCounted_; }
  bool quotaDone() const {
    return w_.opt_.duration <= 0 && firstCounted_ != kNever &&
           recvSeq_ - firstCounted_ >= w_.opt_.messages;
  }
  bool mayStart(int64_t now) const;
  void beginMessage(int64_t now);
  void setWantWrite(bool want);
  void onReadable(int64_t now);
  void verifyEcho(const char* p, size_t n, int64_t now);
  void verifyApp(const char* p, size_t n, int64_t now);
  void complete(int64_t now, size_t bytes);
  void afterProgress(int64_t now);

  Worker& w_;
  uint32_t id_;
  State state_ = kNew;
  bool wantWrite_ = false;
  bool begun_ = false;  // message sendSeq_ is started (its start time is in the ring)
  uint32_t slot_ = 0;
  int64_t* ring_;
  uint64_t sendSeq_ = 0;
  uint64_t recvSeq_ = 0;
  uint64_t firstCounted_ = kNever;
  uint64_t scheduled_ = 0;  // open loop: messages whose time has come
  size_t sendPos_ = 0;
  size_t recvPos_ = 0;
  int64_t lastProgressNs_ = 0;
  int64_t upNs_ = 0;        // when the connection was made
  int64_t waitedNs_ = 0;    // from then until traffic started (the others connecting)
  int64_t deadlineNs_ = 0;  // connecting: give up then
  size_t address_ = 0;      // connecting: the index in plan_.targets being tried
  std::optional<SockAddr> source_;
  UniqueFd fd_;
  std::unique_ptr<Connector> connector_;
  std::unique_ptr<AppAnswerReader> reader_;
};

void Worker::Conn::connect(const std::optional<SockAddr>& source, int64_t deadlineNs) {
  state_ = kConnecting;
  source_ = source;
  deadlineNs_ = deadlineNs;
  address_ = 0;
  connectNext();
}

// Tries plan_.targets[address_]; on failure the next one, while the deadline allows.
void Worker::Conn::connectNext() {
  const SockAddr& target = w_.plan_.targets[address_];
  ConnectOptions options;
  options.timeout =
      std::chrono::milliseconds(std::max<int64_t>(1, (deadlineNs_ - nowNs()) / 1'000'000));
  options.source = source_;
  connector_ = std::make_unique<Connector>(
      w_.loop_, target, options, [this, target](UniqueFd fd, std::error_code error) {
        // The connector is inside its own callback: destroy it after the batch.
        Connector* finished = connector_.release();
        w_.loop_.defer([finished] { delete finished; });
        if (!error) {
          up(std::move(fd));
          return;
        }
        if (address_ + 1 < w_.plan_.targets.size() && nowNs() < deadlineNs_) {
          ++address_;
          connectNext();
          return;
        }
        std::string from;
        if (w_.opt_.sourceAddresses > 0) {
          from = " from 127.0.0." + std::to_string(1 + id_ % w_.opt_.sourceAddresses);
        }
        state_ = kDead;
        w_.onConnectFailed(*this, error.value());
        w_.recordError(
            kindOfErrno(error.value(), true),
            fmt::format("cannot connect to {}{}: {}", target.toString(), from, error.message()));
      });
  connector_->start();
}

void Worker::Conn::up(UniqueFd fd) {
  fd_ = std::move(fd);
  upNs_ = nowNs();
  if (auto error = w_.loop_.add(fd_.get(), Interest::kReadable, this)) {
    fd_.reset();
    state_ = kDead;
    w_.onConnectFailed(*this, error.value());
    w_.recordError(ErrorKind::kOther,
                   fmt::format("connection {}: cannot watch the socket: {}", id_, error.message()));
    return;
  }
  state_ = kUp;
  if (w_.opt_.app()) reader_ = std::make_unique<AppAnswerReader>();
  w_.onConnected(*this);
}

bool Worker::Conn::mayStart(int64_t now) const {
  const Options& o = w_.opt_;
  if (state_ != kUp || !w_.trafficOn_ || w_.stopping_ || o.idle) return false;
  if (sendSeq_ - recvSeq_ >= static_cast<uint64_t>(o.pipeline)) return false;
  if (o.rate > 0 && sendSeq_ >= scheduled_) return false;
  if (w_.plan_.endNs != 0 && now >= w_.plan_.endNs) return false;
  if (o.duration <= 0 && firstCounted_ != kNever && sendSeq_ - firstCounted_ >= o.messages) {
    return false;
  }
  return true;
}

void Worker::Conn::beginMessage(int64_t now) {
  int64_t start = now;
  int64_t countFrom = now;
  if (w_.opt_.rate > 0) {
    // Latency counts from the scheduled time (coordinated omission), or from the actual send
    // when the tick sent it a little early.
    double slot = static_cast<double>(sendSeq_) * static_cast<double>(w_.active_.size()) + slot_;
    auto scheduled = w_.plan_.startNs + static_cast<int64_t>(slot * w_.intervalNs_);
    start = std::min(start, scheduled);
    countFrom = scheduled;
  }
  if (firstCounted_ == kNever && countFrom >= w_.plan_.measureNs) firstCounted_ = sendSeq_;
  // The wait for the first answer includes the time this connection waited for the others
  // to connect, so that the run stays bounded by --connect-timeout and --timeout together
  // rather than by their sum (a server with a full backlog: some connect, some time out).
  if (sendSeq_ == 0) {
    // Not the --connect-rate ramp, though: that wait was asked for.
    waitedNs_ = std::max<int64_t>(0, w_.plan_.startNs - std::max(upNs_, w_.rampEndNs()));
    lastProgressNs_ = now - waitedNs_;
  } else if (drained()) {
    lastProgressNs_ = now;
  }
  ring_[sendSeq_ % static_cast<uint64_t>(w_.opt_.pipeline)] = start;
  begun_ = true;
}

void Worker::Conn::setWantWrite(bool want) {
  if (want == wantWrite_) return;
  if (auto error = w_.loop_.modify(fd_.get(), want ? Interest::kBoth : Interest::kReadable, this)) {
    fail(ErrorKind::kOther, fmt::format("connection {}: poller modify: {}", id_, error.message()));
    return;
  }
  wantWrite_ = want;
}

// One write per message, straight from the precomputed payload.
void Worker::Conn::pump(int64_t now) {
  for (;;) {
    if (!begun_) {
      if (!mayStart(now)) break;
      beginMessage(now);
    }
    std::string_view m = message(sendSeq_);
    ssize_t n = io::write(fd_.get(), m.data() + sendPos_, m.size() - sendPos_);
    if (n < 0) {
      if (errno == EINTR) continue;  // interrupted before anything was written: retry
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        setWantWrite(true);
        return;
      }
      int err = errno;
      fail(kindOfErrno(err, false),
           fmt::format("connection {}: write: {}{}", id_, std::strerror(err), resetHint(err)));
      return;
    }
    sendPos_ += static_cast<size_t>(n);
    // Until the first answer begins, the wait for the others to connect still counts.
    lastProgressNs_ = recvSeq_ == 0 && recvPos_ == 0 ? now - waitedNs_ : now;
    if (sendPos_ < m.size()) {
      setWantWrite(true);  // the kernel took part of it: the rest when writable
      return;
    }
    if (counted(sendSeq_)) {
      Counters::add(w_.counters_.sent, 1);
      Counters::add(w_.counters_.bytesSent, m.size());
    }
    ++sendSeq_;
    sendPos_ = 0;
    begun_ = false;
  }
  setWantWrite(false);
}

void Worker::Conn::handleEvent(const Event& event) {
  int64_t now = nowNs();
  if (event.readable() || event.hangup() || event.error()) {
    onReadable(now);
    if (state_ != kUp) return;
  }
  if (event.writable()) pump(now);
}

// One read per readiness into the worker's scratch buffer, checked in place.
void Worker::Conn::onReadable(int64_t now) {
  ssize_t n = io::read(fd_.get(), w_.scratch_.data(), w_.scratch_.size());
  if (n == 0) {
    if (state_ == kDone) {
      closeQuietly();
      return;
    }
    std::string what;
    if (w_.opt_.idle) {
      what = "while idle";
    } else if (!w_.trafficOn_) {
      what = "right after connecting (is it over its connection limit?)";
    } else {
      what = fmt::format("early, with {} message(s) unanswered after {} answered",
                         sendSeq_ - recvSeq_ + (begun_ ? 1 : 0), recvSeq_);
    }
    fail(ErrorKind::kClosed,
         fmt::format("connection {}: the server closed the connection {}", id_, what));
    return;
  }
  if (n < 0) {
    // EAGAIN: another event of the batch (or a spurious wakeup) got there first. EINTR: the
    // level-triggered poller reports the socket again.
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
    int err = errno;
    fail(kindOfErrno(err, false),
         fmt::format("connection {}: read: {}{}", id_, std::strerror(err), resetHint(err)));
    return;
  }
  lastProgressNs_ = now;
  if (state_ != kUp || w_.opt_.idle) {
    fail(ErrorKind::kVerify, fmt::format("connection {}: {} unexpected byte(s) from the server "
                                         "(nothing was in flight)",
                                         id_, n));
    return;
  }
  if (reader_) {
    verifyApp(w_.scratch_.data(), static_cast<size_t>(n), now);
  } else {
    verifyEcho(w_.scratch_.data(), static_cast<size_t>(n), now);
  }
  if (state_ == kUp) afterProgress(now);
}

void Worker::Conn::verifyEcho(const char* p, size_t n, int64_t now) {
  const size_t size = w_.plan_.echo->size();
  while (n > 0) {
    size_t limit = recvSeq_ < sendSeq_ ? size - recvPos_ : (begun_ ? sendPos_ - recvPos_ : 0);
    if (limit == 0) {
      fail(ErrorKind::kVerify,
           fmt::format("connection {}: the server sent {} more byte(s) than were sent to it "
                       "(at stream offset {})",
                       id_, n, recvSeq_ * size + recvPos_));
      return;
    }
    size_t take = std::min(n, limit);
    const char* expected = message(recvSeq_).data() + recvPos_;
    if (std::memcmp(p, expected, take) != 0) {
      size_t i = 0;
      while (p[i] == expected[i]) ++i;
      fail(ErrorKind::kVerify,
           fmt::format("connection {}: echo mismatch at byte offset {} (message {}, byte {}): "
                       "expected 0x{:02x}, actual 0x{:02x}",
                       id_, recvSeq_ * size + recvPos_ + i, recvSeq_, recvPos_ + i,
                       static_cast<unsigned char>(expected[i]), static_cast<unsigned char>(p[i])));
      return;
    }
    recvPos_ += take;
    p += take;
    n -= take;
    if (recvPos_ == size) complete(now, size);
  }
}

void Worker::Conn::verifyApp(const char* p, size_t n, int64_t now) {
  reader_->feed(p, n);
  AppAnswerReader::Answer answer;
  std::string problem;
  for (;;) {
    auto status = reader_->next(&answer, &problem);
    if (status == AppAnswerReader::Status::kNeedMore) return;
    if (status == AppAnswerReader::Status::kMessage && recvSeq_ >= sendSeq_) {
      problem = "an answer arrived before its request was fully sent";
    }
    if (status == AppAnswerReader::Status::kMessage && problem.empty()) {
      problem = checkAppAnswer(w_.plan_.app->pick(id_, recvSeq_), answer);
    }
    if (!problem.empty()) {
      fail(ErrorKind::kVerify, fmt::format("connection {}: answer {} ({}): {}", id_, recvSeq_,
                                           w_.plan_.app->pick(id_, recvSeq_).describe, problem));
      return;
    }
    complete(now, answer.wireBytes);
  }
}

void Worker::Conn::complete(int64_t now, size_t bytes) {
  if (counted(recvSeq_)) {
    int64_t start = ring_[recvSeq_ % static_cast<uint64_t>(w_.opt_.pipeline)];
    w_.histogram_.record(static_cast<uint64_t>(std::max<int64_t>(0, now - start)));
    Counters::add(w_.counters_.verified, 1);
    Counters::add(w_.counters_.bytesReceived, bytes);
  }
  ++recvSeq_;
  recvPos_ = 0;
}

void Worker::Conn::afterProgress(int64_t now) {
  if ((quotaDone() || w_.stopping_) && drained()) {
    markDone();
    return;
  }
  pump(now);
}

void Worker::Conn::markDone() {
  if (state_ != kUp) return;
  state_ = kDone;
  --w_.upConns_;
  w_.maybeFinish();
}

void Worker::Conn::fail(ErrorKind kind, std::string detail) {
  if (state_ == kDead) return;
  bool wasUp = state_ == kUp;
  state_ = kDead;
  w_.recordError(kind, std::move(detail));
  closeQuietly();
  if (wasUp) {
    --w_.upConns_;
    w_.maybeFinish();
  }
}

void Worker::Conn::closeQuietly() {
  if (!fd_) return;
  w_.loop_.remove(fd_.get());
  fd_.reset();
}

void Worker::Conn::checkTimeout(int64_t now, int64_t limitNs) {
  if (state_ != kUp || drained() || now - lastProgressNs_ < limitNs) return;
  size_t expectedBytes = message(recvSeq_).size();
  fail(ErrorKind::kAnswerTimeout,
       fmt::format("connection {}: nothing moved for {:.1f} s with {} message(s) in flight "
                   "({} of {} bytes of answer {} received)",
                   id_, static_cast<double>(now - lastProgressNs_) / 1e9,
                   sendSeq_ - recvSeq_ + (begun_ ? 1 : 0), reader_ ? 0 : recvPos_,
                   reader_ ? 0 : expectedBytes, recvSeq_));
}

Worker::Worker(const Plan& plan, Rendezvous& rendezvous, std::vector<uint32_t> ids,
               std::unique_ptr<Poller> poller)
    : plan_(plan),
      opt_(*plan.options),
      rendezvous_(rendezvous),
      ids_(std::move(ids)),
      loop_(std::move(poller)),
      backendName_(loop_.poller().name()),
      ring_(ids_.size() * static_cast<size_t>(opt_.pipeline)),
      scratch_(kScratchBytes) {
  conns_.reserve(ids_.size());
  for (size_t i = 0; i < ids_.size(); ++i) {
    conns_.push_back(std::make_unique<Conn>(*this, ids_[i],
                                            ring_.data() + i * static_cast<size_t>(opt_.pipeline)));
  }
  active_.reserve(ids_.size());
  for (int i = 0; i < opt_.sourceAddresses; ++i) {
    sources_.push_back(SockAddr::parse("127.0.0." + std::to_string(1 + i), 0));
  }
}

Worker::~Worker() {
  if (thread_.joinable()) finish();
}

void Worker::start() {
  loop_.post([this] {
    connectStartNs_ = nowNs();
    openMore();
    if (opt_.connectRate > 0 && nextToOpen_ < conns_.size()) {
      rampTimer_ = loop_.runEvery(std::chrono::milliseconds(1), [this] { openMore(); });
    }
    settleIfDone();
  });
  thread_ = std::thread([this] { loop_.run(); });
}

void Worker::openMore() {
  size_t allowed = conns_.size();
  if (opt_.connectRate > 0) {
    double share = opt_.connectRate * static_cast<double>(conns_.size()) / opt_.connections;
    double elapsed = static_cast<double>(nowNs() - connectStartNs_) / 1e9;
    allowed = std::min(allowed, static_cast<size_t>(elapsed * share) + 1);
  }
  if (stopping_) {
    // Interrupted: what was never opened counts as settled, not as failed.
    settledConns_ += conns_.size() - nextToOpen_;
    nextToOpen_ = conns_.size();
  }
  while (nextToOpen_ < allowed && connecting_ < kMaxConnecting) {
    Conn& c = *conns_[nextToOpen_++];
    ++connecting_;
    std::optional<SockAddr> source;
    if (opt_.sourceAddresses > 0) {
      source = sources_[ids_[nextToOpen_ - 1] % static_cast<uint32_t>(opt_.sourceAddresses)];
    }
    // Every connect must be done within --connect-timeout of its scheduled start, however many
    // wait their turn behind kMaxConnecting: the connect phase stays bounded.
    double scheduledS = scheduledStartS(nextToOpen_ - 1);
    c.connect(source,
              connectStartNs_ + static_cast<int64_t>((scheduledS + opt_.connectTimeout) * 1e9));
  }
  if (nextToOpen_ == conns_.size() && rampTimer_ != 0) {
    loop_.cancel(rampTimer_);
    rampTimer_ = 0;
  }
}

double Worker::scheduledStartS(size_t index) const {
  if (opt_.connectRate <= 0) return 0;
  return static_cast<double>(index) * opt_.connections / opt_.connectRate /
         static_cast<double>(conns_.size());
}

int64_t Worker::rampEndNs() const {
  return connectStartNs_ + static_cast<int64_t>(scheduledStartS(conns_.size() - 1) * 1e9);
}

void Worker::onConnected(Conn& c) {
  --connecting_;
  ++settledConns_;
  ++upConns_;
  c.setSlot(static_cast<uint32_t>(active_.size()));
  active_.push_back(&c);
  Counters::add(counters_.connected, 1);
  openMore();
  settleIfDone();
}

void Worker::onConnectFailed(Conn& /*c*/, int /*err*/) {
  --connecting_;
  ++settledConns_;
  openMore();
  settleIfDone();
}

void Worker::settleIfDone() {
  if (settled_ || settledConns_ < conns_.size()) return;
  settled_ = true;
  rendezvous_.arrive(&Rendezvous::settled);
}

void Worker::startTraffic() {
  loop_.post([this] { beginTraffic(); });
}

void Worker::stopSending() {
  loop_.post([this] { beginStop(); });
}

void Worker::beginTraffic() {
  trafficOn_ = true;
  wallStartNs_ = nowNs();
  cpuStartNs_ = threadCpuNs();
  if (opt_.idle) return;  // held until stopSending()
  int64_t now = nowNs();
  auto timeoutNs = static_cast<int64_t>(opt_.timeout * 1e9);
  auto checkEvery = std::clamp<int64_t>(timeoutNs / 4 / 1'000'000, 10, 250);
  timeoutTimer_ = loop_.runEvery(std::chrono::milliseconds(checkEvery), [this, timeoutNs] {
    int64_t t = nowNs();
    for (Conn* c : active_) c->checkTimeout(t, timeoutNs);
  });
  if (plan_.endNs != 0) {
    auto delayMs = std::max<int64_t>(0, (plan_.endNs - now + 999'999) / 1'000'000);
    loop_.runAfter(std::chrono::milliseconds(delayMs), [this] { beginStop(); });
  }
  if (opt_.rate > 0 && !active_.empty()) {
    double share = opt_.rate * static_cast<double>(conns_.size()) / opt_.connections;
    intervalNs_ = 1e9 / share;
    tickTimer_ = loop_.runEvery(std::chrono::milliseconds(1), [this] { tick(); });
    tick();
  }
  for (Conn* c : active_) {
    if (c->state() == Conn::kUp) c->pump(now);
  }
  if (stopping_) beginStop();
  maybeFinish();
}

// Open loop: gives each connection, round robin, the messages whose scheduled time falls before
// the next tick; a connection sends them as soon as its pipeline has room.
void Worker::tick() {
  if (stopping_) return;
  int64_t now = nowNs();
  double horizon = static_cast<double>(now + kTickNs - plan_.startNs) / intervalNs_;
  if (horizon < 0) return;
  auto due = static_cast<uint64_t>(horizon) + 1;
  size_t n = active_.size();
  while (nextSlot_ < due) {
    Conn* c = active_[nextSlot_ % n];
    ++nextSlot_;
    if (c->state() != Conn::kUp) continue;
    c->addScheduled();
    c->pump(now);
  }
}

void Worker::beginStop() {
  stopping_ = true;
  if (!trafficOn_) {
    openMore();
    settleIfDone();
    return;
  }
  if (tickTimer_ != 0) {
    loop_.cancel(tickTimer_);
    tickTimer_ = 0;
  }
  for (Conn* c : active_) {
    if (c->state() == Conn::kUp && (opt_.idle || c->drained())) c->markDone();
  }
  maybeFinish();
}

void Worker::maybeFinish() {
  if (!trafficOn_ || finishedTraffic_ || upConns_ > 0) return;
  if (opt_.idle && !stopping_) return;
  finishedTraffic_ = true;
  finishedNs_ = nowNs();
  auto wall = static_cast<double>(finishedNs_ - wallStartNs_);
  busy_ = wall > 0 ? static_cast<double>(threadCpuNs() - cpuStartNs_) / wall : 0;
  if (timeoutTimer_ != 0) {
    loop_.cancel(timeoutTimer_);
    timeoutTimer_ = 0;
  }
  rendezvous_.arrive(&Rendezvous::finished);
}

void Worker::recordError(ErrorKind kind, std::string detail) {
  auto k = static_cast<int>(kind);
  Counters::add(counters_.errors[k], 1);
  if (detailsOfKind_[k] < kDetailsPerKind) {
    ++detailsOfKind_[k];
    details_.push_back(std::move(detail));
  }
}

void Worker::finish() {
  loop_.post([this] {
    for (auto& c : conns_) c->closeQuietly();
    loop_.stop();
  });
  thread_.join();
}

}  // namespace reactor::stress
