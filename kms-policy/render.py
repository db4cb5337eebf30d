#!/usr/bin/env python3
"""Renders Sigil's KMS key policy from the recorded enclave measurements.

  kms-policy/render.py --account-id 111122223333 \
      --admin-role-arn arn:aws:iam::111122223333:role/sigil-key-admin \
      --enclave-role-arn arn:aws:iam::111122223333:role/sigil-parent \
      --pcrs eif/pcrs.json [--pcrs old/pcrs.json] [--bind-pcr 1 --bind-pcr 2] > policy.json

Statements (see kms-policy/README.md):
  * KeyAdministration: the admin role manages the key (and may Encrypt, to wrap a new age
    identity) but is given no Decrypt;
  * EnclaveDecryptWithAttestation: the parent instance's role may Decrypt only with a
    Recipient attestation whose ImageSha384 (PCR0) is one of the --pcrs files' pcr0, and, per
    --bind-pcr N, whose PCRN is that file's pcrN; several --pcrs files allow an upgrade's old
    and new image at once;
  * DenyDecryptWithoutAttestation: nobody may Decrypt without a Recipient attestation, so a
    misplaced IAM grant cannot release the plaintext.
The output is validated before it is printed: every ARN and PCR is checked, and the result
must be a policy KMS accepts in shape (Version, unique Sids, at most 32 KiB).
"""
import argparse
import json
import re
import sys

HEX96 = re.compile(r"^[0-9a-f]{96}$")
ACCOUNT = re.compile(r"^[0-9]{12}$")
ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::([0-9]{12}):role/[A-Za-z0-9+=,.@_/-]{1,512}$")
BINDABLE = {1, 2, 3, 4, 8}
ADMIN_ACTIONS = [
    "kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*",
    "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*", "kms:TagResource",
    "kms:UntagResource", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion",
    "kms:RotateKeyOnDemand", "kms:Encrypt",
]


def fail(msg):
    print(f"kms-policy/render.py: {msg}", file=sys.stderr)
    sys.exit(1)


def load_pcrs(path, bind):
    try:
        with open(path, encoding="utf-8") as f:
            p = json.load(f)
    except (OSError, ValueError) as e:
        fail(f"--pcrs {path}: {e}")
    if not isinstance(p, dict):
        fail(f"--pcrs {path}: not a JSON object (eif/record-pcrs.py writes it)")
    out = {}
    for n in [0] + sorted(bind):
        v = p.get(f"pcr{n}")
        if not isinstance(v, str) or not HEX96.match(v.lower()):
            fail(f"--pcrs {path}: pcr{n} is missing or not 96 hex digits")
        out[n] = v.lower()
    return out


def render(a):
    if not ACCOUNT.match(a.account_id):
        fail("--account-id must be 12 digits")
    for name, arn in (("--admin-role-arn", a.admin_role_arn), ("--enclave-role-arn", a.enclave_role_arn)):
        m = ROLE_ARN.match(arn)
        if not m:
            fail(f"{name} {arn!r} is not an IAM role ARN")
        if m.group(1) != a.account_id:
            fail(f"{name} is in account {m.group(1)}, not {a.account_id}")
    if a.admin_role_arn == a.enclave_role_arn:
        fail("the admin role and the enclave role must differ (administrators may not Decrypt)")
    bind = set(a.bind_pcr or [])
    if not bind <= BINDABLE:
        fail(f"--bind-pcr takes {sorted(BINDABLE)}")
    images = [load_pcrs(p, bind) for p in a.pcrs]
    if not images:
        fail("at least one --pcrs file is needed")
    condition = {"StringEqualsIgnoreCase": {
        "kms:RecipientAttestation:ImageSha384": sorted({i[0] for i in images})}}
    for n in sorted(bind):
        condition["StringEqualsIgnoreCase"][f"kms:RecipientAttestation:PCR{n}"] = sorted({i[n] for i in images})
    policy = {
        "Version": "2012-10-17",
        "Id": "sigil-age-identity",
        "Statement": [
            {"Sid": "KeyAdministration", "Effect": "Allow",
             "Principal": {"AWS": a.admin_role_arn},
             "Action": ADMIN_ACTIONS, "Resource": "*"},
            {"Sid": "EnclaveDecryptWithAttestation", "Effect": "Allow",
             "Principal": {"AWS": a.enclave_role_arn},
             "Action": "kms:Decrypt", "Resource": "*", "Condition": condition},
            {"Sid": "DenyDecryptWithoutAttestation", "Effect": "Deny",
             "Principal": {"AWS": "*"},
             "Action": "kms:Decrypt", "Resource": "*",
             "Condition": {"Null": {"kms:RecipientAttestation:ImageSha384": "true"}}},
        ],
    }
    text = json.dumps(policy, indent=2)
    sids = [s["Sid"] for s in policy["Statement"]]
    assert len(sids) == len(set(sids))
    if len(text.encode()) > 32768:
        fail("the policy exceeds KMS's 32 KiB limit (too many images allowed at once)")
    return text


def main():
    ap = argparse.ArgumentParser(description="Render Sigil's KMS key policy.")
    ap.add_argument("--account-id", required=True)
    ap.add_argument("--admin-role-arn", required=True)
    ap.add_argument("--enclave-role-arn", required=True)
    ap.add_argument("--pcrs", action="append", default=[], required=True,
                    help="eif/pcrs.json of an allowed image (repeat during an upgrade)")
    ap.add_argument("--bind-pcr", action="append", type=int,
                    help="also require PCR N (1, 2, 3, 4 or 8) to match the --pcrs files")
    print(render(ap.parse_args()))


if __name__ == "__main__":
    main()
