// Internal: the constructors of the backends this build compiled (see meson_options.txt).
#pragma once

#include <memory>

#include "reactor/poller.h"

namespace reactor {

std::unique_ptr<Poller> makeEpollPoller();
std::unique_ptr<Poller> makeKqueuePoller();
std::unique_ptr<Poller> makePollPoller();
std::unique_ptr<Poller> makeSelectPoller();

}  // namespace reactor
