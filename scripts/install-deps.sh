#!/usr/bin/env bash
# Installs the system packages Sigil's tests, demo and benchmarks need, if missing.
# Debian/Ubuntu; run as root (CI is). Idempotent: does nothing when all are present.
set -euo pipefail

need=()
command -v socat >/dev/null || need+=(socat)
command -v python3 >/dev/null || need+=(python3)
command -v curl >/dev/null || need+=(curl)
command -v openssl >/dev/null || need+=(openssl)
command -v age >/dev/null || need+=(age)
command -v age-keygen >/dev/null || need+=(age)
command -v pip3 >/dev/null || command -v pip >/dev/null || need+=(python3-pip)
command -v promtool >/dev/null || need+=(prometheus)            # promtool check metrics
command -v systemd-analyze >/dev/null || need+=(systemd)        # systemd-analyze verify

if ((${#need[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps: missing ${need[*]}; run: sudo apt-get install -y ${need[*]}" >&2
    exit 1
  fi
  echo "install-deps: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# The real AWS CLI, used by kms-sim's interoperability tests.
if ! command -v aws >/dev/null; then
  echo "install-deps: installing awscli from PyPI" >&2
  python3 -m pip install --quiet --disable-pip-version-check awscli
fi

# Independent signature verifiers for the signing tests: libsecp256k1 (coincurve), OpenSSL's
# Ed25519 (cryptography) and Keccak-256 (pycryptodome).
if ! python3 -c 'import coincurve, cryptography, Crypto.Hash.keccak' 2>/dev/null; then
  echo "install-deps: installing coincurve, cryptography, pycryptodome from PyPI" >&2
  python3 -m pip install --quiet --disable-pip-version-check coincurve cryptography pycryptodome
fi

# moto's server mode: an independent IMDSv2 implementation for parent-agent's credential tests.
if ! python3 -c 'import moto.server' 2>/dev/null; then
  echo "install-deps: installing moto[server] from PyPI" >&2
  python3 -m pip install --quiet --disable-pip-version-check 'moto[server]>=5'
fi

# dockerfile-parse: eif/test.sh checks the enclave image's Dockerfile without a Docker engine.
if ! python3 -c 'import dockerfile_parse' 2>/dev/null; then
  echo "install-deps: installing dockerfile-parse from PyPI" >&2
  python3 -m pip install --quiet --disable-pip-version-check dockerfile-parse
fi
