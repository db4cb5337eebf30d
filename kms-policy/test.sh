#!/usr/bin/env bash
# The rendered key policy, evaluated by kms-sim through the real aws CLI (run by
# scripts/test.sh; kms-sim and nsm-sim are the dev-profile binaries, built here if needed):
#  * the administrator creates the key, wraps an identity, installs the rendered policy,
#    and may not Decrypt it;
#  * the parent's role may not Decrypt without a Recipient attestation (the explicit Deny);
#  * with an attestation document of the allowed image it may (CiphertextForRecipient);
#  * with a document of another image it may not;
#  * render.py refuses bad input.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/build.sh
source scripts/lib/build.sh
build_bins dev -p kms-sim -p sigil-nsm-sim
command -v aws >/dev/null || { echo "kms-policy/test.sh: the aws CLI is needed (scripts/install-deps.sh)" >&2; exit 1; }
T=$(mktemp -d)
# shellcheck source=scripts/lib/kms-sim.sh
source scripts/lib/kms-sim.sh
cleanup() { kms_sim_stop; rm -rf "$T"; }
trap cleanup EXIT
fail() { echo "kms-policy/test.sh: FAIL: $*" >&2; exit 1; }

ACCOUNT=111122223333
ADMIN=arn:aws:iam::$ACCOUNT:role/sigil-key-admin
PARENT=arn:aws:iam::$ACCOUNT:role/sigil-parent
export AWS_ACCESS_KEY_ID=AKIDPOLICYTEST AWS_SECRET_ACCESS_KEY=policy/test/secret AWS_DEFAULT_REGION=us-east-1

"$BIN/nsm-sim" init-root --dir "$T/root" >/dev/null
cp "$BIN/nsm-sim" "$T/image-good"; printf 'another build' > "$T/image-other"
"$BIN/nsm-sim" measure --image "$T/image-good" > "$T/measure.json"
python3 - "$T/measure.json" "$T/pcrs.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
low = {k.lower(): v for k, v in m.items()}
json.dump({n: low[n] for n in ("pcr0", "pcr1", "pcr2")}, open(sys.argv[2], "w"))
PY

start_sim() {  # start_sim PRINCIPAL_ARN
  kms_sim_start "$T" "$1" "$T/root/dev-root.pem" || fail "kms-sim did not start"
  EP=http://$KMS_SIM_ADDR
}
kms() { aws --endpoint-url "$EP" --output json kms "$@"; }
denied() {  # denied WHAT CMD...
  local out
  if out=$("${@:2}" 2>&1); then fail "$1 was allowed"; fi
  [[ "$out" == *AccessDenied* ]] || fail "$1: expected AccessDenied, got: $out"
}

# The administrator's session: create, wrap, install the rendered policy.
start_sim "arn:aws:sts::$ACCOUNT:assumed-role/sigil-key-admin/alice"
KEY=$(kms create-key | python3 -c 'import json,sys; print(json.load(sys.stdin)["KeyMetadata"]["KeyId"])')
printf 'AGE-SECRET-KEY-1 stand-in identity for the policy test' > "$T/identity"
kms encrypt --key-id "$KEY" --plaintext "fileb://$T/identity" --encryption-context purpose=sigil-age-identity \
  --query CiphertextBlob --output text | base64 -d > "$T/identity.enc"
kms-policy/render.py --account-id "$ACCOUNT" --admin-role-arn "$ADMIN" --enclave-role-arn "$PARENT" \
  --pcrs "$T/pcrs.json" > "$T/policy.json"
kms put-key-policy --key-id "$KEY" --policy-name default --policy "file://$T/policy.json"
kms get-key-policy --key-id "$KEY" --policy-name default >/dev/null
denied "the administrator's Decrypt" kms decrypt --ciphertext-blob "fileb://$T/identity.enc" \
  --encryption-context purpose=sigil-age-identity

