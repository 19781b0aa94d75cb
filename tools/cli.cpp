#include "cli.h"

#include <fmt/format.h>

#include <charconv>
#include <iostream>
#include <string>

#include "tools/version.h"

namespace reactor::tools {

const char* version() { return kReactorVersion; }

namespace {

std::string acceptedOptions(const CLI::App& app) {
  std::string names;
  for (const CLI::Option* option : app.get_options()) {
    if (option->get_positional()) continue;
    if (!names.empty()) names += ' ';
    names += option->get_name();
  }
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    names += ' ';
    names += sub->get_name();
  }
  return names;
}

std::string firstLine(std::string s) {
  auto nl = s.find('\n');
  if (nl != std::string::npos) s.resize(nl);
  return s;
}

}  // namespace

std::optional<int> parse(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
    return std::nullopt;
  } catch (const CLI::Success& e) {  // --help, --version
    return app.exit(e, std::cout, std::cout);
  } catch (const CLI::ParseError& e) {
    std::string what = firstLine(e.what());
    const CLI::App* where = &app;
    std::string command = app.get_name();
    for (const CLI::App* sub : app.get_subcommands()) {
      where = sub;
      command += " " + sub->get_name();
    }
    if (dynamic_cast<const CLI::ExtrasError*>(&e) != nullptr ||
        dynamic_cast<const CLI::RequiredError*>(&e) != nullptr) {
      what =
          fmt::format("{} (accepted: {}; see {} --help)", what, acceptedOptions(*where), command);
    } else if (dynamic_cast<const CLI::ArgumentMismatch*>(&e) != nullptr) {
      what = fmt::format("{} (see {} --help)", what, command);
    }
    std::cerr << app.get_name() << ": " << what << '\n';
    return 2;
  }
}

CLI::Validator integerIn(long long lo, long long hi) {
  return CLI::Validator(
      [lo, hi](std::string& value) -> std::string {
        long long v = 0;
        auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
        if (ec != std::errc() || end != value.data() + value.size() || v < lo || v > hi) {
          return fmt::format("'{}' is not an integer from {} to {}", value, lo, hi);
        }
        return {};
      },
      fmt::format("INT in [{} - {}]", lo, hi));
}

CLI::Validator numberIn(double lo, double hi) {
  return CLI::Validator(
      [lo, hi](std::string& value) -> std::string {
        double v = 0;
        std::size_t used = 0;
        try {
          v = std::stod(value, &used);
        } catch (const std::exception&) {
          used = 0;
        }
        if (used == 0 || used != value.size() || !(v >= lo && v <= hi)) {
          return fmt::format("'{}' is not a number from {} to {}", value, lo, hi);
        }
        return {};
      },
      fmt::format("NUMBER in [{} - {}]", lo, hi));
}

CLI::Validator oneOf(std::vector<std::string> words) {
  std::string list;
  for (const auto& w : words) list += (list.empty() ? "" : "|") + w;
  return CLI::Validator(
      [words, list](std::string& value) -> std::string {
        for (const auto& w : words) {
          if (value == w) return {};
        }
        return fmt::format("'{}' is not one of {}", value, list);
      },
      list);
}

}  // namespace reactor::tools
