#!/usr/bin/env bash
# The whole appliance on one machine, in simulation (README's first command):
#
#   scripts/local-appliance.sh          # bring it up, sign with each account, keep serving until Ctrl-C
#   scripts/local-appliance.sh --once   # the same, then stop everything and remove every file
#
# Steps (each printed as it runs; a failing step says which and why):
#   1. build enclave-app, parent-agent, kms-sim, nsm-sim, key-gen and cosigner;
#   2. a development attestation root (nsm-sim), a TLS PKI (scripts/make-dev-tls.sh), an age
#      identity (age-keygen), and three demo accounts split 2-of-2 by key-gen (ECDSA in
#      DKLs23, the default engine, and in cggmp24; Ed25519); the shares and the TLS material
#      sealed to the identity;
#   3. kms-sim; as the key administrator: a KMS key whose policy (kms-policy/render.py) allows
#      Decrypt only for the PCR0 of this enclave-app, and the identity encrypted under it,
#      then the plaintext identity removed;
#   4. parent-agent with the process runner: it serves the bundle, routes KMS, starts
#      enclave-app, verifies its attestation and opens TCP ingress; wait for /readyz;
#   5. cosigner signs through the TCP ingress (mutual TLS, pinned key) with each account (the
#      DKLs23 one at the root and at m/0/7); each result is printed as a JSON line and
#      verified outside Rust (libsecp256k1, OpenSSL; child keys from the summary's chain code).
# Everything lives in one temporary directory; on exit (or Ctrl-C) parent-agent drains and
# stops the enclave, kms-sim stops, and the directory is removed.
set -euo pipefail
cd "$(dirname "$0")/.."
ONCE=0
case "${1:-}" in
  --once) ONCE=1 ;;
  "") ;;
  -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
  *) echo "local-appliance: unknown argument $1 (see --help)" >&2; exit 2 ;;
esac

# shellcheck source=scripts/lib/kms-sim.sh
source scripts/lib/kms-sim.sh
W=$(mktemp -d /tmp/sigil-appliance.XXXXXX)
PIDS=()
STEP="starting"
cleanup() {
  local rc=$?
  # parent-agent first: SIGTERM drains and terminates the enclave it started.
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  kms_sim_stop
  if ((rc != 0)); then
    echo "local-appliance: FAILED at step: $STEP" >&2
    for f in parent-agent.log kms-sim.log; do
      [[ -s "$W/$f" ]] && { echo "--- last lines of $f:" >&2; tail -15 "$W/$f" >&2; }
    done
  fi
  rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
step() { STEP=$1; printf '\n== %s\n' "$1" >&2; }
die() { echo "local-appliance: $*" >&2; exit 1; }

step "1/5 build"
scripts/install-deps.sh
echo "building (the first run compiles the dependencies: several minutes; cargo's progress follows)" >&2
# shellcheck source=scripts/lib/build.sh
source scripts/lib/build.sh
build_bins dev -p enclave-app -p parent-agent -p kms-sim -p sigil-nsm-sim -p sigil-key-gen -p sigil-cosigner
SERVER_NAME=signer.sigil.internal

step "2/5 dev root, TLS PKI, age identity, key-gen ceremony (2-of-2: the enclave is party 0)"
"$BIN/nsm-sim" init-root --dir "$W/dev-root" >/dev/null
scripts/make-dev-tls.sh "$W/tls" "$SERVER_NAME"
age-keygen -o "$W/identity.key" 2>/dev/null
RECIPIENT=$(age-keygen -y "$W/identity.key")
age-keygen -o "$W/cosigner.key" 2>/dev/null
cp testdata/INSECURE-test-primes.json "$W/pool.json"
# ACCOUNT_ID SCHEME [ENGINE]: ECDSA accounts without an engine are dealt in DKLs23 (the default).
printf 'eth-demo ecdsa-secp256k1\neth-legacy ecdsa-secp256k1 cggmp24\nsol-demo ed25519\n' > "$W/accounts.txt"
"$BIN/key-gen" split --parties 2 --threshold 2 --accounts-file "$W/accounts.txt" \
  --pubkeys "$RECIPIENT" --party-pubkeys 1="$(age-keygen -y "$W/cosigner.key")" \
  --primes "$W/pool.json" --out-dir "$W/shares" >/dev/null 2>"$W/key-gen.log" \
  || { cat "$W/key-gen.log" >&2; die "key-gen split failed"; }
mkdir -p "$W/bundle" && chmod 700 "$W/bundle"
cp "$W/shares/service_key_shares.json.age" "$W/bundle/"
"$BIN/key-gen" tls-bundle --server-key "$W/tls/server.key" \
  --server-chain "$W/tls/server-chain.pem" --client-ca "$W/tls/client-ca.pem" \
  --pubkeys "$RECIPIENT" --out "$W/bundle/service_tls.json.age" > "$W/tls-bundle.json"
PIN=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["spki_sha256"])' "$W/tls-bundle.json")
echo "accounts: eth-demo (ECDSA secp256k1, DKLs23), eth-legacy (ECDSA secp256k1, cggmp24), sol-demo (Ed25519); TLS server key SPKI SHA-256 $PIN" >&2

