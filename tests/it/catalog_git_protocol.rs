//! `/catalog.git` over raw HTTP (issue 11, must-show 4): the advertisement and `ls-refs`
//! lines exactly, negotiation (ACK/NAK/ready), a pack checked by stock `git index-pack`,
//! and bad protocol input (malformed pkt-lines, a want of an object not advertised, absurd
//! `deepen`, a 10 MB body, a gzip bomb): each a clean error, and the server keeps serving.

use std::io::Write;

use crate::catalog_git::{git, GitCatalog};
use crate::support::*;

/// A pkt-line request: `0000` and `0001` stand for flush and delimiter.
fn request(lines: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for line in lines {
        match *line {
            "0000" | "0001" => out.extend_from_slice(line.as_bytes()),
            text => out.extend_from_slice(format!("{:04x}{text}\n", text.len() + 5).as_bytes()),
        }
    }
    out
}

/// A response read back: text lines (special packets as `0000`/`0001`) up to `packfile`,
/// then the sideband bands.
#[derive(Debug, Default)]
struct Answer {
    lines: Vec<String>,
    pack: Vec<u8>,
    progress: String,
    error: String,
}

fn read_answer(body: &[u8]) -> Answer {
    let mut answer = Answer::default();
    let mut rest = body;
    let mut in_pack = false;
    while !rest.is_empty() {
        let length = usize::from_str_radix(std::str::from_utf8(&rest[..4]).unwrap(), 16).unwrap();
        if length < 4 {
            answer.lines.push(format!("{length:04}"));
            rest = &rest[4..];
            continue;
        }
        let data = &rest[4..length];
        rest = &rest[length..];
        if in_pack {
            match data[0] {
                1 => answer.pack.extend_from_slice(&data[1..]),
                2 => answer.progress.push_str(&String::from_utf8_lossy(&data[1..])),
                _ => answer.error.push_str(&String::from_utf8_lossy(&data[1..])),
            }
        } else {
            let text = String::from_utf8_lossy(data).trim_end_matches('\n').to_string();
            in_pack = text == "packfile";
            answer.lines.push(text);
        }
    }
    answer
}

async fn post(app: &TestApp, body: Vec<u8>, encoding: Option<&str>) -> reqwest::Response {
    let mut post = app
        .client
        .post(app.url("/catalog.git/git-upload-pack"))
        .header("content-type", "application/x-git-upload-pack-request")
        .header("git-protocol", "version=2");
    if let Some(encoding) = encoding {
        post = post.header("content-encoding", encoding);
    }
    post.body(body).send().await.unwrap()
}

async fn answer(app: &TestApp, lines: &[&str]) -> Answer {
    let response = post(app, request(lines), None).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/x-git-upload-pack-result");
    assert_eq!(response.headers()["cache-control"], "no-cache");
    read_answer(&response.bytes().await.unwrap())
}

/// Checks a pack with stock git (`index-pack` verifies every object and the checksum; with
/// `complete`, `--strict` also that every object a tree or commit names is in the pack);
/// returns its object count.
async fn verify_pack(pack: &[u8], complete: bool) -> u32 {
    let scratch = tempfile::tempdir().unwrap();
    git(scratch.path(), &["init", "-q", "--bare", "."]).await;
    let file = scratch.path().join("incoming.pack");
    std::fs::write(&file, pack).unwrap();
    let file = file.to_str().unwrap();
    let args = if complete { vec!["index-pack", "--strict", file] } else { vec!["index-pack", file] };
    git(scratch.path(), &args).await;
    u32::from_be_bytes(pack[8..12].try_into().unwrap())
}

async fn catalog_with_tag(app: &TestApp) -> GitCatalog {
    let catalog = GitCatalog::with_examples(app).await;
    git(&catalog.source, &["tag", "-a", "-m", "first", "v0.1.0", "llm-worker-rbee-cpu"]).await;
    git(&catalog.source, &["push", "-q", catalog.bare.to_str().unwrap(), "v0.1.0"]).await;
    catalog
}

