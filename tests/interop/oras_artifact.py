#!/usr/bin/env python3
"""Pushes and pulls a file artifact with a custom artifactType through the ORAS Python SDK.

Usage: oras_artifact.py HOST:PORT REPOSITORY TAG WORKDIR
Prints the manifest digest on success; exits non-zero with a message on any mismatch.
"""
import hashlib
import json
import os
import sys

import oras.client
import oras.defaults
import oras.oci

ARTIFACT_TYPE = "application/vnd.rbee.test.artifact.v1"


def main():
    host, repository, tag, workdir = sys.argv[1:5]
    target = f"{host}/{repository}:{tag}"
    client = oras.client.OrasClient(hostname=host, insecure=True)
    registry = client  # OrasClient is the SDK's Registry provider

    payload_path = os.path.join(workdir, "worker.bin")
    payload = os.urandom(300_000)
    with open(payload_path, "wb") as f:
        f.write(payload)

    # 1. The SDK's own push and pull of a plain file.
    response = client.push(target=target, files=[payload_path], disable_path_validation=True)
    assert response.status_code == 201, response.text
    pulled = client.pull(target=target, outdir=os.path.join(workdir, "plain"))
    with open(pulled[0], "rb") as f:
        assert f.read() == payload, "plain pull returned other bytes"

    # 2. A manifest with a custom artifactType, built and pushed with the SDK's primitives.
    container = registry.get_container(f"{host}/{repository}:{tag}-typed")
    layer = oras.oci.NewLayer(payload_path, is_dir=False, media_type="application/vnd.rbee.test.file")
    layer["annotations"] = {"org.opencontainers.image.title": "worker.bin"}
    response = registry.upload_blob(payload_path, container, layer)
    assert response.status_code in (200, 201, 202), response.text
    config_path = os.path.join(workdir, "config.json")
    with open(config_path, "w") as f:
        f.write("{}")
    config = oras.oci.NewLayer(config_path, is_dir=False, media_type="application/vnd.oci.empty.v1+json")
    config.pop("annotations", None)
    response = registry.upload_blob(config_path, container, config)
    assert response.status_code in (200, 201, 202), response.text
    manifest = oras.oci.NewManifest()
    manifest["artifactType"] = ARTIFACT_TYPE
    manifest["config"] = config
    manifest["layers"] = [layer]
    response = registry.upload_manifest(manifest, container)
    assert response.status_code == 201, response.text
    digest = response.headers["Docker-Content-Digest"]

    fetched = registry.get_manifest(container)
    assert fetched["artifactType"] == ARTIFACT_TYPE, fetched
    out = os.path.join(workdir, "typed.bin")
    registry.download_blob(container, fetched["layers"][0]["digest"], out)
    with open(out, "rb") as f:
        data = f.read()
    assert data == payload, "typed pull returned other bytes"
    assert "sha256:" + hashlib.sha256(data).hexdigest() == layer["digest"]
    pulled = client.pull(target=f"{host}/{repository}:{tag}-typed", outdir=os.path.join(workdir, "typed"))
    assert [os.path.basename(p) for p in pulled] == ["worker.bin"], pulled
    print(json.dumps({"digest": digest, "artifactType": fetched["artifactType"]}))


if __name__ == "__main__":
    main()
