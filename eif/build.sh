#!/usr/bin/env bash
# Builds the enclave image and its EIF, and records the EIF's measurements.
#
#   eif/build.sh                      # docker build, nitro-cli build-enclave, eif/pcrs.json
#   eif/build.sh --output /tmp/x.eif  # the EIF elsewhere (default eif/sigil.eif)
#   eif/build.sh --dry-run            # print the commands, run nothing
#
# Needs Docker (BuildKit) and nitro-cli (the aws-nitro-enclaves-cli package) on an x86_64
# host; refuses to build until eif/bases.lock pins the base image by digest. Reproducibility:
# eif/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=eif/sigil.eif
DRY=0
while (($#)); do
  case "$1" in
    --output) OUT=${2:?--output needs a path}; shift 2 ;;
    --dry-run) DRY=1; shift ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "eif/build.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

# shellcheck source=/dev/null
source eif/bases.lock
if [[ -z "${RUST_IMAGE:-}" || ! "${RUST_DIGEST:-}" =~ ^sha256:[0-9a-f]{64}$ ]]; then
  echo "eif/build.sh: eif/bases.lock does not pin the build image by digest (RUST_DIGEST=sha256:…); see the file's header" >&2
  ((DRY)) || exit 1
  RUST_DIGEST=${RUST_DIGEST:-sha256:UNPINNED}
fi
REV=$(git rev-parse HEAD 2>/dev/null || echo unknown)
if [[ -n "$(git status --porcelain 2>/dev/null)" ]]; then
  echo "eif/build.sh: the work tree has uncommitted changes; the EIF will not match revision $REV" >&2
fi
SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || echo 0)
TAG="sigil-enclave:${REV:0:12}"

run() {
  printf '+'; printf ' %q' "$@"; printf '\n'
  ((DRY)) || "$@"
}
if ! ((DRY)); then
  for tool in docker nitro-cli python3; do
    command -v "$tool" >/dev/null || { echo "eif/build.sh: $tool is needed" >&2; exit 1; }
  done
fi
run env DOCKER_BUILDKIT=1 SOURCE_DATE_EPOCH="$SOURCE_DATE_EPOCH" docker build \
  --file eif/Dockerfile \
  --build-arg RUST_IMAGE="$RUST_IMAGE" --build-arg RUST_DIGEST="$RUST_DIGEST" \
  --build-arg SOURCE_DATE_EPOCH="$SOURCE_DATE_EPOCH" \
  --tag "$TAG" .
run nitro-cli build-enclave --docker-uri "$TAG" --output-file "$OUT" --name sigil --version "${REV:0:12}"
if ((DRY)); then
  echo "+ nitro-cli describe-eif --eif-path $OUT > eif/describe-eif.json"
  echo "+ eif/record-pcrs.py eif/describe-eif.json --revision $REV > eif/pcrs.json"
  exit 0
fi
nitro-cli describe-eif --eif-path "$OUT" > eif/describe-eif.json
eif/record-pcrs.py eif/describe-eif.json --revision "$REV" > eif/pcrs.json.tmp
mv eif/pcrs.json.tmp eif/pcrs.json
echo "eif/build.sh: $OUT; measurements in eif/pcrs.json:" >&2
cat eif/pcrs.json
