#!/usr/bin/env bash
# Key-store load benchmark: what booting with a big key-share file costs. For each size,
# key-gen splits that many fresh 2-of-2 accounts (ECDSA secp256k1 with prime sets from a copy
# of the public test pool, or Ed25519) with --insecure-plaintext-out, then
# `crates/mpc/examples/load_keystore.rs` loads the service's plaintext file with
# `KeyStore::from_json` (as the enclave does after decrypting it) ROUNDS times.
#
#   scripts/bench-keystore.sh                 # ECDSA 1k, 10k, 100k and Ed25519 100k, 3 rounds
#   scripts/bench-keystore.sh --quick         # ECDSA and Ed25519 1k, 1 round (smoke run)
#   ECDSA_SIZES="100000" ED25519_SIZES="" ROUNDS=5 scripts/bench-keystore.sh
#   KEEP=/tmp/shares scripts/bench-keystore.sh   # keep the generated files (DIR/<scheme>-<n>/)
#
# Reports per size: key-gen's split time and total wall time, and the medians over the rounds
# of: load wall time, load CPU time (user + system), resident memory per account (VmRSS growth
# from before the file was read to after the store is built and the file's bytes dropped),
# peak VmRSS during the load (file bytes included) and the cost of assembling one ECDSA
# session's cggmp24 key share. Needs age-keygen and python3. TEST KEYS ONLY: plaintext shares
# are written to disk. Results go into docs/benchmarks.md by hand.
set -euo pipefail

cd "$(dirname "$0")/.."
ECDSA_SIZES=${ECDSA_SIZES-1000 10000 100000}
ED25519_SIZES=${ED25519_SIZES-100000}
ROUNDS=${ROUNDS:-3}
QUICK=0
if [[ "${1:-}" == "--quick" ]]; then
  QUICK=1; ECDSA_SIZES=1000; ED25519_SIZES=1000; ROUNDS=1
fi
for tool in age-keygen python3; do
  command -v "$tool" >/dev/null || { echo "bench-keystore: $tool is needed" >&2; exit 1; }
done

# shellcheck source=scripts/lib/build.sh
source scripts/lib/build.sh
PROFILE=release; (( QUICK )) && PROFILE=dev
build_bins "$PROFILE" -p sigil-key-gen --bin key-gen
build_bins "$PROFILE" -p sigil-mpc --example load_keystore
WORK=$(mktemp -d /tmp/sigil-bench-keystore.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
age-keygen -o "$WORK/service.key" 2>/dev/null
age-keygen -o "$WORK/party-1.key" 2>/dev/null
SERVICE=$(age-keygen -y "$WORK/service.key")
PARTY_1=$(age-keygen -y "$WORK/party-1.key")
RAW=$WORK/raw.jsonl

run() { # scheme n
  local scheme=$1 n=$2 dir pool=() split
  dir=${KEEP:+$KEEP/$scheme-$n}
  dir=${dir:-$WORK/$scheme-$n}
  mkdir -p "$(dirname "$dir")"
  seq -f "acct-%06g" 1 "$n" >"$WORK/accounts.txt"
  if [[ $scheme == ecdsa-secp256k1 ]]; then
    cp testdata/INSECURE-test-primes.json "$WORK/pool.json"
    pool=(--primes "$WORK/pool.json")
  fi
  echo "bench-keystore: key-gen split $n $scheme accounts (2-of-2)" >&2
  if ! "$BIN/key-gen" split --accounts-file "$WORK/accounts.txt" --scheme "$scheme" \
    --parties 2 --threshold 2 --pubkeys "$SERVICE" --party-pubkeys "1=$PARTY_1" \
    "${pool[@]}" --out-dir "$dir" --force --insecure-plaintext-out 2>"$WORK/key-gen.log"; then
    cat "$WORK/key-gen.log" >&2
    exit 1
  fi
  split=$(grep '^key-gen: split' "$WORK/key-gen.log")
  echo "{\"type\":\"split\",\"scheme\":\"$scheme\",\"n\":$n,\"line\":\"$split\"}" >>"$RAW"
  for ((r = 1; r <= ROUNDS; r++)); do
    "$BIN/examples/load_keystore" "$dir/service_key_shares.json" | sed "s/^{/{\"type\":\"load\",\"scheme\":\"$scheme\",\"n\":$n,/" >>"$RAW"
  done
  [[ -n ${KEEP:-} ]] || rm -rf "$dir"
}

for n in $ECDSA_SIZES; do run ecdsa-secp256k1 "$n"; done
for n in $ED25519_SIZES; do run ed25519 "$n"; done

python3 - "$RAW" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'PY'
import json, re, statistics, sys

rows = [json.loads(l) for l in open(sys.argv[1])]
print(f"machine: {sys.argv[2]} CPUs, load average {sys.argv[3]} at the end")
print()
print("| accounts | scheme | key-gen split / total | load (wall) | load (CPU) | RSS delta | bytes/account | peak RSS | ECDSA session share |")
print("|---|---|---|---|---|---|---|---|---|")
med = statistics.median

def peak(loads):
    kb = [r["peak_rss_kb"] for r in loads if r["peak_rss_kb"] is not None]
    return f"{med(kb) / 1024:.0f} MB" if kb else "—"

for s in [r for r in rows if r["type"] == "split"]:
    loads = [r for r in rows if r["type"] == "load" and r["scheme"] == s["scheme"] and r["n"] == s["n"]]
    m = re.search(r"split ([0-9.]+)s, total ([0-9.]+)s", s["line"])
    split = f"{m.group(1)} s / {m.group(2)} s" if m else "?"
    delta_mb = med([(r["rss_store_only_kb"] - r["rss_before_kb"]) / 1024 for r in loads])
    session = [r["ecdsa_session_share_us"] for r in loads if r["ecdsa_session_share_us"] is not None]
    print(f"| {s['n']:,} | {s['scheme']} | {split} | {med([r['load_ms'] for r in loads]) / 1000:.2f} s "
          f"| {med([r['load_cpu_ms'] for r in loads]) / 1000:.2f} s | {delta_mb:.1f} MB "
          f"| {med([r['bytes_per_account'] for r in loads]):,.0f} B | {peak(loads)} "
          f"| {(str(round(med(session))) + ' µs') if session else '—'} |")
PY
