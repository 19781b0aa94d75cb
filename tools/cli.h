// Command-line handling shared by reactor-server, reactor-client and reactor-stress, the
// contract's way: --help and --version on stdout with exit 0; any bad flag or value is one line
// on stderr, exit 2. Every bad value is worded the same way, naming the flag (or environment
// variable), the value and what is accepted:
//
//   PROGRAM: --duration: invalid value '2x' (accepted: a duration ...)
//
// Values: a duration is seconds, or a number with a unit (500ms, 10s, 2m, 1h); a byte count may
// carry KiB, MiB or GiB; a count or a rate may carry k (1000) or M (1000000).
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace reactor::tools {

/// The version of the project (meson's project version).
const char* version();

/// Parses argv. Returns std::nullopt to go on, or the exit status to return with (0 after
/// --help/--version, 2 after an error, which it printed). Unknown flags get the nearest known
/// one suggested, an unknown word where a subcommand belongs is named, and REACTOR_BACKEND (what
/// the "auto" backend means) must name a backend of this build. Calls app.allow_extras(): the
/// extras are reported here, never left to the caller.
std::optional<int> parse(CLI::App& app, int argc, char** argv);

/// The one wording of a bad value: "invalid value 'VALUE' (accepted: ACCEPTED)", which CLI11
/// prefixes with the flag; badValue() prefixes it with WHERE (a flag or variable) and ": ".
std::string invalidValue(std::string_view value, std::string_view accepted);
std::string badValue(std::string_view where, std::string_view value, std::string_view accepted);

/// Seconds, from "1.5", "500ms", "10s", "2m", "1h" (also "us"); nullopt if it is none of them.
std::optional<double> parseDuration(std::string_view text);
/// Bytes, from "4096", "64KiB", "1MiB", "2GiB" (a fraction that makes whole bytes, "1.5KiB").
std::optional<uint64_t> parseSize(std::string_view text);
/// A number, from "250", "0.5", "10k", "1.5M".
std::optional<double> parseCount(std::string_view text);

/// "1.50 ms", "250 us", "2.00 s": the unit that fits the value (nanoseconds in).
std::string formatLatency(double ns);

// Validators for CLI::Option::transform(): they check the text and rewrite it to the plain
// number CLI11 then stores in the option's variable; their errors are badValue()'s.

/// A duration from lo to hi seconds, stored as seconds (a double).
CLI::Validator duration(double lo, double hi);
/// A duration of whole seconds from lo to hi (for settings kept in whole seconds).
CLI::Validator wholeSeconds(long long lo, long long hi);
/// A byte count from lo to hi, stored as an integer.
CLI::Validator size(uint64_t lo, uint64_t hi);
/// A whole count from lo to hi (k and M allowed), stored as an integer.
CLI::Validator count(long long lo, long long hi);
/// A number from lo to hi (k and M allowed), stored as a double.
CLI::Validator rate(double lo, double hi);
/// A plain integer from lo to hi (ports, thread counts).
CLI::Validator integerIn(long long lo, long long hi);
/// One of the given words.
CLI::Validator oneOf(std::vector<std::string> words);
/// "auto" or one of the backends this build has (reactor::availableBackends()).
CLI::Validator backend();
/// "auto|epoll|poll|select": what backend() accepts, for help texts.
std::string backendChoices();

}  // namespace reactor::tools