step "3/5 kms-sim, the key policy bound to enclave-app's PCR0, the identity wrapped"
ACCOUNT=111122223333
export AWS_ACCESS_KEY_ID=AKIDLOCALAPPLIANCE AWS_SECRET_ACCESS_KEY=local/appliance/secret AWS_DEFAULT_REGION=us-east-1
start_kms() {  # start_kms PRINCIPAL_ARN
  kms_sim_start "$W" "$1" "$W/dev-root/dev-root.pem" || die "kms-sim did not start"
  KMS_ADDR=$KMS_SIM_ADDR
}
kms() { aws --endpoint-url "http://$KMS_ADDR" --output json kms "$@"; }
start_kms "arn:aws:sts::$ACCOUNT:assumed-role/sigil-key-admin/operator"
KEY=$(kms create-key --description "sigil local appliance" --query KeyMetadata.KeyId --output text)
"$BIN/nsm-sim" measure --image "$BIN/enclave-app" \
  | python3 -c 'import json,sys; m={k.lower():v for k,v in json.load(sys.stdin).items()}; json.dump({n:m[n] for n in ("pcr0","pcr1","pcr2")}, sys.stdout)' \
  > "$W/pcrs.json"
PCR0=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pcr0"])' "$W/pcrs.json")
kms-policy/render.py --account-id "$ACCOUNT" \
  --admin-role-arn "arn:aws:iam::$ACCOUNT:role/sigil-key-admin" \
  --enclave-role-arn "arn:aws:iam::$ACCOUNT:role/sigil-parent" \
  --pcrs "$W/pcrs.json" > "$W/policy.json"
kms put-key-policy --key-id "$KEY" --policy-name default --policy "file://$W/policy.json"
kms encrypt --key-id "$KEY" --plaintext "fileb://$W/identity.key" \
  --encryption-context purpose=sigil-age-identity --query CiphertextBlob --output text \
  | base64 -d > "$W/bundle/age-private.key.enc"
