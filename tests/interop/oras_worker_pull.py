#!/usr/bin/env python3
"""Pulls one platform's package of a worker version with the ORAS Python SDK.

Usage: oras_worker_pull.py HOST:PORT REPOSITORY TAG OS/ARCH OUTDIR
Reads the version's index, picks the entry whose platform matches, pulls that manifest with
the SDK (which writes each layer under its org.opencontainers.image.title), and prints
{"files": [...], "package": name, "sha256": digest of the package file} as JSON.
"""
import hashlib
import json
import os
import sys

import oras.client

INDEX = "application/vnd.oci.image.index.v1+json"


def main():
    host, repository, tag, platform, outdir = sys.argv[1:6]
    os_name, architecture = platform.split("/")
    client = oras.client.OrasClient(hostname=host, insecure=True)
    container = client.get_container(f"{host}/{repository}:{tag}")
    index = client.get_manifest(container, allowed_media_type=[INDEX])
    assert index["mediaType"] == INDEX, index
    entries = [
        m for m in index["manifests"]
        if m["platform"]["os"] == os_name and m["platform"]["architecture"] == architecture
    ]
    assert len(entries) == 1, f"no single {platform} entry in {index}"
    files = client.pull(target=f"{host}/{repository}@{entries[0]['digest']}", outdir=outdir)
    names = sorted(os.path.basename(f) for f in files)
    package = [f for f in files if f.endswith(".tar.gz")]
    assert len(package) == 1, files
    with open(package[0], "rb") as f:
        digest = "sha256:" + hashlib.sha256(f.read()).hexdigest()
    print(json.dumps({"files": names, "package": os.path.basename(package[0]), "sha256": digest}))


if __name__ == "__main__":
    main()
