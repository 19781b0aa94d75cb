// reactor-stress's settings, as parsed from the command line.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace reactor::stress {

struct Options {
  std::string host = "127.0.0.1";
  uint16_t port = 65432;
  int connections = 100;
  uint64_t messages = 100;  // per connection, unless duration > 0
  size_t size = 64;         // echo message bytes; binary request content in app mode
  double duration = 0;      // seconds of measured traffic; 0: send `messages` instead
  double rate = 0;          // total messages per second (open loop); 0: closed loop
  int pipeline = 1;         // messages in flight per connection
  std::string protocol = "echo";
  std::string backend = "auto";
  int threads = 1;
  bool json = false;
  double connectRate = 0;      // new connections per second; 0: as fast as possible
  int sourceAddresses = 0;     // bind connection i to 127.0.0.(1 + i % N); 0: don't bind
  double warmup = 0;           // seconds of uncounted traffic before measuring
  bool idle = false;           // open and hold connections, send nothing
  double timeout = 10;         // answer timeout: nothing moved this long with a message in flight
  double connectTimeout = 10;  // a connection not up this long after its start fails (main
                               // makes it the --timeout value unless given)
  std::vector<double> percentiles{50, 90, 99, 99.9};  // printed in the summary and the JSON
  bool latencySpectrum = false;                       // print the full percentile spectrum
  std::string histogramOut;  // write HdrHistogram's percentile distribution to this file

  bool app() const { return protocol == "app"; }
};

}  // namespace reactor::stress
