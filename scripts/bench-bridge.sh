#!/usr/bin/env bash
# Bridge benchmark: parent-agent's `bridge` against socat doing the same TCP -> Unix
# bridge, alternating in one run on the same servers and client.
#
#   scripts/bench-bridge.sh            # full run (5 rounds; about 3 minutes on 2 cores)
#   scripts/bench-bridge.sh --quick    # smoke run (1 round, small sizes; used by CI)
#   ROUNDS=9 scripts/bench-bridge.sh   # more rounds
#
# Measures, per bridge: throughput of 1 GiB on one connection; request/response latency
# (p50/p99 over 10,000 round trips of 64 bytes); 100 concurrent streams (latency over
# 100 x 1,000 round trips, and 1 GiB spread over 100 connections); CPU seconds the bridge
# process used. Prints a Markdown table of medians over the rounds and the raw JSON path.
#
# With two or more CPUs, the load generator and the servers run on CPU 0 and the bridge
# under test on CPU 1 (taskset), so both bridges see the same placement; unpinned, the
# figures on a small VM swing by 2-4x with wherever the scheduler puts each process.
# Results and the command go into docs/benchmarks.md by hand.
set -euo pipefail

cd "$(dirname "$0")/.."
QUICK=0
[[ "${1:-}" == "--quick" ]] && QUICK=1
ROUNDS=${ROUNDS:-7}
BYTES=1G; RT=10000; CRT=1000; STREAMS=100
if (( QUICK )); then ROUNDS=1; BYTES=64M; RT=1000; CRT=100; fi

command -v socat >/dev/null || { echo "bench-bridge: socat is needed (apt-get install socat)" >&2; exit 1; }
# shellcheck source=scripts/lib/build.sh
source scripts/lib/build.sh
PROFILE=release; (( QUICK )) && PROFILE=dev
build_bins "$PROFILE" -p parent-agent -p sigil-netbench
WORK=$(mktemp -d /tmp/sigil-bench.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

LOAD=(); UNDER_TEST=()
if (( $(nproc) >= 2 )) && command -v taskset >/dev/null; then LOAD=(taskset -c 0); UNDER_TEST=(taskset -c 1); fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_listen() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 never opened" >&2; exit 1; }
cpu_ticks() { awk '{print $14+$15+$16+$17}' "/proc/$1/stat"; }

"${LOAD[@]}" "$BIN/netbench" serve --listen "unix://$WORK/sink.sock" --sink 2>/dev/null & PIDS+=($!)
"${LOAD[@]}" "$BIN/netbench" serve --listen "unix://$WORK/echo.sock" 2>/dev/null & PIDS+=($!)
sleep 0.3

declare -A SINK ECHO PID
start_bridge() { # name sink|echo port
  local name=$1 kind=$2 port=$3
  case $name in
    parent-agent) RUST_LOG=warn "${UNDER_TEST[@]}" "$BIN/parent-agent" bridge --listen "tcp://127.0.0.1:$port" --connect "unix://$WORK/$kind.sock" >/dev/null & ;;
    # backlog=1024: socat's default backlog of 5 resets connections when 100 arrive at once.
    socat) "${UNDER_TEST[@]}" socat "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork,backlog=1024" "UNIX-CONNECT:$WORK/$kind.sock" & ;;
  esac
  PIDS+=($!)
  PID[$name-$kind]=$!
  wait_listen "$port"
}
for b in parent-agent socat; do
  SINK[$b]=$(free_port); start_bridge "$b" sink "${SINK[$b]}"
  ECHO[$b]=$(free_port); start_bridge "$b" echo "${ECHO[$b]}"
done

RAW="$WORK/raw.jsonl"
run() { # bridge test pidkey cmd...
  local bridge=$1 test=$2 key=$3; shift 3
  local before after out
  before=$(cpu_ticks "${PID[$key]}")
  out=$("${LOAD[@]}" "$@")
  after=$(cpu_ticks "${PID[$key]}")
  python3 -c 'import json,sys; d=json.loads(sys.argv[1]); d.update(bridge=sys.argv[2], test=sys.argv[3], cpu_s=(int(sys.argv[5])-int(sys.argv[4]))/100); print(json.dumps(d))' \
    "$out" "$bridge" "$test" "$before" "$after" >>"$RAW"
}

for r in $(seq "$ROUNDS"); do
  order=(parent-agent socat); (( r % 2 == 0 )) && order=(socat parent-agent)
  echo "bench-bridge: round $r/$ROUNDS (${order[*]})" >&2
  for b in "${order[@]}"; do
    run "$b" throughput "$b-sink" "$BIN/netbench" throughput --connect "tcp://127.0.0.1:${SINK[$b]}" --bytes "$BYTES"
    run "$b" latency "$b-echo" "$BIN/netbench" latency --connect "tcp://127.0.0.1:${ECHO[$b]}" --round-trips "$RT"
    run "$b" concurrent_latency "$b-echo" "$BIN/netbench" latency --connect "tcp://127.0.0.1:${ECHO[$b]}" --round-trips "$CRT" --streams "$STREAMS" --warmup 20
    run "$b" concurrent_throughput "$b-sink" "$BIN/netbench" throughput --connect "tcp://127.0.0.1:${SINK[$b]}" --bytes "$BYTES" --streams "$STREAMS"
  done
done

PLACEMENT="unpinned"; ((${#LOAD[@]})) && PLACEMENT="load generator and servers on CPU 0, bridge on CPU 1"
python3 - "$RAW" "$ROUNDS" "$PLACEMENT" "$BYTES" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
med = lambda b, t, k: statistics.median(r[k] for r in rows if r["bridge"] == b and r["test"] == t)
bs = ["parent-agent", "socat"]
print(f"Medians over {sys.argv[2]} alternating round(s); {sys.argv[3]}.\n")
print("| figure | parent-agent | socat | parent-agent / socat |")
print("|---|---|---|---|")
def line(label, t, k, fmt="{:.0f}"):
    a, s = med(bs[0], t, k), med(bs[1], t, k)
    print(f"| {label} | {fmt.format(a)} | {fmt.format(s)} | {a / s:.2f}x |")
line("1 stream: throughput, MiB/s", "throughput", "mib_per_s")
line(f"1 stream: bridge CPU, s per {sys.argv[4]}iB", "throughput", "cpu_s", "{:.2f}")
line("1 stream: latency p50, us", "latency", "p50_us")
line("1 stream: latency p99, us", "latency", "p99_us")
line("100 streams: throughput, MiB/s", "concurrent_throughput", "mib_per_s")
line(f"100 streams: bridge CPU, s per {sys.argv[4]}iB", "concurrent_throughput", "cpu_s", "{:.2f}")
line("100 streams: latency p50, us", "concurrent_latency", "p50_us")
line("100 streams: latency p99, us", "concurrent_latency", "p99_us")
line("100 streams: round trips/s", "concurrent_latency", "round_trips_per_s")
PY
echo "bench-bridge: raw results in $RAW (removed on exit; copy it if needed)" >&2
