//! An upstream that serves a manifest whose bytes do not hash to the digest it names (a
//! tiny Python registry that tampers with a manifest), or a blob whose bytes do not: the
//! mirror refuses it with a clear error, stores nothing of it, exits non-zero and records
//! the failure.

use std::io::BufRead;

use crate::mirror_support::*;
use crate::support::*;

/// Serves `t/tampered:v1` announcing the digest of one manifest and sending other bytes.
const TAMPERING_REGISTRY: &str = r#"
import hashlib, json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

layer = b"layer bytes"
config = b"{}"
def descriptor(media_type, data):
    return {"mediaType": media_type, "digest": "sha256:" + hashlib.sha256(data).hexdigest(), "size": len(data)}
manifest = {
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": descriptor("application/vnd.oci.image.config.v1+json", config),
    "layers": [descriptor("application/vnd.oci.image.layer.v1.tar", layer)],
    "annotations": {"note": "original"},
}
original = json.dumps(manifest).encode()
digest = "sha256:" + hashlib.sha256(original).hexdigest()
tampered = original.replace(b"original", b"tampered")
# t/badblob: an honest manifest whose layer is served with other bytes (same length).
honest = json.dumps(dict(manifest, annotations={"note": "honest"})).encode()
honest_digest = "sha256:" + hashlib.sha256(honest).hexdigest()
blobs = {
    manifest["config"]["digest"]: config,
    manifest["layers"][0]["digest"]: b"LAYER BYTES",
}

class Handler(BaseHTTPRequestHandler):
    def answer(self, body):
        path = self.path.split("?")[0]
        if path == "/v2/":
            status, payload, headers = 200, b"{}", {"Content-Type": "application/json"}
        elif path == "/v2/t/tampered/tags/list":
            status, payload, headers = 200, json.dumps({"name": "t/tampered", "tags": ["v1"]}).encode(), {"Content-Type": "application/json"}
        elif path in ("/v2/t/tampered/manifests/v1", "/v2/t/tampered/manifests/" + digest):
            status, payload = 200, tampered
            headers = {"Content-Type": manifest["mediaType"], "Docker-Content-Digest": digest}
        elif path == "/v2/t/badblob/tags/list":
            status, payload, headers = 200, json.dumps({"name": "t/badblob", "tags": ["v1"]}).encode(), {"Content-Type": "application/json"}
        elif path in ("/v2/t/badblob/manifests/v1", "/v2/t/badblob/manifests/" + honest_digest):
            status, payload = 200, honest
            headers = {"Content-Type": manifest["mediaType"], "Docker-Content-Digest": honest_digest}
        elif path.startswith("/v2/t/badblob/blobs/") and path.rsplit("/", 1)[1] in blobs:
            status, payload = 200, blobs[path.rsplit("/", 1)[1]]
            headers = {"Content-Type": "application/octet-stream"}
        else:
            status, payload, headers = 404, b'{"errors":[{"code":"NOT_FOUND","message":"unknown"}]}', {"Content-Type": "application/json"}
            if "/blobs/" in path:
                sys.stderr.write("blob requested: " + path + "\n")
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if body:
            self.wfile.write(payload)
    def do_GET(self):
        self.answer(True)
    def do_HEAD(self):
        self.answer(False)
    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], digest, flush=True)
server.serve_forever()
"#;

struct Upstream {
    child: std::process::Child,
    url: String,
    digest: String,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_tampering_registry() -> Upstream {
    assert!(have("python3"), "python3 is needed for the tampering upstream");
    let mut child = std::process::Command::new("python3")
        .args(["-c", TAMPERING_REGISTRY])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let mut words = line.split_whitespace();
    let port = words.next().unwrap().to_string();
    let digest = words.next().unwrap().to_string();
    Upstream {
        child,
        url: format!("http://127.0.0.1:{port}"),
        digest,
    }
}

#[tokio::test]
async fn a_manifest_that_does_not_match_its_digest_is_refused_and_nothing_is_stored() {
    let upstream = start_tampering_registry();
    let site = TestSite::new().await;
    let run = run_mirror(mirror_command(&site, &upstream.url, &["--repo", "t/tampered"])).await;
    assert!(!run.success, "a tampered manifest must fail the run:\n{}", run.stdout);
    assert_eq!(run.count("errors"), 1, "{}", run.stdout);
    assert_eq!(run.count("manifests"), 0);
    assert_eq!(run.count("blobs"), 0);
    assert!(
        run.stderr.contains(&upstream.digest) && run.stderr.contains("refused, nothing stored"),
        "the error names the digest and the refusal: {}",
        run.stderr
    );

    let mirror = site.start().await;
    assert_eq!(mirror.get("/v2/t/tampered/manifests/v1").await.status(), 404);
    assert_eq!(
        mirror
            .get(&format!("/v2/t/tampered/manifests/{}", upstream.digest))
            .await
            .status(),
        404
    );
    assert!(mirror.stored_blobs().await.is_empty());
    let state: serde_json::Value = mirror.get("/v1/mirrors").await.json().await.unwrap();
    let entry = &state["mirrors"][0];
    assert_eq!(entry["repository"], "t/tampered");
    assert_eq!(entry["result"], "failed");
    assert!(entry["error"].as_str().unwrap().contains("hash to"), "{entry}");
    assert!(entry["last_success_at"].is_null());
    // Never succeeded: /readyz names it, and stays ready.
    let ready = mirror.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    let ready: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(ready["mirrors"][0]["repository"], "t/tampered", "{ready}");
}

#[tokio::test]
async fn a_blob_whose_bytes_do_not_match_its_digest_is_refused_and_never_served() {
    let upstream = start_tampering_registry();
    let site = TestSite::new().await;
    let run = run_mirror(mirror_command(&site, &upstream.url, &["--repo", "t/badblob"])).await;
    assert!(!run.success, "a tampered blob must fail the run:\n{}", run.stdout);
    assert_eq!(run.count("errors"), 1, "{}", run.stdout);
    assert_eq!(run.count("manifests"), 0);
    let layer = sha256(b"layer bytes");
    assert!(
        run.stderr.contains(&layer) && run.stderr.contains("refused, nothing stored"),
        "{}",
        run.stderr
    );
    let mirror = site.start().await;
    assert_eq!(mirror.get("/v2/t/badblob/manifests/v1").await.status(), 404);
    assert_eq!(mirror.get(&format!("/v2/t/badblob/blobs/{layer}")).await.status(), 404);
    let stored = mirror.stored_blobs().await;
    assert!(stored.iter().all(|path| !path.contains(&layer[7..])), "{stored:?}");
    let state: serde_json::Value = mirror.get("/v1/mirrors").await.json().await.unwrap();
    assert_eq!(
        state["transfers"],
        serde_json::json!([]),
        "the refused copy is not kept to resume"
    );
}
