#!/usr/bin/env python3
"""Writes the hand-made seed corpora under fuzz/corpus/<target>/ (committed; rerun after
changing this file). Small on purpose: libFuzzer grows its own corpus from these. Files
named regression-* are inputs that once failed (bugs since fixed); this script leaves them."""
import gzip, io, json, os, shutil, struct, tarfile

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
CORPUS = os.path.join(ROOT, "corpus")
FIXTURES = os.path.join(ROOT, "..", "tests", "fixtures", "workers")

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
WORKER = "application/vnd.rbee.worker.v1+json"
PACKAGE = "application/vnd.rbee.worker.package.v1.tar+gzip"
METADATA = "application/vnd.rbee.worker.metadata.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"

def d(c, alg="sha256"):
    return f"{alg}:{c * (64 if alg == 'sha256' else 128)}"

def write(target, name, data):
    directory = os.path.join(CORPUS, target)
    os.makedirs(directory, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data)

def js(value):
    return json.dumps(value, separators=(",", ":"))

# --- manifests: what publish pushes, what skopeo/oras push, and near misses ---------------
platform_manifest = {
    "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": WORKER,
    "config": {"mediaType": CONFIG, "digest": d("a"), "size": 41},
    "layers": [
        {"mediaType": PACKAGE, "digest": d("b"), "size": 1234,
         "annotations": {"org.opencontainers.image.title": "llm-worker-rbee-cpu-0.1.0-linux-x86_64.tar.gz"}},
        {"mediaType": METADATA, "digest": d("c"), "size": 900,
         "annotations": {"org.opencontainers.image.title": "metadata.json"}},
    ],
    "annotations": {"dev.rbee.worker.id": "llm-worker-rbee-cpu", "org.opencontainers.image.version": "0.1.0"},
}
worker_index = {
    "schemaVersion": 2, "mediaType": OCI_INDEX, "artifactType": WORKER,
    "manifests": [
        {"mediaType": OCI_MANIFEST, "artifactType": WORKER, "digest": d("d"), "size": 700,
         "platform": {"os": "linux", "architecture": "amd64"},
         "annotations": {"dev.rbee.package.digest": d("b"), "dev.rbee.package.size": "1234"}},
        {"mediaType": OCI_MANIFEST, "artifactType": WORKER, "digest": d("e"), "size": 700,
         "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
    ],
    "annotations": {"dev.rbee.worker.id": "llm-worker-rbee-cpu"},
}
image_manifest = {
    "schemaVersion": 2, "mediaType": OCI_MANIFEST,
    "config": {"mediaType": CONFIG, "digest": d("1"), "size": 2},
    "layers": [
        {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d("2"), "size": 3},
        {"mediaType": "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", "digest": d("3"),
         "size": 3, "urls": ["https://example.com/layer"]},
    ],
}
referrer = {
    "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": "application/vnd.rbee.worker.pkgbuild.v1",
    "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": d("4"), "size": 2},
    "layers": [{"mediaType": "application/vnd.rbee.worker.pkgbuild.v1+text", "digest": d("5"), "size": 10}],
    "subject": {"mediaType": OCI_INDEX, "digest": d("6"), "size": 99},
    "annotations": {"org.opencontainers.image.created": "2025-01-01T00:00:00Z"},
}
docker_manifest = {
    "schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
    "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": d("7"), "size": 5},
    "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": d("8", "sha512"), "size": 6}],
}
docker_list = {
    "schemaVersion": 2, "mediaType": DOCKER_LIST,
    "manifests": [{"mediaType": DOCKER_MANIFEST, "digest": d("9"), "size": 7,
                   "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}}],
}
bare_index = {"schemaVersion": 2, "manifests": []}
weird_platform_index = dict(worker_index, manifests=[
    {"mediaType": OCI_MANIFEST, "digest": d("d"), "size": 1, "platform": {"os": "Linux", "architecture": "amd64"}},
])
# Selector byte: '0' none, '1' OCI manifest, '2' OCI index, '3' Docker manifest, '4' Docker list,
# '5' index with parameters, '6' application/json, '7' empty.
for name, selector, body in [
    ("platform-manifest", "1", platform_manifest),
    ("worker-index", "2", worker_index),
    ("worker-index-params", "5", worker_index),
    ("worker-index-no-header", "0", worker_index),
    ("image-manifest", "1", image_manifest),
    ("referrer", "0", referrer),
    ("docker-manifest", "3", docker_manifest),
    ("docker-list", "4", docker_list),
    ("bare-index", "0", bare_index),
    ("uppercase-platform", "2", weird_platform_index),
    ("mismatch", "2", image_manifest),
]:
    write("manifest", name, selector + js(body))
write("manifest", "schema-1", '6{"schemaVersion":1}')
write("manifest", "not-an-object", "0[2]")

# --- names, references, digests and /v2 paths ------------------------------------------
for i, text in enumerate([
    "", "_catalog", "workers/llm-worker-rbee-cpu", "a.b/c_d/e__f/g---h", "latest", "v1.0.0-rc.1",
    d("a"), d("0", "sha512"), f"a/blobs/{d('a')}", "a/b/blobs/uploads/", "a/b/blobs/uploads",
    "a/blobs/uploads/0f-12", "a/b/c/manifests/latest", f"a/manifests/{d('b')}", "x/tags/list",
    f"x/referrers/{d('c')}", "blobs/tags/list", "tags/manifests/v1", f"../blobs/{d('a')}",
    "a/blobs/uploads/../../x", "a/manifests/bad:tag", "a___b/tags/list", "a/blobs/blobs/uploads/",
]):
    write("names", f"seed-{i:02}", text)

# --- ranges: 8-byte size, 8-byte seed (little endian; high byte picks the width), header ---
def numbers(size, size_width, seed, seed_width):
    return struct.pack("<Q", size | (size_width << 56)) + struct.pack("<Q", seed | (seed_width << 56))
for i, (size, header) in enumerate([
    (100, "bytes=0-9"), (100, "bytes=90-200"), (100, "bytes=10-"), (100, "bytes=-10"), (100, "bytes=-1000"),
    (100, "bytes=100-"), (100, "bytes=0-1,5-6"), (0, "bytes=0-"), (0, "bytes=-1"), (100, "0-99"),
    (100, "bytes 5-9/10"), (100, "bytes=5-9"), (100, "0-18446744073709551615"), (100, "0-9223372036854775807"),
    (100, " bytes = 1 - 2 "), (100, "items=0-1"),
]):
    write("ranges", f"seed-{i:02}", numbers(size, 1, 0x0102, 1) + header.encode())

# --- worker metadata, platform names, versions, platform manifests, configs --------------
for name in sorted(os.listdir(FIXTURES)):
    if name.endswith(".metadata.json"):
        with open(os.path.join(FIXTURES, name)) as f:
            write("worker_metadata", name, js(json.load(f)))
for i, text in enumerate(["linux/amd64", "linux/arm64/v8", "linux-x86_64", "macos-arm64", "darwin-aarch64",
                          "windows-x86_64", "0.1.0", "1.0.0-rc.1", "1.0.0+build"]):
    write("worker_metadata", f"text-{i}", text)
write("worker_metadata", "platform-manifest", js(platform_manifest))
write("worker_metadata", "worker-index", js(worker_index))
write("worker_metadata", "image-config", js({"architecture": "amd64", "os": "linux"}))

# --- bearer challenges ---------------------------------------------------------------------
for i, text in enumerate([
    'Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:workers/a:pull,push"',
    'bearer realm=https://auth.example.com/token, service=registry',
    'Bearer scope="repository:a:pull", realm="https://h/token"',
    'Basic realm="registry"',
    'Bearer service="x"',
    'Bearer realm="",error="invalid_token"',
]):
    write("bearer_challenge", f"seed-{i}", text)

# --- unpack: entry scripts, real packages and hostile tars --------------------------------
scripts = {
    "package": "d bin/\nf bin/llm-worker-rbee-cpu #!/bin/sh\nf LICENSE GPL\nf README.md hi\nf metadata.json {}\n",
    "dotdot": "f ../escape x\n",
    "dotdot-inside": "f a/../../escape x\n",
    "absolute": "f /etc/passwd x\n",
    "symlink-out": "l link ../../etc/passwd\n",
    "symlink-abs": "l link /etc\n",
    "symlink-then-write": "l dir ..\nf dir/canary x\n",
    "symlink-inside": "d lib\nf lib/tool x\nl bin/tool ../lib/tool\n",
    "hardlink-out": "h link ../canary\n",
    "hardlink-abs": "h link /etc/passwd\n",
    "hardlink-inside": "f a x\nh b a\n",
    "hardlink-to-link": "l s ../../etc/passwd\nh h s\n",
    "devices": "c dev/null\nb dev/sda\np fifo\n",
    "long-name": "L ../../../long-escape\nf short x\n",
    "long-link": "K ../../etc/passwd\nl short placeholder\n",
    "pax-path": "P path=../pax-escape\nf benign x\n",
    "pax-linkpath": "P linkpath=/etc/passwd\nl benign placeholder\n",
    "duplicate": "f a x\nf a y\nd a\n",
    "dot": "f . x\nd ./\nf ./a/./b x\n",
}
for name, script in scripts.items():
    write("unpack", f"script-{name}", script)

def tar_bytes(entries, fmt=tarfile.GNU_FORMAT):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=fmt) as tar:
        for name, kind, data, link in entries:
            info = tarfile.TarInfo(name)
            info.type = kind
            info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
            info.linkname = link
            info.size = len(data)
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data) if data else None)
    return buffer.getvalue()

