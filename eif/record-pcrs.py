#!/usr/bin/env python3
"""Writes eif/pcrs.json from `nitro-cli describe-eif` (or `build-enclave`) JSON output.

Usage: eif/record-pcrs.py DESCRIBE_EIF_JSON [--revision REV] > eif/pcrs.json

The output is what the key policy (kms-policy/) and parent-agent's [[attestation.allow]]
take: PCR0/1/2 (and PCR8 when the EIF is signed) as lowercase hex, with the EIF's name,
version, build time and tool version for the record. Input from nitro-cli is checked: every
PCR must be 96 hex digits (SHA-384); anything else is an error naming the field.
"""
import json
import re
import sys

HEX96 = re.compile(r"^[0-9a-fA-F]{96}$")


def fail(msg):
    print(f"record-pcrs: {msg}", file=sys.stderr)
    sys.exit(1)


def main(argv):
    args = argv[1:]
    revision = None
    if "--revision" in args:
        i = args.index("--revision")
        if i + 1 >= len(args):
            fail("--revision needs a value")
        revision = args[i + 1]
        del args[i : i + 2]
    if len(args) != 1:
        fail("usage: record-pcrs.py DESCRIBE_EIF_JSON [--revision REV]")
    try:
        with open(args[0], encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        fail(f"{args[0]}: {e}")
    if not isinstance(doc, dict):
        fail(f"{args[0]}: not a JSON object")
    m = doc.get("Measurements")
    if not isinstance(m, dict):
        fail(f"{args[0]}: no `Measurements` object (is this describe-eif or build-enclave output?)")
    alg = str(m.get("HashAlgorithm", ""))
    if not alg.startswith("Sha384"):
        fail(f"{args[0]}: Measurements.HashAlgorithm is {alg!r}, expected Sha384")
    out = {"hash_algorithm": "SHA384"}
    for n in ("PCR0", "PCR1", "PCR2", "PCR8"):
        v = m.get(n)
        if v is None:
            if n == "PCR8":
                continue
            fail(f"{args[0]}: Measurements.{n} is missing")
        if not isinstance(v, str) or not HEX96.match(v):
            fail(f"{args[0]}: Measurements.{n} is not 96 hex digits")
        out[n.lower()] = v.lower()
    meta = doc.get("Metadata") if isinstance(doc.get("Metadata"), dict) else {}
    out["eif_version"] = doc.get("EifVersion")
    out["signed"] = bool(doc.get("IsSigned", False))
    out["image_name"] = doc.get("ImageName")
    out["image_version"] = doc.get("ImageVersion")
    out["build_time"] = meta.get("BuildTime")
    out["build_tool_version"] = meta.get("BuildToolVersion")
    if revision:
        out["source_revision"] = revision
    json.dump(out, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv)
