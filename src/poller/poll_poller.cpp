// TODO(poller helper): poll backend.
#include <stdexcept>

#include "poller/backends.h"

namespace reactor {
std::unique_ptr<Poller> makePollPoller() { throw std::runtime_error("poll backend: not written yet"); }
}  // namespace reactor
