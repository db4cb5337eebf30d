#!/usr/bin/env bash
# Runs every runbook of scripts/runbook.sh against kms-sim through the real aws CLI, with a
# local directory as the bundle store (run by scripts/test.sh; the dev-profile kms-sim,
# nsm-sim and key-gen are built here if needed):
#   init → the store holds the wrapped identity and the sealed shares, no plaintext;
#   rotate-identity → a new identity opens the re-sealed shares, the old one no longer does;
#   eif-upgrade allow-both / finish → the key policy lists both PCR0s, then only the new one;
#   rotate-cmk → rotation enabled; emergency → the key is disabled;
#   --dry-run → nothing changes; no plaintext is left in /dev/shm or the store.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/build.sh
source scripts/lib/build.sh
build_bins dev -p kms-sim -p sigil-nsm-sim -p sigil-key-gen
T=$(mktemp -d)
# shellcheck source=scripts/lib/kms-sim.sh
source scripts/lib/kms-sim.sh
cleanup() { kms_sim_stop; rm -rf "$T"; }
trap cleanup EXIT
fail() { echo "test-runbooks: FAIL: $*" >&2; exit 1; }
ACCOUNT=111122223333
export AWS_ACCESS_KEY_ID=AKIDRUNBOOKTEST AWS_SECRET_ACCESS_KEY=runbook/test/secret AWS_DEFAULT_REGION=us-east-1

"$BIN/nsm-sim" init-root --dir "$T/root" >/dev/null
kms_sim_start "$T" "arn:aws:sts::$ACCOUNT:assumed-role/sigil-key-admin/operator" "$T/root/dev-root.pem" \
  || fail "kms-sim did not start"
EP=http://$KMS_SIM_ADDR
kms() { aws --endpoint-url "$EP" --output json kms "$@"; }
rb() { scripts/runbook.sh "$1" --endpoint-url "$EP" --yes "${@:2}"; }
KEY=$(kms create-key --query KeyMetadata.KeyId --output text)
STORE=$T/store
unwrap() {  # unwrap → the identity in the store, decrypted (the test stands in for the trusted environment)
  kms decrypt --ciphertext-blob "fileb://$STORE/age-private.key.enc" \
    --encryption-context purpose=sigil-age-identity --query Plaintext --output text | base64 -d
}
shm_clean() { ! ls -d /dev/shm/sigil-runbook.* >/dev/null 2>&1 || fail "plaintext left in /dev/shm"; }

# init, dry run first: nothing may appear.
printf 'eth-1 ecdsa-secp256k1\nsol-1 ed25519\n' > "$T/accounts.txt"
cp testdata/INSECURE-test-primes.json "$T/pool.json"
age-keygen -o "$T/party1.key" 2>/dev/null
rb init --dry-run --key-id "$KEY" --store "$STORE" --accounts-file "$T/accounts.txt" > /dev/null 2>"$T/dry.err"
[[ ! -e "$STORE" ]] || fail "init --dry-run wrote the store"
grep -q "kms encrypt" "$T/dry.err" || fail "init --dry-run did not show the KMS call"
OUT=$(SIGIL_PRIMES="$T/pool.json" rb init --key-id "$KEY" --store "$STORE" --accounts-file "$T/accounts.txt" \
  --party-pubkeys 1="$(age-keygen -y "$T/party1.key")" 2>"$T/init.err") || { cat "$T/init.err" >&2; fail "init"; }
[[ -s "$STORE/age-private.key.enc" && -s "$STORE/service_key_shares.json.age" ]] || fail "init: store incomplete"
[[ $(ls "$STORE" | wc -l) -eq 2 ]] || fail "init: unexpected files in the store: $(ls "$STORE")"
grep -rq "AGE-SECRET-KEY" "$STORE" && fail "init: a plaintext identity reached the store"
shm_clean
unwrap > "$T/identity1.key"
age -d -i "$T/identity1.key" "$STORE/service_key_shares.json.age" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert len(d["accounts"]) == 2' \
  || fail "init: the wrapped identity does not open the shares"
[[ -s "$OUT/shares/party-1_key_shares.json.age" ]] || fail "init: the other party's shares are missing"
rm -rf "$OUT"

# rotate-identity.
rb rotate-identity --key-id "$KEY" --store "$STORE" --old-identity "$T/identity1.key" 2>"$T/rot.err" \
  || { cat "$T/rot.err" >&2; fail "rotate-identity"; }
