#!/usr/bin/env bash
# Signing demo, in simulation: a key-gen ceremony (2-of-2, two Ethereum accounts — one per
# ECDSA engine: DKLs23, the default, and cggmp24 — and one Ed25519 account, age-encrypted
# share files), a development TLS PKI made with openssl and sealed with `key-gen tls-bundle`,
# the SignService serving the service's shares over mutual TLS on a Unix socket, the co-signer
# (client certificate, SPKI pin) signing four payloads against it, and every signature
# verified outside Rust (libsecp256k1, OpenSSL) against key-gen's summary.
#
# The server here is `sign-server` (development only: its age identity is a file). In the
# appliance, enclave-app serves the same SignService after KMS unwraps the identity inside
# the enclave. The Paillier primes of the cggmp24 group come from testdata/ (public, for tests
# only) so the demo does not spend minutes generating them; DKLs23 needs none.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# shellcheck source=scripts/lib/build.sh
source scripts/lib/build.sh
build_bins dev -p sigil-key-gen -p sigil-sign-server -p sigil-cosigner
WORK=$(mktemp -d /tmp/sigil-demo-sign.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
say() { printf '\n== %s\n' "$*" >&2; }

say "ceremony: key-gen splits three accounts 2-of-2 (party 0 = service, party 1 = co-signer)"
cp testdata/INSECURE-test-primes.json "$WORK/pool.json"
age-keygen -o "$WORK/service.key" 2>/dev/null
age-keygen -o "$WORK/party1.key" 2>/dev/null
# ACCOUNT_ID SCHEME [ENGINE]: ECDSA accounts without an engine are dealt in DKLs23 (the default).
printf 'eth-demo ecdsa-secp256k1\neth-legacy ecdsa-secp256k1 cggmp24\nsol-demo ed25519\n' > "$WORK/accounts.txt"
"$BIN/key-gen" split --parties 2 --threshold 2 --accounts-file "$WORK/accounts.txt" \
  --pubkeys "$(age-keygen -y "$WORK/service.key")" \
  --party-pubkeys 1="$(age-keygen -y "$WORK/party1.key")" \
  --primes "$WORK/pool.json" --out-dir "$WORK/shares" 2>&1 | tail -3 >&2
ls "$WORK/shares" >&2

say "TLS: a development PKI from openssl, sealed for the service with key-gen tls-bundle"
scripts/make-dev-tls.sh "$WORK/tls" signer.sigil.internal
"$BIN/key-gen" tls-bundle --server-key "$WORK/tls/server.key" \
  --server-chain "$WORK/tls/server-chain.pem" --client-ca "$WORK/tls/client-ca.pem" \
  --pubkeys "$(age-keygen -y "$WORK/service.key")" --out "$WORK/shares/service_tls.json.age" \
  > "$WORK/tls-bundle.json"
cat "$WORK/tls-bundle.json" >&2
PIN=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["spki_sha256"])' "$WORK/tls-bundle.json")

say "SignService: serving service_key_shares.json.age over mutual TLS on a Unix socket"
"$BIN/sign-server" --listen "unix://$WORK/signer.sock" \
  --shares "$WORK/shares/service_key_shares.json.age" --identity "$WORK/service.key" \
  --tls-bundle "$WORK/shares/service_tls.json.age" \
  > "$WORK/server.log" 2>&1 & PIDS+=($!)
for _ in $(seq 200); do [[ -S $WORK/signer.sock ]] && break; sleep 0.05; done
[[ -S $WORK/signer.sock ]] || { cat "$WORK/server.log" >&2; echo "demo-sign: server did not start" >&2; exit 1; }

cosign() {
  "$BIN/cosigner" sign --endpoint "unix://$WORK/signer.sock" \
    --tls-ca "$WORK/tls/server-ca.pem" --tls-cert "$WORK/tls/client.pem" \
    --tls-key "$WORK/tls/client.key" --tls-server-name signer.sigil.internal \
    --tls-pin-spki-sha256 "$PIN" \
    --shares "$WORK/shares/party-1_key_shares.json.age" --identity "$WORK/party1.key" "$@"
}
TX=f86c098504a817c800825208943535353535353535353535353535353535353535880de0b6b3a76400008025a0
say "co-signer: ECDSA over keccak256(tx) at m, then at m/0/7 (DKLs23), and at m (cggmp24); Ed25519 over a message"
cosign --account eth-demo --scheme ecdsa-secp256k1 --payload-hex "$TX" | tee -a "$WORK/signatures.jsonl"
cosign --account eth-demo --scheme ecdsa-secp256k1 --path m/0/7 --payload-hex "$TX" | tee -a "$WORK/signatures.jsonl"
cosign --account eth-legacy --scheme ecdsa-secp256k1 --payload-hex "$TX" | tee -a "$WORK/signatures.jsonl"
cosign --account sol-demo --scheme ed25519 --payload-hex "$(printf 'hello from sigil' | od -An -tx1 | tr -d ' \n')" \
  | tee -a "$WORK/signatures.jsonl"

say "independent verification (libsecp256k1 via coincurve, OpenSSL Ed25519, Ethereum address from the summary)"
python3 scripts/verify-signatures.py --summary "$WORK/shares/summary.json" "$WORK/signatures.jsonl"
grep -c '"event":"session_finished"' "$WORK/server.log" | sed 's/^/sessions signed by the service: /' >&2
grep -c '"event":"tls_established"' "$WORK/server.log" | sed 's/^/mutual TLS connections accepted: /' >&2
