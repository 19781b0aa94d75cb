#include "reactor/fd.h"

#include <unistd.h>

namespace reactor {

void UniqueFd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

}  // namespace reactor
