#!/usr/bin/env bash
# Generator speed: reactor-stress against ../shared/bench's independent pingpong generator,
# alternating runs against one reactor-server (server on CPU 0, generator on CPU 1).
#
#   tools/stress/compare-pingpong.sh BUILD_DIR [RUNS] [CONNS] [SIZE] [SECONDS] [DEPTH]
#   e.g. tools/stress/compare-pingpong.sh build-rel 3 100 16 5 1
set -euo pipefail

build="${1:?usage: $0 BUILD_DIR [RUNS] [CONNS] [SIZE] [SECONDS] [DEPTH]}"
runs="${2:-3}" conns="${3:-100}" size="${4:-16}" seconds="${5:-5}" depth="${6:-1}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
pingpong="$here/../../../shared/bench/bin/pingpong"
[[ -x "$pingpong" ]] || pingpong=/work/shared/bench/bin/pingpong
[[ -x "$pingpong" ]] || { echo "$0: build pingpong first (bash ../shared/bench/build.sh)" >&2; exit 1; }

out="$(mktemp)"
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; rm -f "$out"' EXIT
taskset -c 0 "$build/reactor-server" --port 0 --max-connections 20000 >"$out" 2>/dev/null &
server=$!
for _ in $(seq 50); do grep -q listening "$out" && break; sleep 0.1; done
port="$(sed -n 's/.*:\([0-9]*\) backend.*/\1/p' "$out")"

for i in $(seq "$runs"); do
  p="$(taskset -c 1 "$pingpong" 127.0.0.1 "$port" "$conns" "$size" "$seconds" 1 "$depth" |
    tr ' ' '\n' | grep -E '^(rt_per_s|errors|verify_failures)=' | tr '\n' ' ')"
  echo "pingpong run $i: $p"
  s="$(taskset -c 1 "$build/reactor-stress" --port "$port" --connections "$conns" --size "$size" \
    --duration "$seconds" --warmup 1 --pipeline "$depth" --json)"
  echo "stress   run $i: $(python3 -c 'import json,sys; j=json.load(sys.stdin)
print("msgs_per_s=%.0f errors=%d loop_busy=%s" % (j["msgs_per_s"], j["errors"], j["loop_busy"]))' <<<"$s")"
done
