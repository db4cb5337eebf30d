#!/usr/bin/env bash
# What can be tested of the EIF build without Docker or Nitro (run by scripts/test.sh):
#  1. eif/Dockerfile parses (dockerfile-parse) and keeps its rules: every stage's base
#     pinned by digest or `scratch`, the final stage `scratch` with an exec-form ENTRYPOINT,
#     `cargo build --locked`, SOURCE_DATE_EPOCH passed in;
#  2. eif/record-pcrs.py turns a recorded `nitro-cli describe-eif` output into pcrs.json with
#     the right values, and refuses malformed input with a message naming the field;
#  3. eif/build.sh --dry-run prints the docker and nitro-cli commands, and a real run refuses
#     an unpinned base.
set -euo pipefail
cd "$(dirname "$0")/.."
FIXTURE=parent-agent/tests/fixtures/nitro-cli/describe-eif.stdout
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "eif/test.sh: FAIL: $*" >&2; exit 1; }

# 1. The Dockerfile.
python3 - <<'PY' || fail "Dockerfile rules"
from dockerfile_parse import DockerfileParser
import json, re
d = DockerfileParser(path="eif/Dockerfile")
froms = [s["value"] for s in d.structure if s["instruction"] == "FROM"]
assert len(froms) >= 2, f"not multi-stage: {froms}"
for f in froms:
    image = f.split()[0]
    assert image == "scratch" or "@" in image, f"base not pinned by digest: {f}"
assert froms[-1].split()[0] == "scratch", f"final stage is not scratch: {froms[-1]}"
last = max(i for i, s in enumerate(d.structure) if s["instruction"] == "FROM")
final = d.structure[last:]
entry = [s["value"] for s in final if s["instruction"] == "ENTRYPOINT"]
assert entry and json.loads(entry[0]) == ["/enclave-app"], f"ENTRYPOINT: {entry}"
assert not any(s["instruction"] == "RUN" for s in final), "the final stage runs commands (it has no shell)"
runs = " ".join(s["value"] for s in d.structure if s["instruction"] == "RUN")
assert "--locked" in runs and "-p enclave-app" in runs, runs
args = {s["value"].split("=")[0] for s in d.structure if s["instruction"] == "ARG"}
assert {"RUST_IMAGE", "RUST_DIGEST", "SOURCE_DATE_EPOCH"} <= args, args
PY

# 2. PCR extraction from a recorded describe-eif.
eif/record-pcrs.py "$FIXTURE" --revision 0123abc > "$T/pcrs.json"
python3 - "$T/pcrs.json" <<'PY' || fail "pcrs.json content"
import json, sys
p = json.load(open(sys.argv[1]))
assert p["pcr0"] == "49ac0d9697faa9721bdeedfcf359692b77e1987055d47242cfd731cbce1511bb717127ba3ec7615e0d13fccda20020d5", p
assert p["pcr1"].startswith("0343b056") and p["pcr2"].startswith("71fe86c3"), p
assert "pcr8" not in p and p["signed"] is False and p["hash_algorithm"] == "SHA384", p
assert p["source_revision"] == "0123abc" and p["build_tool_version"] == "1.4.2", p
PY
refuse() {  # refuse NAME JSON NEEDLE
  printf '%s' "$2" > "$T/$1.json"
  if out=$(eif/record-pcrs.py "$T/$1.json" 2>&1); then fail "$1 accepted"; fi
  [[ "$out" == *"$3"* ]] || fail "$1: '$out' does not mention '$3'"
}
refuse not-json '{"Measurements":' "$T/not-json.json"
refuse no-measurements '{"EifVersion":4}' "Measurements"
refuse short-pcr '{"Measurements":{"HashAlgorithm":"Sha384 { ... }","PCR0":"ab","PCR1":"ab","PCR2":"ab"}}' "PCR0 is not 96 hex"
refuse no-pcr2 "{\"Measurements\":{\"HashAlgorithm\":\"Sha384 { ... }\",\"PCR0\":\"$(printf 'a%.0s' {1..96})\",\"PCR1\":\"$(printf 'b%.0s' {1..96})\"}}" "PCR2 is missing"
refuse sha256 '{"Measurements":{"HashAlgorithm":"Sha256"}}' "expected Sha384"

# 3. The build script.
out=$(eif/build.sh --dry-run 2>/dev/null) || fail "--dry-run failed"
[[ "$out" == *"docker build --file eif/Dockerfile"* ]] || fail "dry run: no docker build: $out"
[[ "$out" == *"nitro-cli build-enclave --docker-uri sigil-enclave:"* ]] || fail "dry run: no build-enclave: $out"
[[ "$out" == *"record-pcrs.py"* ]] || fail "dry run: no PCR record: $out"
if grep -qE '^RUST_DIGEST=$' eif/bases.lock; then
  if err=$(eif/build.sh 2>&1); then fail "built with an unpinned base"; fi
  [[ "$err" == *"does not pin the build image by digest"* ]] || fail "unpinned base: $err"
fi
echo "eif/test.sh: ok"
