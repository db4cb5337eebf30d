#!/usr/bin/env bash
# Boot benchmark: enclave-app (release; PROFILE=dev for the dev profile) from spawn to the boot report and to grpc.health.v1
# SERVING, with its resident memory once serving and the share of each boot step, in
# simulation against kms-sim (testing/fake-parent: provisioning on vsock 7000, the KMS route
# through `parent-agent bridge`, a key policy bound to the binary's PCR0). The peer, on the
# same file in the same run, is what the old shell entrypoint did: `age -d -i IDENTITY
# service_key_shares.json.age` piped into `jq empty` (`python3 json.load` when jq is
# missing); the enclave also validates every share, so its decrypt and validate steps are
# reported apart.
#
#   scripts/bench-boot.sh            # 1k, 10k, 100k ECDSA (cggmp24); 1k, 100k DKLs23; 1k, 100k
#                                    # Ed25519 accounts; 3 runs
#   scripts/bench-boot.sh --quick    # smoke run: 1k of each scheme, 1 run (used by CI)
#   RUNS=5 scripts/bench-boot.sh     # more runs
#   CASES="ecdsa-secp256k1:1000 dkls23:100000 ed25519:100000" scripts/bench-boot.sh
#       # schemes: ecdsa-secp256k1 (cggmp24), dkls23 (ECDSA secp256k1 in one DKLs23 signer
#       # group: key-gen split --engine dkls23), ed25519
#   BOOTBENCH_RAW=/tmp/boot.jsonl scripts/bench-boot.sh   # keep the raw JSON lines
#   PROFILE=dev scripts/bench-boot.sh  # the dev-profile binaries (no release build)
#
# Share files (2-of-2, the enclave is party 0, made by the real key-gen binary) are kept in
# ${CARGO_TARGET_DIR:-target}/bench-boot/<scheme>-<accounts>/ with the identity they are
# encrypted to, and reused by later runs (100k ECDSA accounts take key-gen minutes).
# Results and the command go into docs/benchmarks.md by hand.
set -euo pipefail

cd "$(dirname "$0")/.."
QUICK=0
[[ "${1:-}" == "--quick" ]] && QUICK=1
RUNS=${RUNS:-3}
CASES=${CASES:-ecdsa-secp256k1:1000 ecdsa-secp256k1:10000 ecdsa-secp256k1:100000 dkls23:1000 dkls23:100000 ed25519:1000 ed25519:100000}
if (( QUICK )); then
  RUNS=1; CASES="ecdsa-secp256k1:1000 dkls23:1000 ed25519:1000"
fi

for tool in age age-keygen python3; do
  command -v "$tool" >/dev/null || { echo "bench-boot: $tool is needed" >&2; exit 1; }
done
TARGET=${CARGO_TARGET_DIR:-target}
# PROFILE=dev measures the dev-profile binaries (dependencies optimised, Sigil's own crates at
# opt-level 1): slower than release, for when a release build does not fit.
# shellcheck source=scripts/lib/build.sh
source scripts/lib/build.sh
PROFILE=${PROFILE:-release}; (( QUICK )) && PROFILE=dev
build_bins "$PROFILE" -p enclave-app -p kms-sim -p parent-agent -p sigil-key-gen -p sigil-bootbench
CACHE=$TARGET/bench-boot
mkdir -p "$CACHE"
WORK=$(mktemp -d /tmp/sigil-bench-boot.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
RAW=${BOOTBENCH_RAW:-$WORK/raw.jsonl}
: >"$RAW"

# The PCR0 the key policy binds is the measurement of the enclave-app just built.
for case in $CASES; do
  scheme=${case%%:*}; n=${case##*:}
  out=$WORK/$scheme-$n.jsonl
  baseline=()
  if (( n > 1000 )) && [[ -s $WORK/$scheme-1000.jsonl ]]; then
    baseline=(--baseline "$WORK/$scheme-1000.jsonl")
  fi
  echo "bench-boot: $n $scheme accounts, $RUNS run(s)" >&2
  "$BIN/bootbench" --accounts "$n" --scheme "$scheme" --runs "$RUNS" \
    --enclave-bin "$BIN/enclave-app" --key-gen-bin "$BIN/key-gen" \
    --cache "$CACHE/$scheme-$n" "${baseline[@]}" >"$out"
  cat "$out" >>"$RAW"
done

python3 - "$RAW" "$RUNS" <<'PY'
import json, sys

rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
sums = [r for r in rows if r["type"] == "summary"]
MiB = 1024 * 1024

def f(v, d=0):
    return "—" if v is None else f"{v:,.{d}f}"

parser = sums[0]["peer"]["command"].split("| ")[-1] if sums else "?"
print(f"Medians over {sys.argv[2]} run(s) per case. Peer: `age -d -i IDENTITY "
      f"service_key_shares.json.age | {parser}` on the same file.\n")
print("| accounts | scheme | share file, MiB | start → report, ms | start → SERVING, ms "
      "| enclave RSS serving / peak, MiB | RSS per account, B | Δ RSS per account vs 1k, B "
      "| peer age + parse, ms | peer peak RSS age + parse, MiB |")
print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for s in sums:
    d = s.get("rss_delta") or {}
    p = s["peer"]
    peer_rss = (f"{p['peak_rss_bytes_sum'] / MiB:,.1f} ({p['age_peak_rss_bytes'] / MiB:,.1f} "
                f"+ {p['parser_peak_rss_bytes'] / MiB:,.1f})"
                if p.get("peak_rss_bytes_sum") is not None else "not measured")
    print(f"| {s['accounts']:,} | {s['scheme']} | {s['share_file_bytes'] / MiB:,.1f} "
          f"| {f(s['start_to_report_ms'])} | {f(s['start_to_serving_ms'])} "
          f"| {s['rss_bytes'] / MiB:,.1f} / {s['peak_rss_bytes'] / MiB:,.1f} "
          f"| {f(s['rss_bytes_per_account'])} | {f(d.get('bytes_per_account'))} "
          f"| {f(p['elapsed_ms'])} | {peer_rss} |")

steps = []
for s in sums:
    for st in s["steps"]:
        if st["step"] not in steps:
            steps.append(st["step"])
print("\nBoot steps (from the boot report), median ms and share of start → SERVING:\n")
short = {st: st.split(" (")[0] for st in steps}
print("| accounts | scheme | " + " | ".join(short[st] for st in steps) + " |")
print("|---:|---|" + "---:|" * len(steps))
for s in sums:
    by = {st["step"]: st for st in s["steps"]}
    cells = [f"{by[st]['median_ms']:,.1f} ({by[st]['share'] * 100:.0f}%)" if st in by else "—"
             for st in steps]
    print(f"| {s['accounts']:,} | {s['scheme']} | " + " | ".join(cells) + " |")
other = [st for st in steps if st.startswith("other")]
if other:
    print(f"\n`other`: {other[0].split(' (', 1)[1].rstrip(')')} — wall time outside the "
          "reported steps.")
PY
if [[ -n "${BOOTBENCH_RAW:-}" ]]; then
  echo "bench-boot: raw results in $RAW" >&2
fi
