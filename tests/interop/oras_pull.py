#!/usr/bin/env python3
"""Pulls a file artifact through the ORAS Python SDK, without credentials, and checks its bytes.

Usage: oras_pull.py HOST:PORT REPOSITORY:TAG OUTDIR EXPECTED_SHA256
Prints the pulled file names as JSON; exits non-zero on failure.
"""
import hashlib
import json
import sys

import oras.client


def main():
    host, reference, outdir, expected = sys.argv[1:5]
    client = oras.client.OrasClient(hostname=host, insecure=True)
    pulled = client.pull(target=f"{host}/{reference}", outdir=outdir)
    assert pulled, "nothing pulled"
    with open(pulled[0], "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    assert digest == expected, f"pulled {digest}, expected {expected}"
    print(json.dumps(pulled))


if __name__ == "__main__":
    main()