# The parent instance's role session, as the enclave's KMS calls carry it.
start_sim "arn:aws:sts::$ACCOUNT:assumed-role/sigil-parent/i-0123456789abcdef0"
denied "Decrypt without an attestation" kms decrypt --ciphertext-blob "fileb://$T/identity.enc" \
  --encryption-context purpose=sigil-age-identity
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/rsa.pem" 2>/dev/null
openssl pkey -in "$T/rsa.pem" -pubout -outform DER -out "$T/rsa.der"
# The aws CLI v1 cannot pass a binary member inside --recipient, so the attested Decrypt goes
# through botocore (the SDK under the CLI) with the same credentials and endpoint.
attested_decrypt() {  # attested_decrypt IMAGE → prints the response JSON (blobs base64) or the error
  "$BIN/nsm-sim" attest --root-dir "$T/root" --image "$1" --public-key "$T/rsa.der" --out "$T/doc.cbor" >/dev/null
  python3 - "$EP" "$T/identity.enc" "$T/doc.cbor" <<'PY'
import base64, json, sys
import botocore.session
from botocore.exceptions import ClientError
ep, ct, doc = sys.argv[1:]
kms = botocore.session.get_session().create_client("kms", endpoint_url=ep, region_name="us-east-1")
try:
    r = kms.decrypt(CiphertextBlob=open(ct, "rb").read(),
                    EncryptionContext={"purpose": "sigil-age-identity"},
                    Recipient={"KeyEncryptionAlgorithm": "RSAES_OAEP_SHA_256",
                               "AttestationDocument": open(doc, "rb").read()})
except ClientError as e:
    print(e.response["Error"]["Code"], e.response["Error"].get("Message", ""))
    sys.exit(1)
r.pop("ResponseMetadata", None)
print(json.dumps({k: base64.b64encode(v).decode() if isinstance(v, bytes) else v for k, v in r.items()}))
PY
}
out=$(attested_decrypt "$T/image-good") || fail "the allowed image's Decrypt was refused: $out"
python3 -c 'import json,sys; r=json.load(sys.stdin); assert r.get("CiphertextForRecipient") and not r.get("Plaintext"), r' <<<"$out" \
  || fail "no CiphertextForRecipient (or a plaintext) in: $out"
denied "another image's Decrypt" attested_decrypt "$T/image-other"

# An upgrade: the policy allows the old and the new image at once, bound to PCR1 as well.
"$BIN/nsm-sim" measure --image "$T/image-other" > "$T/measure-other.json"
python3 - "$T/measure-other.json" "$T/pcrs-other.json" <<'PY'
import json, sys
m = {k.lower(): v for k, v in json.load(open(sys.argv[1])).items()}
json.dump({n: m[n] for n in ("pcr0", "pcr1", "pcr2")}, open(sys.argv[2], "w"))
PY
kms-policy/render.py --account-id "$ACCOUNT" --admin-role-arn "$ADMIN" --enclave-role-arn "$PARENT" \
  --pcrs "$T/pcrs.json" --pcrs "$T/pcrs-other.json" --bind-pcr 1 > "$T/policy-upgrade.json"
start_sim "arn:aws:sts::$ACCOUNT:assumed-role/sigil-key-admin/alice"
kms put-key-policy --key-id "$KEY" --policy-name default --policy "file://$T/policy-upgrade.json"
start_sim "arn:aws:sts::$ACCOUNT:assumed-role/sigil-parent/i-0123456789abcdef0"
attested_decrypt "$T/image-good" >/dev/null || fail "the old image was refused during the upgrade"
attested_decrypt "$T/image-other" >/dev/null || fail "the new image was refused during the upgrade"

# render.py refuses what would make a wrong policy.
refuse() {  # refuse NEEDLE ARGS...
  local out
  if out=$(kms-policy/render.py "${@:2}" 2>&1); then fail "render.py accepted: ${*:2}"; fi
  [[ "$out" == *"$1"* ]] || fail "render.py: '$out' does not mention '$1'"
}
refuse "must differ" --account-id "$ACCOUNT" --admin-role-arn "$PARENT" --enclave-role-arn "$PARENT" --pcrs "$T/pcrs.json"
refuse "not an IAM role ARN" --account-id "$ACCOUNT" --admin-role-arn "$ADMIN" --enclave-role-arn "arn:aws:iam::$ACCOUNT:user/x" --pcrs "$T/pcrs.json"
refuse "not $ACCOUNT" --account-id "$ACCOUNT" --admin-role-arn "$ADMIN" --enclave-role-arn "arn:aws:iam::999999999999:role/p" --pcrs "$T/pcrs.json"
echo '{"pcr0":"abc"}' > "$T/bad.json"
refuse "pcr0 is missing or not 96 hex" --account-id "$ACCOUNT" --admin-role-arn "$ADMIN" --enclave-role-arn "$PARENT" --pcrs "$T/bad.json"
refuse "pcr8 is missing" --account-id "$ACCOUNT" --admin-role-arn "$ADMIN" --enclave-role-arn "$PARENT" --pcrs "$T/pcrs.json" --bind-pcr 8
echo "kms-policy/test.sh: ok"
