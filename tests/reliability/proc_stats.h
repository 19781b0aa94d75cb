// What a child process holds, read from /proc (Linux): open descriptors and memory, so the
// tests can check that hostile clients leave nothing behind.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>

namespace reliability {

/// Whether /proc describes processes here (Linux); the tests that read it skip otherwise.
bool procAvailable();

/// Open descriptors of `pid` (entries of /proc/PID/fd); throws if it cannot be read.
size_t openFdCount(pid_t pid);

/// A "Name:  N kB" field of /proc/PID/status (VmRSS, VmData, ...) in KiB; throws if absent.
size_t statusKiB(pid_t pid, const std::string& field);

/// Polls `done` every 20 ms until it holds or `timeout` passes. Returns done().
bool eventually(const std::function<bool()>& done, std::chrono::milliseconds timeout);

}  // namespace reliability