#[tokio::test]
async fn advertisement_and_ls_refs_answer_as_protocol_v2_says() {
    let app = TestApp::start().await;
    let catalog = catalog_with_tag(&app).await;
    let response = app
        .client
        .get(app.url("/catalog.git/info/refs?service=git-upload-pack"))
        .header("git-protocol", "version=2")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/x-git-upload-pack-advertisement");
    assert_eq!(response.headers()["cache-control"], "no-cache");
    let advertised = read_answer(&response.bytes().await.unwrap()).lines;
    let agent = format!("agent=rbee-registry/{}", env!("CARGO_PKG_VERSION"));
    let expected = ["version 2", &agent, "ls-refs=unborn", "fetch=shallow", "object-format=sha1", "0000"];
    assert_eq!(advertised, expected);

    let tag = git(&catalog.source, &["rev-parse", "v0.1.0"]).await;
    let cpu = git(&catalog.source, &["rev-parse", "llm-worker-rbee-cpu"]).await;
    let master = git(&catalog.source, &["rev-parse", "master"]).await;
    let lines = ["command=ls-refs", "0001", "symrefs", "peel", "ref-prefix HEAD", "ref-prefix refs/tags/", "0000"];
    let listed = answer(&app, &lines).await.lines;
    let expected = [
        format!("{master} HEAD symref-target:refs/heads/master"),
        format!("{tag} refs/tags/v0.1.0 peeled:{cpu}"),
        "0000".to_string(),
    ];
    assert_eq!(listed, expected);

    // The same request gzip-compressed, as git sends large requests.
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gzip.write_all(&request(&lines)).unwrap();
    let response = post(&app, gzip.finish().unwrap(), Some("gzip")).await;
    assert_eq!(read_answer(&response.bytes().await.unwrap()).lines, expected);

    // HEAD naming a branch that does not exist yet: `unborn` when asked for, else nothing.
    git(&catalog.bare, &["symbolic-ref", "HEAD", "refs/heads/main"]).await;
    let unborn = answer(&app, &["command=ls-refs", "0001", "symrefs", "unborn", "ref-prefix HEAD", "0000"]).await;
    assert_eq!(unborn.lines, ["unborn HEAD symref-target:refs/heads/main", "0000"]);
    let without = answer(&app, &["command=ls-refs", "0001", "ref-prefix HEAD", "0000"]).await;
    assert_eq!(without.lines, ["0000"]);
}

#[tokio::test]
async fn negotiation_acknowledges_common_haves_and_sends_only_what_is_missing() {
    let app = TestApp::start().await;
    let catalog = GitCatalog::with_examples(&app).await;
    let commits = catalog.source_commits("llm-worker-rbee-cpu").await;
    let (tip, first) = commits.split_once('\n').unwrap();
    let want = format!("want {tip}");
    let have = format!("have {first}");
    let unknown = format!("have {}", "ab".repeat(20));

    // No `done`, a common have: ACK it, `ready`, then the pack (commit, root tree, README).
    let acked = answer(&app, &["command=fetch", "0001", &want, &unknown, &have, "0000"]).await;
    assert_eq!(acked.lines, ["acknowledgments", &format!("ACK {first}"), "ready", "0001", "packfile", "0000"]);
    assert_eq!(verify_pack(&acked.pack, false).await, 3);
    assert!(acked.progress.contains("Total 3"), "{acked:?}");
    assert!(acked.error.is_empty());

    // No common have and no `done`: NAK, and no pack yet.
    let nak = answer(&app, &["command=fetch", "0001", &want, &unknown, "0000"]).await;
    assert_eq!(nak.lines, ["acknowledgments", "NAK", "0000"]);
    assert!(nak.pack.is_empty());

    // `done` with nothing in common: the whole history of the branch, no progress asked.
    let all = answer(&app, &["command=fetch", "0001", &want, "no-progress", "done", "0000"]).await;
    assert_eq!(all.lines, ["packfile", "0000"]);
    assert!(all.progress.is_empty());
    assert_eq!(verify_pack(&all.pack, true).await, 8);

    // An absurd depth is as deep as the history goes: all of it, no shallow commit.
    let deep = answer(&app, &["command=fetch", "0001", &want, "deepen 2147483648", "done", "0000"]).await;
    assert_eq!(deep.lines, ["shallow-info", "0001", "packfile", "0000"]);
    assert_eq!(verify_pack(&deep.pack, true).await, 8);
    let shallow = answer(&app, &["command=fetch", "0001", &want, "deepen 1", "done", "0000"]).await;
    assert_eq!(shallow.lines, ["shallow-info", &format!("shallow {tip}"), "0001", "packfile", "0000"]);
    assert_eq!(verify_pack(&shallow.pack, false).await, 5);
}

