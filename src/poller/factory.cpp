// Backend choice: a compiled preference list (libevent's eventops[]) plus a name override.
#include <cstdlib>

#include "poller/backends.h"

namespace reactor {
namespace {

struct Backend {
  std::string_view name;
  std::unique_ptr<Poller> (*make)();
};

// Best first. The REACTOR_HAVE_* macros come from meson (config.h via compile args).
constexpr Backend kBackends[] = {
#ifdef REACTOR_HAVE_EPOLL
    {"epoll", makeEpollPoller},
#endif
#ifdef REACTOR_HAVE_KQUEUE
    {"kqueue", makeKqueuePoller},
#endif
#ifdef REACTOR_HAVE_POLL
    {"poll", makePollPoller},
#endif
#ifdef REACTOR_HAVE_SELECT
    {"select", makeSelectPoller},
#endif
};

std::string availableList() {
  std::string list;
  for (const Backend& b : kBackends) {
    if (!list.empty()) list += ", ";
    list += b.name;
  }
  return list;
}

}  // namespace

std::vector<std::string_view> availableBackends() {
  std::vector<std::string_view> names;
  for (const Backend& b : kBackends) names.push_back(b.name);
  return names;
}

std::unique_ptr<Poller> createPoller(std::string_view name) {
  if (name == "auto") {
    const char* env = std::getenv("REACTOR_BACKEND");
    if (env != nullptr && *env != '\0') {
      name = env;
    } else {
      static_assert(std::size(kBackends) > 0, "no poller backend enabled");
      return kBackends[0].make();
    }
  }
  for (const Backend& b : kBackends) {
    if (b.name == name) return b.make();
  }
  throw UnknownBackend("unknown backend '" + std::string(name) +
                       "' (available: " + availableList() + ")");
}

}  // namespace reactor