shm_clean
unwrap > "$T/identity2.key"
cmp -s "$T/identity1.key" "$T/identity2.key" && fail "rotate-identity: the identity did not change"
age -d -i "$T/identity2.key" "$STORE/service_key_shares.json.age" > /dev/null || fail "rotate-identity: the new identity does not open the shares"
age -d -i "$T/identity1.key" "$STORE/service_key_shares.json.age" > /dev/null 2>&1 && fail "rotate-identity: the old identity still opens the shares"

# eif-upgrade: both PCR0s, then the new one only.
P=$(printf 'a%.0s' {1..96}); Q=$(printf 'b%.0s' {1..96})
echo "{\"pcr0\":\"$P\"}" > "$T/old.json"; echo "{\"pcr0\":\"$Q\"}" > "$T/new.json"
ROLES=(--account-id "$ACCOUNT" --admin-role-arn "arn:aws:iam::$ACCOUNT:role/sigil-key-admin" --enclave-role-arn "arn:aws:iam::$ACCOUNT:role/sigil-parent")
BEFORE=$(kms get-key-policy --key-id "$KEY" --policy-name default --query Policy --output text)
rb eif-upgrade --dry-run --key-id "$KEY" "${ROLES[@]}" --old-pcrs "$T/old.json" --new-pcrs "$T/new.json" --phase allow-both >/dev/null 2>&1
[[ "$(kms get-key-policy --key-id "$KEY" --policy-name default --query Policy --output text)" == "$BEFORE" ]] || fail "eif-upgrade --dry-run changed the policy"
rb eif-upgrade --dry-run --build --key-id "$KEY" "${ROLES[@]}" --old-pcrs "$T/old.json" --phase allow-both >/dev/null 2>"$T/build.err" \
  || { cat "$T/build.err" >&2; fail "eif-upgrade --build --dry-run"; }
grep -q "nitro-cli build-enclave" "$T/build.err" || fail "eif-upgrade --build --dry-run did not show the build"
rb eif-upgrade --key-id "$KEY" "${ROLES[@]}" --old-pcrs "$T/old.json" --new-pcrs "$T/new.json" --phase allow-both > "$T/allow.toml" 2>/dev/null
POL=$(kms get-key-policy --key-id "$KEY" --policy-name default --query Policy --output text)
[[ "$POL" == *"$P"* && "$POL" == *"$Q"* ]] || fail "allow-both: the policy does not list both PCR0s"
grep -q "pcr0 = \"$P\"" "$T/allow.toml" || fail "allow-both: no [[attestation.allow]] for the old image"
grep -q "pcr0 = \"$Q\"" "$T/allow.toml" || fail "allow-both: no [[attestation.allow]] for the new image"
rb eif-upgrade --key-id "$KEY" "${ROLES[@]}" --new-pcrs "$T/new.json" --phase finish >/dev/null 2>&1
POL=$(kms get-key-policy --key-id "$KEY" --policy-name default --query Policy --output text)
[[ "$POL" != *"$P"* && "$POL" == *"$Q"* ]] || fail "finish: the old PCR0 is still allowed"

# rotate-cmk and emergency (dry runs change nothing).
rb rotate-cmk --dry-run --key-id "$KEY" >/dev/null 2>&1
[[ $(kms get-key-rotation-status --key-id "$KEY" --query KeyRotationEnabled --output text) == False ]] || fail "rotate-cmk --dry-run enabled rotation"
rb rotate-cmk --key-id "$KEY" >/dev/null 2>&1
[[ $(kms get-key-rotation-status --key-id "$KEY" --query KeyRotationEnabled --output text) == True ]] || fail "rotate-cmk: rotation not enabled"
rb emergency --dry-run --key-id "$KEY" >/dev/null 2>&1
[[ $(kms describe-key --key-id "$KEY" --query KeyMetadata.KeyState --output text) == Enabled ]] || fail "emergency --dry-run disabled the key"
rb emergency --key-id "$KEY" --restart-command "touch $T/enclaves-stopped" >/dev/null 2>&1
[[ $(kms describe-key --key-id "$KEY" --query KeyMetadata.KeyState --output text) == Disabled ]] || fail "emergency: the key is not disabled"
[[ -e "$T/enclaves-stopped" ]] || fail "emergency: the stop command did not run"
# Without --yes and without a terminal, a destructive runbook refuses.
if scripts/runbook.sh emergency --endpoint-url "$EP" --key-id "$KEY" </dev/null >/dev/null 2>"$T/refuse.err"; then fail "emergency ran without --yes"; fi
grep -q "pass --yes" "$T/refuse.err" || fail "no --yes hint: $(cat "$T/refuse.err")"
echo "test-runbooks: ok"