fn err_line(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body).to_string();
    assert!(text.len() >= 8 && &text[4..8] == "ERR ", "not an ERR pkt-line: {text:?}");
    let length = usize::from_str_radix(&text[..4], 16).unwrap();
    assert_eq!(length, body.len(), "one ERR line and nothing else: {text:?}");
    text[8..].trim_end().to_string()
}

#[tokio::test]
async fn bad_protocol_input_gets_clean_errors() {
    let app = TestApp::start().await;
    let catalog = GitCatalog::with_examples(&app).await;
    let tip = git(&catalog.source, &["rev-parse", "llm-worker-rbee-cpu"]).await;
    let blob = git(&catalog.source, &["rev-parse", "llm-worker-rbee-cpu:PKGBUILD"]).await;
    let want = format!("want {tip}");
    let cases: Vec<(Vec<u8>, String)> = vec![
        (b"zzzzcommand=fetch".to_vec(), "malformed pkt-line at byte 0".into()),
        (b"0032want 1234".to_vec(), "truncated pkt-line at byte 0".into()),
        (request(&["command=fetch", "0001", &want]), "the request ends without a flush packet".into()),
        (request(&["command=push", "0001", "0000"]), "unknown command \"push\"".into()),
        (request(&["command=fetch", "0001", &format!("want {blob}"), "done", "0000"]), format!("upload-pack: not our ref {blob}")),
        (request(&["command=fetch", "0001", &format!("want {}", "cd".repeat(20)), "done", "0000"]), format!("upload-pack: not our ref {}", "cd".repeat(20))),
        (request(&["command=fetch", "0001", &want, "deepen 99999999999999999999999", "done", "0000"]), "invalid deepen".into()),
        (request(&["command=fetch", "0001", &want, "deepen 0", "done", "0000"]), "invalid deepen 0".into()),
        (request(&["command=fetch", "0001", &want, "filter blob:none", "done", "0000"]), "\"filter\" is not supported".into()),
        (request(&["command=fetch", "0001", "done", "0000"]), "fetch names no want".into()),
    ];
    for (body, expected) in cases {
        let response = post(&app, body.clone(), None).await;
        assert_eq!(response.status(), 200, "{body:?}");
        let message = err_line(&response.bytes().await.unwrap());
        assert!(message.contains(&expected), "{:?}: {message:?}", String::from_utf8_lossy(&body));
    }

    // A 10 MB body, and a gzip body that decodes to 10 MB: refused before parsing.
    let huge = post(&app, vec![b'0'; 10_000_000], None).await;
    assert_eq!(huge.status(), 413);
    assert!(huge.text().await.unwrap().contains("larger than 1048576 bytes"));
    let mut bomb = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    bomb.write_all(&vec![b'0'; 10_000_000]).unwrap();
    assert_eq!(post(&app, bomb.finish().unwrap(), Some("gzip")).await.status(), 413);
    assert_eq!(post(&app, b"not gzip".to_vec(), Some("gzip")).await.status(), 400);

    // Push and the dumb protocol are refused over raw HTTP too.
    let push = app.client.post(app.url("/catalog.git/git-receive-pack")).body("0000").send().await.unwrap();
    assert_eq!(push.status(), 403);
    assert!(push.text().await.unwrap().contains("read-only"));
    let receive = app.get("/catalog.git/info/refs?service=git-receive-pack").await;
    assert_eq!(receive.headers()["content-type"], "application/x-git-receive-pack-advertisement");
    let receive = read_answer(&receive.bytes().await.unwrap());
    assert_eq!(receive.lines[..2], ["# service=git-receive-pack", "0000"]);
    assert!(receive.lines[2].starts_with("ERR this catalog is read-only over HTTP"));
    assert_eq!(app.get("/catalog.git/info/refs").await.status(), 403);

    // The server keeps serving.
    let listed = answer(&app, &["command=ls-refs", "0001", "ref-prefix refs/heads/llm-worker-rbee-cpu", "0000"]).await;
    assert_eq!(listed.lines, [format!("{tip} refs/heads/llm-worker-rbee-cpu"), "0000".to_string()]);
}
