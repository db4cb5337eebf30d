#!/usr/bin/env bash
# Sigil's operator runbooks as one script (docs/operations.md explains when to run which).
#
#   scripts/runbook.sh init            --key-id K --store DEST --accounts-file F [--parties N --threshold T]
#                                      [--party-pubkeys P=AGE ...]   (the other parties' age recipients)
#   scripts/runbook.sh eif-upgrade     --key-id K --old-pcrs OLD.json [--build | --new-pcrs NEW.json] --phase allow-both|finish ROLES
#                                      (--build: eif/build.sh first, then its eif/pcrs.json is the new one)
#   scripts/runbook.sh rotate-identity --key-id K --store DEST --old-identity FILE [--restart-command CMD]
#   scripts/runbook.sh rotate-cmk      --key-id K [--now]
#   scripts/runbook.sh emergency       --key-id K [--restart-command CMD]
#
# Common options:
#   --dry-run             print every command that would change something, change nothing
#   --yes                 do not ask before destructive steps
#   --endpoint-url URL    a KMS endpoint other than AWS's (kms-sim in tests)
#   --store DEST          where the boot bundle's ciphertexts live: s3://BUCKET/PREFIX, or a
#                         local directory (tests; a staging copy before an upload)
#   --encryption-context K=V   (default purpose=sigil-age-identity)
#   ROLES = --account-id ID --admin-role-arn ARN --enclave-role-arn ARN
#
# Plaintext secrets (the age identity, decrypted shares) exist only in a private directory
# on a tmpfs (/dev/shm when present), are never written to the store, and are shredded on
# exit, whatever happens. The AWS CLI's credentials come from its usual environment.
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "runbook: $*" >&2; exit 1; }
say() { printf '\n== %s\n' "$*" >&2; }
usage() { sed -n '2,24p' "$0"; exit "${1:-0}"; }

CMD=${1:-}; [[ -n "$CMD" ]] || usage 2
shift
DRY=0 YES=0 ENDPOINT='' STORE='' KEY='' CONTEXT=purpose=sigil-age-identity ACCOUNTS='' OLD_IDENTITY=''
OLD_PCRS='' NEW_PCRS='' PHASE='' ACCOUNT_ID='' ADMIN_ROLE='' ENCLAVE_ROLE='' RESTART_CMD=''
PARTY_PUBKEYS=() PARTIES=2 THRESHOLD=2 NOW=0 BUILD=0
while (($#)); do
  case "$1" in
    --dry-run) DRY=1; shift ;;
    --yes) YES=1; shift ;;
    --endpoint-url) ENDPOINT=${2:?}; shift 2 ;;
    --store) STORE=${2:?}; shift 2 ;;
    --key-id) KEY=${2:?}; shift 2 ;;
    --encryption-context) CONTEXT=${2:?}; shift 2 ;;
    --accounts-file) ACCOUNTS=${2:?}; shift 2 ;;
    --party-pubkeys) PARTY_PUBKEYS+=("--party-pubkeys" "${2:?}"); shift 2 ;;
    --parties) PARTIES=${2:?}; shift 2 ;;
    --threshold) THRESHOLD=${2:?}; shift 2 ;;
    --now) NOW=1; shift ;;
    --build) BUILD=1; shift ;;
    --old-identity) OLD_IDENTITY=${2:?}; shift 2 ;;
    --old-pcrs) OLD_PCRS=${2:?}; shift 2 ;;
    --new-pcrs) NEW_PCRS=${2:?}; shift 2 ;;
    --phase) PHASE=${2:?}; shift 2 ;;
    --account-id) ACCOUNT_ID=${2:?}; shift 2 ;;
    --admin-role-arn) ADMIN_ROLE=${2:?}; shift 2 ;;
    --enclave-role-arn) ENCLAVE_ROLE=${2:?}; shift 2 ;;
    --restart-command) RESTART_CMD=${2:?}; shift 2 ;;
    -h|--help) usage ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done
[[ -n "$KEY" ]] || die "--key-id is required"
command -v aws >/dev/null || die "the aws CLI is needed"

BIN=${CARGO_TARGET_DIR:-$PWD/target}/debug
KEYGEN=${SIGIL_KEY_GEN:-$BIN/key-gen}
SECRETS=$(mktemp -d "$( [[ -d /dev/shm && -w /dev/shm ]] && echo /dev/shm || echo "${TMPDIR:-/tmp}")/sigil-runbook.XXXXXX")
chmod 700 "$SECRETS"
shred_all() { find "$SECRETS" -type f -exec shred -u {} + 2>/dev/null || true; rm -rf "$SECRETS"; }
trap shred_all EXIT