package = tar_bytes([
    ("bin", tarfile.DIRTYPE, b"", ""),
    ("bin/llm-worker-rbee-cpu", tarfile.REGTYPE, b"#!/bin/sh\necho hi\n", ""),
    ("LICENSE", tarfile.REGTYPE, b"GPL-3.0-or-later\n", ""),
    ("lib/libx.so", tarfile.SYMTYPE, b"", "libx.so.1"),
])
write("unpack", "package.tar.gz", gzip.compress(package, mtime=0))
write("unpack", "package.tar", package)
write("unpack", "hostile-gnu.tar", tar_bytes([
    ("../x", tarfile.REGTYPE, b"x", ""),
    ("/abs", tarfile.REGTYPE, b"x", ""),
    ("l", tarfile.SYMTYPE, b"", "../../.."),
    ("h", tarfile.LNKTYPE, b"", "../etc/passwd"),
    ("a" * 120 + "/../../x", tarfile.REGTYPE, b"x", ""),
]))
write("unpack", "hostile-pax.tar", tar_bytes([
    ("p" * 150, tarfile.REGTYPE, b"x", ""),
    ("link", tarfile.SYMTYPE, b"", "/" + "e" * 120),
], fmt=tarfile.PAX_FORMAT))

# git_request: /catalog.git/git-upload-pack bodies (pkt-lines; "0000"/"0001" are packets).
def pkt(*lines):
    out = b""
    for line in lines:
        if line in ("0000", "0001", "0002"):
            out += line.encode()
        else:
            data = line.encode() + b"\n"
            out += b"%04x" % (len(data) + 4) + data
    return out

