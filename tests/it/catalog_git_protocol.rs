//! `/catalog.git` over raw HTTP (issue 11, must-show 4): the advertisement and `ls-refs`
//! lines exactly, negotiation (ACK/NAK/ready), a pack checked by stock `git index-pack`,
//! and bad protocol input (malformed pkt-lines, a want of an object not advertised, absurd
//! `deepen`, a 10 MB body, a gzip bomb): each a clean error, and the server keeps serving.

use std::io::Write;

use crate::catalog_git_fixture::*;
use crate::support::*;

async fn catalog_with_tag(app: &TestApp) -> GitCatalog {
    let catalog = GitCatalog::with_examples(app).await;
    git(
        &catalog.source,
        &["tag", "-a", "-m", "first", "v0.1.0", "llm-worker-rbee-cpu"],
    )
    .await;
    git(
        &catalog.source,
        &["push", "-q", catalog.bare.to_str().unwrap(), "v0.1.0"],
    )
    .await;
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
    assert_eq!(
        response.headers()["content-type"],
        "application/x-git-upload-pack-advertisement"
    );
    assert_eq!(response.headers()["cache-control"], "no-cache");
    let advertised = read_answer(&response.bytes().await.unwrap()).lines;
    let agent = format!("agent=rbee-registry/{}", env!("CARGO_PKG_VERSION"));
    let expected = [
        "version 2",
        &agent,
        "ls-refs=unborn",
        "fetch=shallow",
        "object-format=sha1",
        "0000",
    ];
    assert_eq!(advertised, expected);

    let tag = git(&catalog.source, &["rev-parse", "v0.1.0"]).await;
    let cpu = git(&catalog.source, &["rev-parse", "llm-worker-rbee-cpu"]).await;
    let master = git(&catalog.source, &["rev-parse", "master"]).await;
    let lines = [
        "command=ls-refs",
        "0001",
        "symrefs",
        "peel",
        "ref-prefix HEAD",
        "ref-prefix refs/tags/",
        "0000",
    ];
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
    let unborn = answer(
        &app,
        &[
            "command=ls-refs",
            "0001",
            "symrefs",
            "unborn",
            "ref-prefix HEAD",
            "0000",
        ],
    )
    .await;
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
    assert_eq!(
        acked.lines,
        [
            "acknowledgments",
            &format!("ACK {first}"),
            "ready",
            "0001",
            "packfile",
            "0000"
        ]
    );
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
    let deep = answer(
        &app,
        &["command=fetch", "0001", &want, "deepen 2147483648", "done", "0000"],
    )
    .await;
    assert_eq!(deep.lines, ["shallow-info", "0001", "packfile", "0000"]);
    assert_eq!(verify_pack(&deep.pack, true).await, 8);
    let shallow = answer(&app, &["command=fetch", "0001", &want, "deepen 1", "done", "0000"]).await;
    assert_eq!(
        shallow.lines,
        ["shallow-info", &format!("shallow {tip}"), "0001", "packfile", "0000"]
    );
    assert_eq!(verify_pack(&shallow.pack, false).await, 5);
}

#[tokio::test]
async fn deepen_since_cuts_history_at_a_commit_time() {
    let app = TestApp::start().await;
    let catalog = GitCatalog::with_examples(&app).await;
    let tip = git(&catalog.source, &["rev-parse", "llm-worker-rbee-cpu"]).await;
    let want = format!("want {tip}");
    let all = answer(
        &app,
        &["command=fetch", "0001", &want, "deepen-since 0", "done", "0000"],
    )
    .await;
    assert_eq!(all.lines, ["shallow-info", "0001", "packfile", "0000"]);
    assert_eq!(verify_pack(&all.pack, true).await, 8);
    // Every parent is older than a time in the future: the want alone, shallow.
    let future = "deepen-since 99999999999";
    let cut = answer(&app, &["command=fetch", "0001", &want, future, "done", "0000"]).await;
    assert_eq!(
        cut.lines,
        ["shallow-info", &format!("shallow {tip}"), "0001", "packfile", "0000"]
    );
    assert_eq!(verify_pack(&cut.pack, false).await, 5);
}