# Changes something: printed always, run unless --dry-run.
run() { { printf '+'; printf ' %q' "$@"; printf '\n'; } >&2; ((DRY)) || "$@"; }
confirm() {
  ((YES || DRY)) && return 0
  [[ -t 0 ]] || die "$1: refusing without a terminal; pass --yes"
  read -r -p "$1 Type 'yes' to go on: " a
  [[ "$a" == yes ]] || die "stopped at: $1"
}
kms() { aws ${ENDPOINT:+--endpoint-url "$ENDPOINT"} --output json kms "$@"; }
# The bundle store: S3 or a local directory.
put() {  # put FILE NAME
  case "$STORE" in
    s3://*) run aws s3 cp --only-show-errors --sse aws:kms "$1" "${STORE%/}/$2" ;;
    "") die "--store is required" ;;
    *) run mkdir -p "$STORE"; run install -m 0600 "$1" "$STORE/$2" ;;
  esac
}
get() {  # get NAME FILE
  case "$STORE" in
    s3://*) aws s3 cp --only-show-errors "${STORE%/}/$1" "$2" ;;
    "") die "--store is required" ;;
    *) cp "$STORE/$1" "$2" ;;
  esac
}
wrap_identity() {  # wrap_identity IDENTITY_FILE OUT: KMS-encrypt the identity with the context
  run kms encrypt --key-id "$KEY" --plaintext "fileb://$1" --encryption-context "$CONTEXT" \
    --query CiphertextBlob --output text > "$2.b64"
  ((DRY)) && { : > "$2"; return; }
  base64 -d "$2.b64" > "$2"; rm -f "$2.b64"
  [[ -s "$2" ]] || die "KMS Encrypt returned nothing"
}
roles() {
  [[ -n "$ACCOUNT_ID" && -n "$ADMIN_ROLE" && -n "$ENCLAVE_ROLE" ]] \
    || die "--account-id, --admin-role-arn and --enclave-role-arn are required"
}

case "$CMD" in
init)
  [[ -n "$ACCOUNTS" ]] || die "--accounts-file is required"
  command -v age-keygen >/dev/null || die "age-keygen is needed"
  say "1/4 a new age identity, in $SECRETS (tmpfs, shredded on exit)"
  age-keygen -o "$SECRETS/identity.key" 2>/dev/null
  RECIPIENT=$(age-keygen -y "$SECRETS/identity.key")
  echo "recipient: $RECIPIENT" >&2
  say "2/4 KMS-encrypt the identity under $KEY ($CONTEXT)"
  OUT=$(mktemp -d)
  wrap_identity "$SECRETS/identity.key" "$OUT/age-private.key.enc"
  say "3/4 the key-gen ceremony: shares encrypted to the recipient (and the other parties')"
  run "$KEYGEN" split --parties "$PARTIES" --threshold "$THRESHOLD" --accounts-file "$ACCOUNTS" --pubkeys "$RECIPIENT" "${PARTY_PUBKEYS[@]}" \
    ${SIGIL_PRIMES:+--primes "$SIGIL_PRIMES"} --out-dir "$OUT/shares"
  say "4/4 upload the ciphertexts, shred the plaintext identity"
  put "$OUT/age-private.key.enc" age-private.key.enc
  ((DRY)) || put "$OUT/shares/service_key_shares.json.age" service_key_shares.json.age
  shred -u "$SECRETS/identity.key"
  echo "init: done. The other parties' share files and summary.json are in $OUT/shares; hand them over, then delete them." >&2
  echo "$OUT"
  ;;
eif-upgrade)
  roles
  if ((BUILD)); then
    say "0/2 build the new EIF and record its measurements"
    if ((DRY)); then eif/build.sh --dry-run >&2; else eif/build.sh >&2; fi
    NEW_PCRS=${NEW_PCRS:-eif/pcrs.json}
    ((DRY)) && [[ ! -f "$NEW_PCRS" ]] && { echo "eif-upgrade: (dry run) the policy would be rendered from $NEW_PCRS" >&2; exit 0; }
  fi
  [[ -f "$NEW_PCRS" ]] || die "--new-pcrs FILE (eif/pcrs.json of the new build) is required"
  case "$PHASE" in
    allow-both)
      [[ -f "$OLD_PCRS" ]] || die "--old-pcrs FILE is required for allow-both"
      say "1/2 the key policy allows the old and the new PCR0 during the rollout"
      kms-policy/render.py --account-id "$ACCOUNT_ID" --admin-role-arn "$ADMIN_ROLE" \
        --enclave-role-arn "$ENCLAVE_ROLE" --pcrs "$OLD_PCRS" --pcrs "$NEW_PCRS" > "$SECRETS/policy.json" ;;
    finish)
      say "1/2 the key policy allows only the new PCR0"
      kms-policy/render.py --account-id "$ACCOUNT_ID" --admin-role-arn "$ADMIN_ROLE" \
        --enclave-role-arn "$ENCLAVE_ROLE" --pcrs "$NEW_PCRS" > "$SECRETS/policy.json" ;;
    *) die "--phase allow-both|finish is required" ;;
  esac
  confirm "Replace the key policy of $KEY?"
  run kms put-key-policy --key-id "$KEY" --policy-name default --policy "file://$SECRETS/policy.json"
  say "2/2 parent-agent: [[attestation.allow]] must list the same images"
  python3 - "$PHASE" "$OLD_PCRS" "$NEW_PCRS" <<'PY'
