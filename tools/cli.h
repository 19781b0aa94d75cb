// Command-line handling shared by reactor-client and reactor-stress, the contract's way:
// --help and --version on stdout with exit 0; any bad flag or value is one line on stderr that
// names the bad value and the accepted ones, exit 2.
#pragma once

#include <CLI/CLI.hpp>
#include <optional>

namespace reactor::tools {

/// The version of the project (meson's project version).
const char* version();

/// Parses argv. Returns std::nullopt to go on, or the exit status to return with (0 after
/// --help/--version, 2 after an error, which it printed).
std::optional<int> parse(CLI::App& app, int argc, char** argv);

/// A validator for an integer in [lo, hi] whose error message names the accepted range.
CLI::Validator integerIn(long long lo, long long hi);
/// A validator for a number in [lo, hi].
CLI::Validator numberIn(double lo, double hi);
/// A validator for one of the given words.
CLI::Validator oneOf(std::vector<std::string> words);

}  // namespace reactor::tools
