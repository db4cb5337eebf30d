#!/usr/bin/env bash
# sigil-fetch-bundle.sh — parent-agent.service's ExecStartPre: fetches the boot bundle's three
# ciphertext files into the service's tmpfs runtime directory, where parent-agent serves them
# to the enclave (vsock 7000). It only ever handles ciphertext: the age identity is KMS
# ciphertext that only the attested enclave can unwrap, and the shares and TLS bundle are age
# files encrypted to that identity. A file that looks like plaintext is refused.
#
# Usage: sigil-fetch-bundle.sh [--dry-run] [--source URL] [--dest DIR]
#
#   --source URL  where the files are (default: $SIGIL_BUNDLE_SOURCE):
#                   s3://BUCKET/PREFIX   aws s3 cp s3://BUCKET/PREFIX/<file>
#                   ssm:/PATH            aws ssm get-parameter --with-decryption --name /PATH/<file>,
#                                        the value being the file in base64 (SSM's 8 KB limit
#                                        fits the identity and a few accounts' shares only)
#                   file:///DIR          a local directory (tests, air-gapped hosts)
#   --dest DIR    where to put them (default: $SIGIL_BUNDLE_DIR, else $RUNTIME_DIRECTORY/bundle,
#                 i.e. /run/sigil/bundle under systemd)
#   --dry-run     print what would be fetched and where; touch nothing, call nothing
#
# Files: age-private.key.enc, service_key_shares.json.age, service_tls.json.age — all three
# required. The destination ends up holding exactly those three, mode 0600, in a 0700
# directory; they are fetched into a staging directory first, so a failed fetch never
# leaves a partial bundle behind. Exit status: 0 on success, 1 on a fetch or check failure,
# 2 on a usage error.
set -euo pipefail
umask 077

FILES=(age-private.key.enc service_key_shares.json.age service_tls.json.age)
# parent-agent refuses a bundle larger than this (sigil_provisioning::MAX_BUNDLE_BYTES).
MAX_BYTES=$((512 * 1024 * 1024))

prog=${0##*/}
die() { echo "$prog: $*" >&2; exit 1; }
usage() { echo "usage: $prog [--dry-run] [--source s3://…|ssm:/…|file:///…] [--dest DIR]" >&2; exit 2; }

dry_run=0
source_url=${SIGIL_BUNDLE_SOURCE:-}
dest=${SIGIL_BUNDLE_DIR:-}
while (($#)); do
  case $1 in
    --dry-run) dry_run=1 ;;
    --source) (($# >= 2)) || usage; source_url=$2; shift ;;
    --source=*) source_url=${1#*=} ;;
    --dest) (($# >= 2)) || usage; dest=$2; shift ;;
    --dest=*) dest=${1#*=} ;;
    -h|--help) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "$prog: unknown argument: $1" >&2; usage ;;
  esac
  shift
done

[[ -n $source_url ]] || die "no bundle source: set SIGIL_BUNDLE_SOURCE (e.g. in /etc/sigil/bundle.env) or pass --source"
if [[ -z $dest ]]; then
  [[ -n ${RUNTIME_DIRECTORY:-} ]] || die "no destination: pass --dest, set SIGIL_BUNDLE_DIR, or run under systemd (RuntimeDirectory=sigil)"
  # RUNTIME_DIRECTORY may list several directories (colon-separated); the first is ours.
  dest=${RUNTIME_DIRECTORY%%:*}/bundle
fi
[[ $dest == /* ]] || die "the destination must be an absolute path: $dest"

case $source_url in
  s3://?*) kind="s3"; base=${source_url%/} ;;
  ssm:/?*) kind="ssm"; base=${source_url#ssm:}; base=${base%/} ;;
  file:///*) kind="file"; base=${source_url#file://}; base=${base%/} ;;
  *) die "unsupported bundle source '$source_url' (s3://BUCKET/PREFIX, ssm:/PATH or file:///DIR)" ;;
esac

where() { # the location of one file at the source
  case $kind in
    s3|file) echo "$base/$1" ;;
    ssm) echo "ssm parameter $base/$1" ;;
  esac
}

if ((dry_run)); then
  echo "$prog: dry run: would fetch into $dest (directory 0700, files 0600):"
  for f in "${FILES[@]}"; do
    echo "  $(where "$f") -> $dest/$f"
  done
  exit 0
fi

case $kind in
  s3|ssm) command -v aws >/dev/null || die "the aws CLI is needed for $kind:// sources and is not on PATH" ;;
esac
[[ $kind != ssm ]] || command -v base64 >/dev/null || die "base64 (coreutils) is needed for ssm sources"

parent=$(dirname -- "$dest")
mkdir -p -- "$parent"
staging=$(mktemp -d -- "$parent/.bundle.XXXXXX")
cleanup() { rm -rf -- "$staging" "${old:-}"; }
trap cleanup EXIT
chmod 0700 -- "$staging"

fetch() { # fetch one file to $2
  local name=$1 out=$2
  case $kind in
    file)
      [[ -f $base/$name ]] || die "missing required file: $base/$name"
      cp -- "$base/$name" "$out"
      ;;
    s3)
      aws s3 cp --only-show-errors -- "$base/$name" "$out" \
        || die "could not fetch $base/$name (aws s3 cp failed; see above)"
      ;;
    ssm)
      aws ssm get-parameter --with-decryption --name "$base/$name" \
        --query Parameter.Value --output text | base64 -d > "$out" \
        || die "could not fetch ssm parameter $base/$name (see above)"
      ;;
  esac
}

check() { # refuse empty, oversized or plaintext-looking files
  local name=$1 path=$2 size head
  size=$(stat -c %s -- "$path")
  ((size > 0)) || die "$(where "$name") is empty"
  ((size <= MAX_BYTES)) || die "$(where "$name") is $size bytes; parent-agent serves at most $MAX_BYTES"
  head=$(head -c 64 -- "$path" | tr -d '\0')
  case $name in
    *.age)
      [[ $head == age-encryption.org/v1* || $head == "-----BEGIN AGE ENCRYPTED FILE-----"* ]] \
        || die "$(where "$name") is not an age file (no age header); refusing it"
      ;;
    *.enc)
      [[ $head != AGE-SECRET-KEY-* && $head != "# created:"* && $head != "# public key:"* ]] \
        || die "$(where "$name") is a plaintext age identity, not KMS ciphertext; refusing it"
      ;;
  esac
}

total=0
for f in "${FILES[@]}"; do
  fetch "$f" "$staging/$f"
  chmod 0600 -- "$staging/$f"
  check "$f" "$staging/$f"
  total=$((total + $(stat -c %s -- "$staging/$f")))
done
((total <= MAX_BYTES)) || die "the bundle totals $total bytes; parent-agent serves at most $MAX_BYTES"

# Swap the staging directory in; nothing else stays in the destination.
old=
if [[ -e $dest ]]; then
  old=$(mktemp -d -- "$parent/.bundle-old.XXXXXX")
  mv -- "$dest" "$old/"
fi
mv -- "$staging" "$dest"
chmod 0700 -- "$dest"
echo "$prog: fetched ${#FILES[@]} ciphertext files ($total bytes) from $source_url into $dest"