import json, sys
phase, old, new = sys.argv[1:]
files = ([old] if phase == "allow-both" else []) + [new]
for f in files:
    p = json.load(open(f))
    print(f'[[attestation.allow]]\nname = "{p.get("image_version") or f}"\npcr0 = "{p["pcr0"]}"\n')
PY
  echo "eif-upgrade: put the lines above in parent-agent.toml, then restart parent-agent host by host." >&2
  ;;
rotate-identity)
  [[ -f "$OLD_IDENTITY" ]] || die "--old-identity FILE (the current identity, from the trusted environment) is required"
  command -v age >/dev/null || die "age is needed"
  say "1/4 decrypt the shares with the current identity (trusted environment, tmpfs)"
  get service_key_shares.json.age "$SECRETS/shares.age"
  age -d -i "$OLD_IDENTITY" -o "$SECRETS/shares.json" "$SECRETS/shares.age" \
    || die "the current identity does not open service_key_shares.json.age"
  say "2/4 a new identity; re-encrypt the shares (and the TLS bundle, if any) to it"
  age-keygen -o "$SECRETS/new.key" 2>/dev/null
  RECIPIENT=$(age-keygen -y "$SECRETS/new.key")
  age -r "$RECIPIENT" -o "$SECRETS/shares.new.age" "$SECRETS/shares.json"
  shred -u "$SECRETS/shares.json"
  if get service_tls.json.age "$SECRETS/tls.age" 2>/dev/null; then
    age -d -i "$OLD_IDENTITY" "$SECRETS/tls.age" | age -r "$RECIPIENT" -o "$SECRETS/tls.new.age"
  fi
  say "3/4 KMS-encrypt the new identity"
  wrap_identity "$SECRETS/new.key" "$SECRETS/age-private.key.enc"
  confirm "Replace the identity and the sealed files in $STORE?"
  say "4/4 upload, then restart each parent-agent (its enclave boots with the new bundle)"
  put "$SECRETS/age-private.key.enc" age-private.key.enc
  put "$SECRETS/shares.new.age" service_key_shares.json.age
  [[ -f "$SECRETS/tls.new.age" ]] && put "$SECRETS/tls.new.age" service_tls.json.age
  [[ -n "$RESTART_CMD" ]] && run bash -c "$RESTART_CMD"
  echo "rotate-identity: done; new recipient $RECIPIENT. Destroy every copy of the old identity." >&2
  ;;
rotate-cmk)
  say "1/2 automatic yearly rotation on (the key id, policy and ciphertexts stay valid)$( ((NOW)) && echo ', and one rotation now')"
  confirm "Turn on rotation of $KEY's key material?"
  run kms enable-key-rotation --key-id "$KEY"
  ((NOW)) && run kms rotate-key-on-demand --key-id "$KEY"
  say "2/2 check"
  ((DRY)) || kms get-key-rotation-status --key-id "$KEY"
  ;;
emergency)
  say "EMERGENCY: disable the key so no enclave can unwrap the identity, then stop the enclaves"
  confirm "Disable $KEY? Every enclave boot will fail until it is re-enabled or replaced."
  run kms disable-key --key-id "$KEY"
  ((DRY)) || kms describe-key --key-id "$KEY" --query KeyMetadata.KeyState --output text
  if [[ -n "$RESTART_CMD" ]]; then
    run bash -c "$RESTART_CMD"
  else
    echo "emergency: now on each parent host: systemctl stop parent-agent (it terminates the enclave), or nitro-cli terminate-enclave --all" >&2
  fi
  cat >&2 <<'EOF'
emergency: next, regenerate:
  1. a new KMS key with the rendered policy (kms-policy/render.py);
  2. scripts/runbook.sh init with the new key (new identity, new ceremony: new account keys
     if the shares may have leaked; move funds to the new addresses);
  3. schedule deletion of the old key only when nothing needs it (aws kms schedule-key-deletion).
EOF
  ;;
*) die "unknown runbook $CMD (init, eif-upgrade, rotate-identity, rotate-cmk, emergency)" ;;
esac
