#include "cli.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <string>

#include "reactor/poller.h"
#include "tools/version.h"

namespace reactor::tools {

const char* version() { return kReactorVersion; }

namespace {

// The number at the front of text (digits, an optional fraction; no sign, no exponent) and the
// rest of it, the unit.
bool splitNumber(std::string_view text, double* number, std::string_view* unit) {
  if (text.empty() || !(std::isdigit(static_cast<unsigned char>(text[0])) || text[0] == '.')) {
    return false;
  }
  auto [end, ec] =
      std::from_chars(text.data(), text.data() + text.size(), *number, std::chars_format::fixed);
  if (ec != std::errc() || !std::isfinite(*number)) return false;
  *unit = text.substr(static_cast<size_t>(end - text.data()));
  return true;
}

std::string plain(double v) { return fmt::format("{}", v); }

// Levenshtein distance, for "did you mean".
size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// The known word nearest to `word`, if it is near enough to be a likely misspelling.
std::optional<std::string> nearest(std::string_view word, const std::vector<std::string>& known) {
  std::optional<std::string> best;
  size_t bestDistance = std::max<size_t>(2, word.size() / 3) + 1;
  for (const std::string& k : known) {
    size_t d = editDistance(word, k);
    if (d < bestDistance) {
      bestDistance = d;
      best = k;
    }
  }
  return best;
}

std::string join(const std::vector<std::string>& words, std::string_view separator) {
  std::string out;
  for (const auto& w : words) {
    if (!out.empty()) out += separator;
    out += w;
  }
  return out;
}

// The flags of `app` (long and short, "--name" and "-n").
std::vector<std::string> flagsOf(const CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::Option* option : app.get_options()) {
    if (option->get_positional()) continue;
    for (const auto& l : option->get_lnames()) names.push_back("--" + l);
    for (const auto& s : option->get_snames()) names.push_back("-" + s);
  }
  return names;
}

std::vector<std::string> subcommandsOf(const CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    names.push_back(sub->get_name());
  }
  return names;
}

bool looksLikeFlag(const std::string& arg) {
  if (arg.size() < 2 || arg[0] != '-') return false;
  double ignored = 0;
  std::string_view unit;
  return !splitNumber(std::string_view(arg).substr(1), &ignored, &unit);  // "-1" is a value
}

std::string firstLine(std::string s) {
  auto nl = s.find('\n');
  if (nl != std::string::npos) s.resize(nl);
  return s;
}

// The one line for the first word CLI11 could not place, or "" if there is none.
std::string explainExtras(CLI::App& app, const std::string& command) {
  std::vector<std::string> extras = app.remaining(true);
  if (extras.empty()) return {};
  std::vector<std::string> flags = flagsOf(app);
  std::vector<std::string> subcommands = subcommandsOf(app);
  for (const CLI::App* sub : app.get_subcommands()) {
    for (auto& f : flagsOf(*sub)) flags.push_back(f);
  }
  for (const std::string& extra : extras) {
    if (!looksLikeFlag(extra)) continue;
    std::string flag = extra.substr(0, extra.find('='));
    if (auto guess = nearest(flag, flags)) {
      return fmt::format("unknown flag '{}': did you mean {}? (see {} --help)", flag, *guess,
                         command);
    }
    return fmt::format("unknown flag '{}' (accepted: {}; see {} --help)", flag, join(flags, " "),
                       command);
  }
  const std::string& word = extras.front();
  if (!subcommands.empty() && app.get_subcommands().empty()) {
    std::string hint;
    if (auto guess = nearest(word, subcommands)) hint = fmt::format(": did you mean {}?", *guess);
    return fmt::format("unknown subcommand '{}'{} (accepted: {}; see {} --help)", word, hint,
                       join(subcommands, ", "), command);
  }
  return fmt::format("unexpected argument '{}' (see {} --help)", word, command);
}

std::string backendEnvironmentProblem() {
  const char* env = std::getenv("REACTOR_BACKEND");
  if (env == nullptr || *env == '\0') return {};
  std::vector<std::string> names;
  for (std::string_view b : availableBackends()) {
    if (b == env) return {};
    names.emplace_back(b);
  }
  return badValue("REACTOR_BACKEND", env, join(names, ", "));
}

}  // namespace