rm -f "$W/identity.key"
echo "KMS key $KEY: Decrypt only with an attestation of PCR0 ${PCR0:0:16}…; the plaintext identity is deleted" >&2
# From now on kms-sim sees the parent instance's role, as the enclave's calls carry it.
start_kms "arn:aws:sts::$ACCOUNT:assumed-role/sigil-parent/i-0123456789abcdef0"
KMS_PORT=${KMS_ADDR##*:}

step "4/5 parent-agent: provisioning, KMS route, enclave-app, attestation gate, ingress"
mkdir -p "$W/vsock" "$W/archive"
cat > "$W/parent-agent.toml" <<EOF
[vsock]
simulation_dir = "$W/vsock"

[ingress]
listen = "tcp://127.0.0.1:0"
connect = "vsock://16:50051"

[[egress.route]]
listen = "vsock://any:8000"
to = "127.0.0.1:$KMS_PORT"

[[egress.allow]]
host = "127.0.0.1/32"
port = $KMS_PORT

[shutdown]
drain_timeout = "5s"

[enclave]
runner = "process"
cid = 16
program = "$BIN/enclave-app"
args = ["--sim-dev-root", "$W/dev-root"]

[enclave.tls]
ca = "$W/tls/server-ca.pem"
cert = "$W/tls/client.pem"
key = "$W/tls/client.key"
server_name = "$SERVER_NAME"

[provisioning]
bundle_dir = "$W/bundle"

[provisioning.credentials]
source = "static"
access_key_id = "$AWS_ACCESS_KEY_ID"
secret_access_key = "$AWS_SECRET_ACCESS_KEY"

[provisioning.runtime]
region = "$AWS_DEFAULT_REGION"
kms_key_id = "$KEY"
encryption_context = { purpose = "sigil-age-identity" }
kms_simulation_url = "http://kms.sim"
kms_retry_deadline = "10s"

[attestation]
root = "$W/dev-root/dev-root.pem"
archive_dir = "$W/archive"

[[attestation.allow]]
name = "this build of enclave-app"
pcr0 = "$PCR0"

[health]
listen = "tcp://127.0.0.1:0"

[logs]
file = "$W/enclave.log"
EOF
"$BIN/parent-agent" check-config "$W/parent-agent.toml" >/dev/null
"$BIN/parent-agent" run --config "$W/parent-agent.toml" > "$W/parent-agent.log" 2>&1 &
PIDS=("$!" "${PIDS[@]}")
event() {  # event NAME → the first JSON line with that event, waiting up to 120 s
  for _ in $(seq 1200); do
    line=$(grep -m1 "\"event\":\"$1\"" "$W/parent-agent.log" || true)
    [[ -n "$line" ]] && { echo "$line"; return 0; }
    kill -0 "${PIDS[0]}" 2>/dev/null || die "parent-agent exited"
    sleep 0.1
  done
  die "no $1 event from parent-agent within 120 s"
}
LISTENING=$(event listening)
INGRESS=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["routes"].split(",")[0])' "$LISTENING")
HEALTH=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["health"].removeprefix("tcp://"))' "$LISTENING")
for _ in $(seq 1200); do
  curl -fs "http://$HEALTH/readyz" >/dev/null && break
  if grep -q '"event":"crash_loop"' "$W/parent-agent.log"; then die "parent-agent stopped restarting the enclave (crash loop)"; fi
  sleep 0.1
done
curl -fs "http://$HEALTH/readyz" >/dev/null || die "/readyz did not turn 200 within 120 s"
python3 -c 'import json,sys; v=json.loads(sys.argv[1]); print("attested: PCR0 %s... (dev root: %s, TLS key bound: %s)" % (v["pcr0"][:16], v["dev_root"], v["tls_bound"]))' \
  "$(event attestation_verified)" >&2
echo "ready: ingress $INGRESS, health http://$HEALTH (/livez /readyz /metrics)" >&2

step "5/5 sign through the TCP ingress with cosigner, verify outside Rust"
cosign() {
  "$BIN/cosigner" sign --endpoint "$INGRESS" \
    --tls-ca "$W/tls/server-ca.pem" --tls-cert "$W/tls/client.pem" --tls-key "$W/tls/client.key" \
    --tls-server-name "$SERVER_NAME" --tls-pin-spki-sha256 "$PIN" \
    --shares "$W/shares/party-1_key_shares.json.age" --identity "$W/cosigner.key" "$@"
}
TX=f86c098504a817c800825208943535353535353535353535353535353535353535880de0b6b3a76400008025a0
cosign --account eth-demo --scheme ecdsa-secp256k1 --payload-hex "$TX" | tee -a "$W/signatures.jsonl"
cosign --account eth-demo --scheme ecdsa-secp256k1 --path m/0/7 --payload-hex "$TX" | tee -a "$W/signatures.jsonl"
cosign --account eth-legacy --scheme ecdsa-secp256k1 --payload-hex "$TX" | tee -a "$W/signatures.jsonl"
cosign --account sol-demo --scheme ed25519 --payload-hex "$(printf 'hello from sigil' | od -An -tx1 | tr -d ' \n')" \
  | tee -a "$W/signatures.jsonl"
python3 scripts/verify-signatures.py --summary "$W/shares/summary.json" "$W/signatures.jsonl" >&2

if ((ONCE)); then
  STEP="shutdown"
  echo "local-appliance: done (--once): stopping parent-agent (drain, enclave terminated) and kms-sim" >&2
  exit 0
fi
echo >&2
echo "local-appliance: running. Ingress $INGRESS; metrics: curl http://$HEALTH/metrics; logs: $W/parent-agent.log. Ctrl-C stops and removes everything." >&2
wait "${PIDS[0]}"
