#!/usr/bin/env python3
"""Independent verification of Sigil signatures, outside Rust.

Reads the JSON lines `cosigner sign` prints and the `summary.json` key-gen wrote, and checks
every signature with other implementations than the appliance's:

  * ECDSA secp256k1 with libsecp256k1 (coincurve), whatever engine signed (the summary's
    `engine`: dkls23 or cggmp24): the signature verifies under the line's public key over
    keccak256/sha256(payload) (or the given digest); public-key recovery with the recovery id
    yields that key; the key is the summary's at the line's path — for the root path the
    summary's key, and its Ethereum address (keccak256 via pycryptodome) the summary's; for a
    child path the BIP32 CKDpub (non-hardened; HMAC-SHA512 from Python's hashlib, point
    addition by libsecp256k1) of the summary's key and chain code, and the signature does NOT
    verify under the root key;
  * Ed25519 with OpenSSL (cryptography): the signature verifies under the summary's key.

  usage: verify-signatures.py --summary summary.json signatures.jsonl
Exits non-zero on the first failure; on success prints the count, per scheme and engine.
"""
import argparse
import collections
import hashlib
import hmac
import json
import sys

import coincurve
from Crypto.Hash import keccak
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def keccak256(b: bytes) -> bytes:
    return keccak.new(digest_bits=256, data=b).digest()


def eth_address(pub: coincurve.PublicKey) -> str:
    return "0x" + keccak256(pub.format(compressed=False)[1:])[12:].hex()


def child_key(root: coincurve.PublicKey, chain_code: bytes, path: str) -> coincurve.PublicKey:
    """BIP32 CKDpub along a non-hardened path such as m/0/7 (SLIP-10 is BIP32 on secp256k1)."""
    parts = path.split("/")
    assert parts[0] == "m", f"path {path!r} does not start at m"
    key = root
    for part in parts[1:]:
        assert part.isdigit() and int(part) < 2**31, f"path {path!r}: {part!r} is not non-hardened"
        mac = hmac.new(chain_code, key.format() + int(part).to_bytes(4, "big"), hashlib.sha512).digest()
        assert int.from_bytes(mac[:32], "big") < SECP256K1_N, "invalid child (I_L >= n)"
        key, chain_code = key.add(mac[:32]), mac[32:]
    return key



def check_ecdsa(line, account):
    payload = bytes.fromhex(line["payload"])
    hash_rule = line["hash"]
    digest = {
        "keccak256": lambda: keccak256(payload),
        "sha256": lambda: hashlib.sha256(payload).digest(),
        "prehashed": lambda: payload,
    }[hash_rule]()
    assert digest.hex() == line["digest"], "digest differs from the hash of the payload"
    sig = bytes.fromhex(line["signature"])
    assert len(sig) == 64, "ECDSA signature must be r || s"
    s = int.from_bytes(sig[32:], "big")
    assert 0 < s <= SECP256K1_N // 2, "s is not low"
    rec = line["recovery_id"]
    assert rec in (0, 1), "recovery id must be 0 or 1"
    pub = coincurve.PublicKey(bytes.fromhex(line["public_key"]))
    compact = sig + bytes([rec])
    recovered = coincurve.PublicKey.from_signature_and_message(compact, digest, hasher=None)
    assert recovered.format() == pub.format(), "recovery yields another key"
    # coincurve.verify wants DER; build it from r, s.
    der_sig = coincurve.ecdsa.cdata_to_der(coincurve.ecdsa.deserialize_compact(sig))
    assert pub.verify(der_sig, digest, hasher=None), "libsecp256k1 rejects the signature"
    root = coincurve.PublicKey(bytes.fromhex(account["public_key"]))
    if line["derivation_path"] in ("m", ""):
        assert pub.format() == root.format(), "root-path key differs from the summary"
        assert eth_address(recovered) == account["ethereum_address"].lower(), "address differs"
        assert line["ethereum_address"].lower() == account["ethereum_address"].lower()
    else:
        want = child_key(root, bytes.fromhex(account["chain_code"]), line["derivation_path"])
        assert pub.format() == want.format(), "the key is not the summary's child key at this path"
        assert line["ethereum_address"].lower() == eth_address(want), "child address differs"
        assert pub.format() != root.format(), "child key equals the root key"
        assert not root.verify(der_sig, digest, hasher=None), "child signature verifies under root"


def check_ed25519(line, account):
    assert line["public_key"] == account["public_key"], "Ed25519 key differs from the summary"
    key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(account["public_key"]))
    try:
        key.verify(bytes.fromhex(line["signature"]), bytes.fromhex(line["payload"]))
    except InvalidSignature:
        raise AssertionError("OpenSSL rejects the Ed25519 signature")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--summary", required=True)
    ap.add_argument("signatures")
    args = ap.parse_args()
    with open(args.summary) as f:
        accounts = {a["account_id"]: a for a in json.load(f)["accounts"]}
    checked = 0
    kinds = collections.Counter()
    with open(args.signatures) as f:
        for n, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            line = json.loads(raw)
            account = accounts.get(line["account_id"])
            try:
                assert account is not None, "account not in the summary"
                assert line["scheme"] == account["scheme"], "scheme differs from the summary"
                {"ecdsa-secp256k1": check_ecdsa, "ed25519": check_ed25519}[line["scheme"]](line, account)
            except AssertionError as e:
                print(f"verify-signatures: line {n} ({line.get('account_id')} {line.get('derivation_path')}): {e}", file=sys.stderr)
                return 1
            checked += 1
            kinds["/".join(filter(None, (account["scheme"], account.get("engine"))))] += 1
    if checked == 0:
        print("verify-signatures: no signatures to check", file=sys.stderr)
        return 1
    by_kind = ", ".join(f"{k}: {n}" for k, n in sorted(kinds.items()))
    print(f"verify-signatures: {checked} signatures verified (libsecp256k1, OpenSSL Ed25519; {by_kind})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
