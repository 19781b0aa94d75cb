#!/usr/bin/env bash
# Installs a configured build into a staging directory (meson install --destdir) and builds a small consumer against it
# three ways (meson dependency('reactor'), CMake pkg_check_modules, a plain g++ line with
# pkg-config), then runs each: start, echo one message, stop with SIGINT.
#   tests/install/check.sh [BUILD_DIR]        (default: build)
set -euo pipefail
# shellcheck source=../../tools/lib/common.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/../../tools/lib/common.sh"
cd "$REACTOR_ROOT"

builddir="${1:-build}"
[ -f "$builddir/build.ninja" ] || die "$builddir is not a configured build directory"
ensure_packages cmake pkg-config

work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill -KILL "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# quietly COMMAND...: its output only if it fails.
quietly() {
  "$@" >"$work/quiet.log" 2>&1 || { cat "$work/quiet.log" >&2; die "failed: $*"; }
}

stage="$work/stage"
build "$builddir"
log "meson install --destdir $stage"
meson install -C "$builddir" --no-rebuild --destdir "$stage" --quiet
pc="$(find "$stage" -name reactor.pc -print -quit)"
[ -n "$pc" ] || die "no reactor.pc installed"
prefix="$(sed -n 's/^prefix=//p' "$pc")"
# Point a copy of the installed .pc at the staging copy of the prefix (every other path in it is
# relative to ${prefix}), as if it had been installed there.
mkdir "$work/pkgconfig"
sed "s|^prefix=.*|prefix=$stage$prefix|" "$pc" >"$work/pkgconfig/reactor.pc"
export PKG_CONFIG_PATH="$work/pkgconfig"
for f in include/reactor/tcp_server.h bin/reactor-server bin/reactor-client bin/reactor-stress; do
  [ -e "$stage$prefix/$f" ] || die "not installed: $prefix/$f"
done
"$stage$prefix/bin/reactor-server" --version >/dev/null || die "installed reactor-server --version failed"
log "installed: $(pkg-config --modversion reactor), pkg-config --libs: $(pkg-config --libs reactor)"

log "consumer: meson"
quietly meson setup "$work/meson" tests/install
quietly ninja -C "$work/meson"
log "consumer: cmake"
quietly cmake -S tests/install -B "$work/cmake" -G Ninja
quietly ninja -C "$work/cmake"
log "consumer: g++ \$(pkg-config --cflags --libs reactor)"
# shellcheck disable=SC2046  # word splitting of the flags is intended
g++ -std=c++20 -Wall -Wextra -Werror -o "$work/echo-server-gxx" tests/install/echo_server.cpp \
  $(pkg-config --cflags --libs reactor)

# run_echo LABEL BINARY: start it, echo one message through it, stop it with SIGINT (exit 0).
run_echo() {
  local label="$1" bin="$2" out="$work/out" line="" port="" reply="" message="hello from the consumer"
  : >"$out"
  "$bin" >"$out" &
  server_pid=$!
  for _ in $(seq 50); do
    line="$(head -n 1 "$out")"
    [ -n "$line" ] && break
    sleep 0.1
  done
  [[ "$line" =~ ^listening\ on\ ([0-9]+) ]] || die "$bin: no listening line (got '$line')"
  port="${BASH_REMATCH[1]}"
  exec 3<>"/dev/tcp/127.0.0.1/$port"
  printf '%s' "$message" >&3
  IFS= read -r -t 5 -N "${#message}" reply <&3 || true
  exec 3>&-
  [ "$reply" = "$message" ] || die "$bin: echoed '$reply', expected '$message'"
  kill -INT "$server_pid"
  local status=0
  timeout 5 tail --pid="$server_pid" -f /dev/null || die "$bin: still running 5 s after SIGINT"
  wait "$server_pid" || status=$?
  server_pid=""
  [ "$status" -eq 0 ] || die "$bin: exit status $status after SIGINT"
  log "  $label: $line, echoed, stopped"
}

run_echo meson "$work/meson/echo-server"
run_echo cmake "$work/cmake/echo-server"
run_echo g++ "$work/echo-server-gxx"
log "install check passed"