std::string invalidValue(std::string_view value, std::string_view accepted) {
  return fmt::format("invalid value '{}' (accepted: {})", value, accepted);
}

std::string badValue(std::string_view where, std::string_view value, std::string_view accepted) {
  return fmt::format("{}: {}", where, invalidValue(value, accepted));
}

std::optional<int> parse(CLI::App& app, int argc, char** argv) {
  app.allow_extras();
  std::string problem;
  std::string command = app.get_name();
  auto withSubcommands = [&app, &command] {
    for (const CLI::App* sub : app.get_subcommands()) command += " " + sub->get_name();
  };
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help, --version
    return app.exit(e, std::cout, std::cout);
  } catch (const CLI::ParseError& e) {
    problem = firstLine(e.what());
    withSubcommands();
    if (dynamic_cast<const CLI::RequiredError*>(&e) != nullptr && app.get_subcommands().empty() &&
        app.get_require_subcommand_min() > 0) {
      problem = fmt::format("a subcommand is required (accepted: {}; see {} --help)",
                            join(subcommandsOf(app), ", "), command);
    } else if (dynamic_cast<const CLI::RequiredError*>(&e) != nullptr ||
               dynamic_cast<const CLI::ArgumentMismatch*>(&e) != nullptr) {
      problem += fmt::format(" (see {} --help)", command);
    }
  }
  if (problem.empty()) withSubcommands();
  // A misspelled flag explains a missing value or subcommand better than the error it caused.
  if (std::string extra = explainExtras(app, command); !extra.empty()) problem = extra;
  if (problem.empty()) problem = backendEnvironmentProblem();
  if (problem.empty()) return std::nullopt;
  std::cerr << app.get_name() << ": " << problem << '\n';
  return 2;
}

std::optional<double> parseDuration(std::string_view text) {
  double n = 0;
  std::string_view unit;
  if (!splitNumber(text, &n, &unit)) return std::nullopt;
  if (unit.empty() || unit == "s") return n;
  if (unit == "ms") return n / 1e3;
  if (unit == "us") return n / 1e6;
  if (unit == "m") return n * 60;
  if (unit == "h") return n * 3600;
  return std::nullopt;
}

std::optional<uint64_t> parseSize(std::string_view text) {
  double n = 0;
  std::string_view unit;
  if (!splitNumber(text, &n, &unit)) return std::nullopt;
  double scale = 1;
  if (unit == "KiB") {
    scale = 1024.0;
  } else if (unit == "MiB") {
    scale = 1024.0 * 1024;
  } else if (unit == "GiB") {
    scale = 1024.0 * 1024 * 1024;
  } else if (!unit.empty() && unit != "B") {
    return std::nullopt;
  }
  double bytes = n * scale;
  if (bytes != std::floor(bytes) || bytes > 1e18) return std::nullopt;
  return static_cast<uint64_t>(bytes);
}

std::optional<double> parseCount(std::string_view text) {
  double n = 0;
  std::string_view unit;
  if (!splitNumber(text, &n, &unit)) return std::nullopt;
  if (unit.empty()) return n;
  if (unit == "k") return n * 1e3;
  if (unit == "M") return n * 1e6;
  return std::nullopt;
}

std::string formatLatency(double ns) {
  if (ns < 1e6) return fmt::format("{:.1f} us", ns / 1e3);
  if (ns < 1e9) return fmt::format("{:.2f} ms", ns / 1e6);
  return fmt::format("{:.2f} s", ns / 1e9);
}

namespace {

std::string seconds(double s) {
  if (s > 0 && s < 1) return fmt::format("{}ms", s * 1e3);
  return fmt::format("{}s", s);
}

std::string bytes(uint64_t n) {
  if (n >= (1ULL << 30) && n % (1ULL << 30) == 0) return fmt::format("{}GiB", n >> 30);
  if (n >= (1ULL << 20) && n % (1ULL << 20) == 0) return fmt::format("{}MiB", n >> 20);
  if (n >= (1ULL << 10) && n % (1ULL << 10) == 0) return fmt::format("{}KiB", n >> 10);
  return fmt::format("{}", n);
}

}  // namespace

