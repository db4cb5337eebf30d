#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 60), on stable Rust: cargo-fuzz with
# `--sanitizer none` (libFuzzer's coverage guidance without AddressSanitizer, which needs
# nightly). Rust's own bounds checks still turn memory errors into crashes.
#
#   scripts/fuzz.sh          # 60 s per target
#   scripts/fuzz.sh 15       # what CI runs
#
# Seeds are in fuzz/seeds/<target>; new inputs go to fuzz/corpus/<target> (not committed);
# a crash leaves its input in fuzz/artifacts/<target>/ and fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-60}
if ! command -v cargo-fuzz >/dev/null; then
  echo "fuzz: installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked --quiet
fi
TARGETS=$(sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^sigil-fuzz$')
# Every target in one cargo run (one target dir, fuzz/target); `cargo fuzz run` then finds
# them built instead of building each in turn.
echo "fuzz: building the targets" >&2
cargo fuzz build --sanitizer none
for t in $TARGETS; do
  echo "fuzz: $t for ${SECS}s" >&2
  mkdir -p "fuzz/corpus/$t"
  log=$(mktemp)
  rc=0
  cargo fuzz run --sanitizer none "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
    -max_total_time="$SECS" -max_len=16384 -print_final_stats=1 >"$log" 2>&1 || rc=$?
  grep -E '^stat::number_of_executed_units' "$log" || true
  if ((rc)); then tail -60 "$log" >&2; rm -f "$log"; echo "fuzz: $t failed (exit $rc)" >&2; exit "$rc"; fi
  rm -f "$log"
done
echo "fuzz: all targets ran ${SECS}s without a crash"
