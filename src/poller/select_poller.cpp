// TODO(poller helper): select backend.
#include <stdexcept>

#include "poller/backends.h"

namespace reactor {
std::unique_ptr<Poller> makeSelectPoller() { throw std::runtime_error("select backend: not written yet"); }
}  // namespace reactor