CLI::Validator duration(double lo, double hi) {
  std::string accepted = fmt::format(
      "a duration from {} to {}: seconds, or a number with a unit as in 500ms, 10s, 2m, 1h",
      seconds(lo), seconds(hi));
  return CLI::Validator(
      [lo, hi, accepted](std::string& value) -> std::string {
        std::optional<double> s = parseDuration(value);
        if (!s || *s < lo || *s > hi) return invalidValue(value, accepted);
        value = plain(*s);
        return {};
      },
      "");
}

CLI::Validator wholeSeconds(long long lo, long long hi) {
  std::string accepted = fmt::format(
      "a whole number of seconds from {} to {}, plain or with a unit as in 10s, 2m, 1h", lo, hi);
  return CLI::Validator(
      [lo, hi, accepted](std::string& value) -> std::string {
        std::optional<double> s = parseDuration(value);
        if (!s || *s != std::floor(*s) || *s < static_cast<double>(lo) ||
            *s > static_cast<double>(hi)) {
          return invalidValue(value, accepted);
        }
        value = fmt::format("{}", static_cast<long long>(*s));
        return {};
      },
      "");
}

CLI::Validator size(uint64_t lo, uint64_t hi) {
  std::string accepted =
      fmt::format("a byte count from {} to {}, plain or with KiB, MiB, GiB", bytes(lo), bytes(hi));
  return CLI::Validator(
      [lo, hi, accepted](std::string& value) -> std::string {
        std::optional<uint64_t> n = parseSize(value);
        if (!n || *n < lo || *n > hi) return invalidValue(value, accepted);
        value = fmt::format("{}", *n);
        return {};
      },
      "");
}

CLI::Validator count(long long lo, long long hi) {
  std::string accepted =
      fmt::format("a whole number from {} to {}, plain or with k (1000) or M (1000000)", lo, hi);
  return CLI::Validator(
      [lo, hi, accepted](std::string& value) -> std::string {
        std::optional<double> n = parseCount(value);
        if (!n || *n != std::floor(*n) || *n < static_cast<double>(lo) ||
            *n > static_cast<double>(hi)) {
          return invalidValue(value, accepted);
        }
        value = fmt::format("{}", static_cast<long long>(*n));
        return {};
      },
      "");
}

CLI::Validator rate(double lo, double hi) {
  std::string accepted =
      fmt::format("a number from {} to {}, plain or with k (1000) or M (1000000)", lo, hi);
  return CLI::Validator(
      [lo, hi, accepted](std::string& value) -> std::string {
        std::optional<double> n = parseCount(value);
        if (!n || *n < lo || *n > hi) return invalidValue(value, accepted);
        value = plain(*n);
        return {};
      },
      "");
}

CLI::Validator integerIn(long long lo, long long hi) {
  std::string accepted = fmt::format("an integer from {} to {}", lo, hi);
  return CLI::Validator(
      [lo, hi, accepted](std::string& value) -> std::string {
        long long v = 0;
        auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
        if (ec != std::errc() || end != value.data() + value.size() || v < lo || v > hi) {
          return invalidValue(value, accepted);
        }
        return {};
      },
      "");
}

CLI::Validator oneOf(std::vector<std::string> words) {
  std::string list = join(words, "|");
  return CLI::Validator(
      [words, list](std::string& value) -> std::string {
        if (std::find(words.begin(), words.end(), value) != words.end()) return {};
        return invalidValue(value, list);
      },
      "");
}

CLI::Validator backend() {
  std::vector<std::string> names{"auto"};
  for (std::string_view b : availableBackends()) names.emplace_back(b);
  return oneOf(std::move(names));
}

std::string backendChoices() {
  std::string list = "auto";
  for (std::string_view b : availableBackends()) list += "|" + std::string(b);
  return list;
}

}  // namespace reactor::tools