fn err_line(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body).to_string();
    assert!(
        text.len() >= 8 && &text[4..8] == "ERR ",
        "not an ERR pkt-line: {text:?}"
    );
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
        (
            request(&["command=fetch", "0001", &want]),
            "the request ends without a flush packet".into(),
        ),
        (
            request(&["command=push", "0001", "0000"]),
            "unknown command \"push\"".into(),
        ),
        (
            request(&["command=fetch", "0001", &format!("want {blob}"), "done", "0000"]),
            format!("upload-pack: not our ref {blob}"),
        ),
        (
            request(&[
                "command=fetch",
                "0001",
                &format!("want {}", "cd".repeat(20)),
                "done",
                "0000",
            ]),
            format!("upload-pack: not our ref {}", "cd".repeat(20)),
        ),
        (
            request(&[
                "command=fetch",
                "0001",
                &want,
                "deepen 99999999999999999999999",
                "done",
                "0000",
            ]),
            "invalid deepen".into(),
        ),
        (
            request(&["command=fetch", "0001", &want, "deepen 0", "done", "0000"]),
            "invalid deepen 0".into(),
        ),
        (
            request(&["command=fetch", "0001", &want, "filter blob:none", "done", "0000"]),
            "\"filter\" is not supported".into(),
        ),
        (
            request(&["command=fetch", "0001", "done", "0000"]),
            "fetch names no want".into(),
        ),
    ];
    for (body, expected) in cases {
        let response = post(&app, body.clone(), None).await;
        assert_eq!(response.status(), 200, "{body:?}");
        let message = err_line(&response.bytes().await.unwrap());
        assert!(
            message.contains(&expected),
            "{:?}: {message:?}",
            String::from_utf8_lossy(&body)
        );
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
    let push = app
        .client
        .post(app.url("/catalog.git/git-receive-pack"))
        .body("0000")
        .send()
        .await
        .unwrap();
    assert_eq!(push.status(), 403);
    assert!(push.text().await.unwrap().contains("read-only"));
    let receive = app.get("/catalog.git/info/refs?service=git-receive-pack").await;
    assert_eq!(
        receive.headers()["content-type"],
        "application/x-git-receive-pack-advertisement"
    );
    let receive = read_answer(&receive.bytes().await.unwrap());
    assert_eq!(receive.lines[..2], ["# service=git-receive-pack", "0000"]);
    assert!(receive.lines[2].starts_with("ERR this catalog is read-only over HTTP"));
    assert_eq!(app.get("/catalog.git/info/refs").await.status(), 403);

    // The server keeps serving.
    let listed = answer(
        &app,
        &[
            "command=ls-refs",
            "0001",
            "ref-prefix refs/heads/llm-worker-rbee-cpu",
            "0000",
        ],
    )
    .await;
    assert_eq!(
        listed.lines,
        [format!("{tip} refs/heads/llm-worker-rbee-cpu"), "0000".to_string()]
    );
}

/// `count` files of `size` bytes of text that compresses poorly, different per `seed`.
fn noisy_files(count: usize, size: usize, seed: u64) -> Vec<(String, String)> {
    let mut state = seed | 1;
    (0..count)
        .map(|index| {
            let text: String = (0..size)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    char::from(b'a' + (state % 26) as u8)
                })
                .collect();
            (format!("data/file-{index:03}.txt"), text)
        })
        .collect()
}

#[tokio::test]
async fn a_pack_of_many_frames_streams_intact_and_clients_that_leave_free_their_place() {
    let app = TestApp::start().await;
    let catalog = GitCatalog::with_examples(&app).await;
    let files = noisy_files(24, 24 * 1024, 7);
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(path, text)| (path.as_str(), text.as_str()))
        .collect();
    let tip = catalog.commit("llm-worker-rbee-big", &files, "half a megabyte").await;
    let want = format!("want {tip}");
    let big = answer(&app, &["command=fetch", "0001", &want, "ofs-delta", "done", "0000"]).await;
    assert!(big.pack.len() > 256 << 10, "{} bytes", big.pack.len());
    assert_eq!(verify_pack(&big.pack, true).await, 1 + 2 + 24);

    // Clients that read a little and go away: each gives its pack thread back (there are
    // four), so the request after them is answered.
    for _ in 0..6 {
        let mut response = post(&app, request(&["command=fetch", "0001", &want, "done", "0000"]), None).await;
        assert_eq!(response.status(), 200);
        assert!(response.chunk().await.unwrap().is_some());
        drop(response);
    }
    let listed = answer(
        &app,
        &[
            "command=ls-refs",
            "0001",
            "ref-prefix refs/heads/llm-worker-rbee-big",
            "0000",
        ],
    )
    .await;
    assert_eq!(
        listed.lines,
        [format!("{tip} refs/heads/llm-worker-rbee-big"), "0000".to_string()]
    );
    let again = answer(&app, &["command=fetch", "0001", &want, "done", "0000"]).await;
    assert_eq!(verify_pack(&again.pack, true).await, 1 + 2 + 24);
}

#[tokio::test]
async fn a_damaged_object_ends_the_pack_with_a_sideband_error() {
    let app = TestApp::start().await;
    let catalog = GitCatalog::with_examples(&app).await;
    let tip = git(&catalog.source, &["rev-parse", "llm-worker-rbee-cpu"]).await;
    let blob = git(&catalog.source, &["rev-parse", "llm-worker-rbee-cpu:PKGBUILD"]).await;
    let loose = catalog.bare.join("objects").join(&blob[..2]).join(&blob[2..]);
    std::fs::remove_file(&loose).unwrap();
    std::fs::write(&loose, b"not zlib at all").unwrap();
    let want = format!("want {tip}");
    let damaged = answer(&app, &["command=fetch", "0001", &want, "done", "0000"]).await;
    assert_eq!(damaged.lines, ["packfile"]);
    assert!(
        damaged
            .error
            .contains("error: upload-pack: the catalog repository could not be read"),
        "{damaged:?}"
    );
}