tip = "1" * 40
old = "2" * 40
git_requests = {
    "ls-refs": pkt("command=ls-refs", "agent=git/2.47.3", "object-format=sha1", "0001",
                   "peel", "symrefs", "unborn", "ref-prefix HEAD", "ref-prefix refs/heads/", "0000"),
    "clone": pkt("command=fetch", "0001", "thin-pack", "ofs-delta", "include-tag",
                 f"want {tip}", "done", "0000"),
    "negotiate": pkt("command=fetch", "0001", f"want {tip}", f"have {old}", f"shallow {old}", "0000"),
    "shallow": pkt("command=fetch", "0001", f"want {tip}", "deepen 2147483647", "done", "0000"),
    "since": pkt("command=fetch", "0001", f"want {tip}", "deepen-since 1700000000", "done", "0000"),
    "empty": pkt("0000"),
    "malformed": b"00zzcommand=fetch",
    "truncated": b"0032want 1234",
}
for name, body in git_requests.items():
    write("git_request", name, body)

# --- archive_layout: selector byte (0 path, 1 index.json entry, 2 image name, 3 --since) ----
archive_layout = [
    b"\x00./blobs/sha256/abc",
    b"\x00../../etc/passwd",
    b"\x01team/app:v1\n\n\n",
    b"\x01v1\nregistry.example:5000/team/app:v1\n\n",
    b"\x01\n\nworkers/llm-worker-rbee-cpu\n",
    b"\x01v1\n\n\nimported/app",
    b"\x02localhost/team/app:v1@sha256:00",
    b"\x032026-12-02T20:00:00.5+01:00",
    b"\x031970-01-01",
]
for i, body in enumerate(archive_layout):
    write("archive_layout", f"seed-{i:02}", body)
