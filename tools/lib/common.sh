# shellcheck shell=bash
# Shared by tools/run, tools/test and .ci/run: install what is missing, configure once, build.
# Sourced, not executed. Callers set -euo pipefail.

# shellcheck disable=SC2034  # used by the scripts that source this file
REACTOR_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

# What a Debian bookworm machine needs to build and test reactor.
REACTOR_PACKAGES=(meson ninja-build g++ pkg-config libfmt-dev nlohmann-json3-dev libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev)

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# ensure_packages PACKAGE...: installs those that dpkg does not list as installed. Touches apt
# only when something is missing, so a warm run costs one dpkg-query per package.
ensure_packages() {
  local missing=() pkg
  for pkg in "$@"; do
    if [ "$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null)" != installed ]; then
      missing+=("$pkg")
    fi
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null || die "missing packages (${missing[*]}) and no apt-get: install them by hand"
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "missing packages (${missing[*]}): run as root or install them"
    sudo=(sudo)
  fi
  log "installing ${missing[*]}"
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# configure_once DIR [meson setup args...]: sets DIR up unless it already is. A configured
# directory is left alone (ninja re-runs meson by itself when a meson.build changes).
configure_once() {
  local dir="$1"
  shift
  [ -f "$dir/build.ninja" ] && return 0
  local wipe=()
  [ -d "$dir/meson-private" ] && wipe=(--wipe)  # a half-done earlier setup
  log "configuring $dir"
  meson setup "${wipe[@]}" "$dir" "$@"
}

# build DIR [targets...]: at most one compile job per core (g++ on these headers is heavy).
build() {
  local dir="$1"
  shift
  ninja -C "$dir" -j "${REACTOR_JOBS:-$(nproc)}" "$@"
}
