#!/usr/bin/env python3
"""Times the push of a manifest with many descriptors (issue 9).

Pushes COUNT small distinct blobs to REPOSITORY on the registry at BASE_URL (POST, then
PUT ?digest= with the bytes, over a few keep-alive connections), then PUTs ROUNDS image
manifests that reference all of them (each with its own annotation, so each is a new
manifest) and prints the time of each manifest PUT, from sending it to the whole answer.
Works against any Distribution registry (rbee-registry, Debian's docker-registry).

Usage: scripts/many-descriptors.py BASE_URL [COUNT=20000] [ROUNDS=3] [REPOSITORY=many/descriptors]
With SKIP_BLOBS=1 the blobs are taken as pushed already (an earlier run on the same storage):
only the manifests are pushed, to compare two builds on one database.
"""
import os
import hashlib
import http.client
import json
import sys
import threading
import time
import urllib.parse

base = urllib.parse.urlsplit(sys.argv[1])
count = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
repository = sys.argv[4] if len(sys.argv) > 4 else "many/descriptors"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def connection():
    return http.client.HTTPConnection(base.hostname, base.port, timeout=120)


def request(conn, method, path, body=None, headers=None):
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    data = response.read()
    return response, data


def push_blob(conn, content):
    digest = "sha256:" + hashlib.sha256(content).hexdigest()
    response, data = request(conn, "POST", f"/v2/{repository}/blobs/uploads/")
    if response.status != 202:
        raise SystemExit(f"POST answered {response.status}: {data[:300]!r}")
    location = urllib.parse.urlsplit(response.getheader("Location"))
    separator = "&" if location.query else "?"
    path = f"{location.path}?{location.query}" if location.query else location.path
    response, data = request(
        conn, "PUT", f"{path}{separator}digest={digest}", content,
        {"Content-Type": "application/octet-stream", "Content-Length": str(len(content))},
    )
    if response.status != 201:
        raise SystemExit(f"PUT ?digest= answered {response.status}: {data[:300]!r}")
    return digest


contents = [f"blob {i} of {count}".encode() for i in range(count)]
digests = [None] * count


def pusher(worker, workers):
    conn = connection()
    for i in range(worker, count, workers):
        digests[i] = push_blob(conn, contents[i])


started = time.monotonic()
if os.environ.get("SKIP_BLOBS") == "1":
    digests = ["sha256:" + hashlib.sha256(content).hexdigest() for content in contents]
else:
    threads = [threading.Thread(target=pusher, args=(w, 8)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if any(digest is None for digest in digests):
        raise SystemExit("some blob pushes failed")
    print(f"pushed {count} blobs in {time.monotonic() - started:.1f} s", flush=True)

layers = [
    {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest, "size": len(content)}
    for digest, content in zip(digests[1:], contents[1:])
]
conn = connection()
for round_number in range(rounds):
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digests[0], "size": len(contents[0])},
        "layers": layers,
        "annotations": {"round": f"{round_number} {time.time()}"},
    }
    body = json.dumps(manifest, separators=(",", ":")).encode()
    started = time.monotonic()
    response, data = request(
        conn, "PUT", f"/v2/{repository}/manifests/round{round_number}", body,
        {"Content-Type": OCI_MANIFEST, "Content-Length": str(len(body))},
    )
    elapsed = time.monotonic() - started
    if response.status != 201:
        raise SystemExit(f"manifest PUT answered {response.status}: {data[:300]!r}")
    print(f"manifest PUT with {count} descriptors ({len(body)} bytes): {elapsed * 1000:.0f} ms", flush=True)
