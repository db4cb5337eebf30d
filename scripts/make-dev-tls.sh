#!/usr/bin/env bash
# Makes a DEVELOPMENT PKI for the SignService's mutual TLS with the openssl CLI, in OUT_DIR:
#
#   server-ca.pem  server-ca.key   the CA that issues the service's certificate (gateways trust it)
#   server.key     server.pem      the service's key and certificate (SAN = SERVER_NAME)
#   server-chain.pem               server.pem followed by server-ca.pem (for key-gen tls-bundle)
#   client-ca.pem  client-ca.key   the CA whose client certificates the service accepts
#   client.key     client.pem      one caller's key and certificate (CN = gateway-dev)
#
# ECDSA P-256 keys, valid for SIGIL_DEV_TLS_DAYS days (default 7). The CA keys stay in
# OUT_DIR: this is for demos and tests, never for a deployment (docs/tls.md says how to make
# and seal real material).
#
# usage: scripts/make-dev-tls.sh OUT_DIR [SERVER_NAME]   (default signer.sigil.internal)
set -euo pipefail
OUT=${1:?usage: make-dev-tls.sh OUT_DIR [SERVER_NAME]}
NAME=${2:-signer.sigil.internal}
DAYS=${SIGIL_DEV_TLS_DAYS:-7}
command -v openssl >/dev/null || { echo "make-dev-tls: openssl is required" >&2; exit 1; }
mkdir -p "$OUT"
chmod 700 "$OUT"
cd "$OUT"
umask 077

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
serial() { echo "0x$(openssl rand -hex 16)"; }

# A self-signed CA: $1 = common name, $2 = file prefix.
ca() {
  key "$2.key"
  printf '%s\n' "basicConstraints=critical,CA:TRUE,pathlen:0" \
    "keyUsage=critical,keyCertSign,cRLSign" "subjectKeyIdentifier=hash" > "$2.ext"
  openssl req -new -key "$2.key" -subj "/O=Sigil development/CN=$1" -out "$2.csr"
  openssl x509 -req -in "$2.csr" -signkey "$2.key" -days "$DAYS" -set_serial "$(serial)" \
    -extfile "$2.ext" -out "$2.pem" 2>/dev/null
  rm -f "$2.csr" "$2.ext"
}

# A leaf: $1 = common name, $2 = file prefix, $3 = CA prefix, $4 = usage, $5 = extra extension.
leaf() {
  key "$2.key"
  printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
    "extendedKeyUsage=$4" "subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid" $5 > "$2.ext"
  openssl req -new -key "$2.key" -subj "/O=Sigil development/CN=$1" -out "$2.csr"
  openssl x509 -req -in "$2.csr" -CA "$3.pem" -CAkey "$3.key" -days "$DAYS" \
    -set_serial "$(serial)" -extfile "$2.ext" -out "$2.pem" 2>/dev/null
  rm -f "$2.csr" "$2.ext"
}

ca "Sigil dev server CA" server-ca
leaf "$NAME" server server-ca serverAuth "subjectAltName=DNS:$NAME"
ca "Sigil dev client CA" client-ca
leaf "gateway-dev" client client-ca clientAuth ""
cat server.pem server-ca.pem > server-chain.pem
chmod 644 ./*.pem
openssl verify -CAfile server-ca.pem server.pem >/dev/null
openssl verify -CAfile client-ca.pem client.pem >/dev/null
echo "make-dev-tls: development PKI for $NAME in $PWD (valid $DAYS days; CA keys included: development only)" >&2
