//! Chunked, streamed and cancelled uploads.

use crate::support::*;

#[tokio::test]
async fn chunked_upload_in_order_then_status_then_finish() {
    let app = TestApp::start().await;
    let data = bytes_of(300_001, 3);
    let mut location = app.start_upload("chunks/repo").await;
    let mut offset = 0;
    for chunk in data.chunks(100_000) {
        let response = app
            .client
            .patch(app.url(&location))
            .header("content-type", "application/octet-stream")
            .header("content-range", format!("{}-{}", offset, offset + chunk.len() - 1))
            .body(chunk.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
        offset += chunk.len();
        assert_eq!(response.headers()["range"], format!("0-{}", offset - 1).as_str());
        location = response.headers()["location"].to_str().unwrap().to_string();
    }
    let status = app.get(&location).await;
    assert_eq!(status.status(), 204);
    assert_eq!(status.headers()["range"], "0-300000");

    let digest = sha256(&data);
    let finished = app
        .client
        .put(format!("{}?digest={digest}", app.url(&location)))
        .send()
        .await
        .unwrap();
    assert_eq!(finished.status(), 201);
    assert_eq!(finished.headers()["docker-content-digest"], digest.as_str());
    let fetched = app.get(&format!("/v2/chunks/repo/blobs/{digest}")).await;
    assert_eq!(fetched.bytes().await.unwrap().as_ref(), &data[..]);
    // The session is gone once finished.
    assert_eq!(app.get(&location).await.status(), 404);
}

#[tokio::test]
async fn streamed_patch_and_final_chunk_in_put() {
    let app = TestApp::start().await;
    let data = bytes_of(70_000, 4);
    let location = app.start_upload("stream").await;
    let response = app
        .client
        .patch(app.url(&location))
        .body(data[..50_000].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let digest = sha256(&data);
    let finished = app
        .client
        .put(format!("{}?digest={digest}", app.url(&location)))
        .body(data[50_000..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(finished.status(), 201);
    let fetched = app.get(&format!("/v2/stream/blobs/{digest}")).await;
    assert_eq!(fetched.bytes().await.unwrap().as_ref(), &data[..]);
}

#[tokio::test]
async fn large_streamed_patch_then_ranges_across_read_windows() {
    let app = TestApp::start().await;
    // Several MiB in one PATCH: streamed through the writer (and hashing) threads.
    let data = bytes_of(9 * 1024 * 1024 + 123, 6);
    let location = app.start_upload("large").await;
    let (sender, body) = channel_body();
    let feeder = tokio::spawn({
        let data = data.clone();
        async move {
            for piece in data.chunks(100_000) {
                sender.send(piece.to_vec()).await.unwrap();
            }
        }
    });
    let response = app.client.patch(app.url(&location)).body(body).send().await.unwrap();
    feeder.await.unwrap();
    assert_eq!(response.status(), 202);
    assert_eq!(response.headers()["range"], format!("0-{}", data.len() - 1).as_str());
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let digest = app.finish_and_verify("large", &location, &data).await;
    for (start, end) in [(4 * 1024 * 1024 - 7, 8 * 1024 * 1024 + 3), (100, 200)] {
        let ranged = app
            .client
            .get(app.url(&format!("/v2/large/blobs/{digest}")))
            .header("range", format!("bytes={start}-{end}"))
            .send()
            .await
            .unwrap();
        assert_eq!(ranged.status(), 206);
        assert_eq!(ranged.bytes().await.unwrap().as_ref(), &data[start..=end]);
    }
}

#[tokio::test]
async fn large_patch_cut_off_midway_counts_nothing() {
    use tokio::io::AsyncWriteExt;
    let app = TestApp::start().await;
    let data = bytes_of(8 * 1024 * 1024, 8);
    let location = app.start_upload("cut").await;
    // A PATCH announcing 8 MiB whose connection closes after 3 MiB.
    let mut stream = tokio::net::TcpStream::connect(app.host()).await.unwrap();
    let head = format!(
        "PATCH {location} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        app.host(),
        data.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&data[..3 * 1024 * 1024]).await.unwrap();
    drop(stream);
    // The whole body in a new PATCH: the session holds exactly these bytes.
    let response = app
        .client
        .patch(app.url(&location))
        .body(data.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    assert_eq!(response.headers()["range"], format!("0-{}", data.len() - 1).as_str());
    let location = response.headers()["location"].to_str().unwrap().to_string();
    app.finish_and_verify("cut", &location, &data).await;
}

#[tokio::test]
async fn post_then_put_with_the_whole_body() {
    let app = TestApp::start().await;
    let data = bytes_of(10_000, 5);
    let location = app.start_upload("whole").await;
    let digest = sha256(&data);
    let finished = app
        .client
        .put(format!("{}?digest={digest}", app.url(&location)))
        .header("content-type", "application/octet-stream")
        .body(data.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(finished.status(), 201);
    assert_eq!(
        finished.headers()["location"],
        format!("/v2/whole/blobs/{digest}").as_str()
    );
}

#[tokio::test]
async fn cancelled_upload_is_unknown_afterwards() {
    let app = TestApp::start().await;
    let location = app.start_upload("cancel").await;
    app.client
        .patch(app.url(&location))
        .body(vec![1u8; 1000])
        .send()
        .await
        .unwrap();
    let cancelled = app.client.delete(app.url(&location)).send().await.unwrap();
    assert_eq!(cancelled.status(), 204);
    let status = app.get(&location).await;
    assert_eq!(status.status(), 404);
    assert_eq!(error_code(status).await, "BLOB_UPLOAD_UNKNOWN");
    let session_id = location.rsplit('/').next().unwrap();
    assert!(app.stored_objects(&format!("uploads/{session_id}")).await.is_empty());
}

#[tokio::test]
async fn upload_session_belongs_to_its_repository() {
    let app = TestApp::start().await;
    let location = app.start_upload("mine").await;
    let stolen = location.replace("/v2/mine/", "/v2/theirs/");
    let response = app
        .client
        .patch(app.url(&stolen))
        .body(vec![1u8; 10])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(error_code(response).await, "BLOB_UPLOAD_UNKNOWN");
}

/// Several `PUT ?digest=` closing one session at the same moment, each with a different last
/// chunk after a 2 MiB `PATCH`: the session completes at most once, every other finish gets a
/// clean `4xx`, the blob served is the winner's, and a session nobody completed still holds
/// every byte it acknowledged (and can be completed).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_finishes_of_one_session_complete_it_at_most_once() {
    let app = std::sync::Arc::new(TestApp::start().await);
    let first = bytes_of(2 * 1024 * 1024, 7);
    for round in 0..8u8 {
        let location = app.start_upload("race/finish").await;
        let patched = app
            .client
            .patch(app.url(&location))
            .header("content-type", "application/octet-stream")
            .header("content-range", format!("0-{}", first.len() - 1))
            .body(first.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(patched.status(), 202);
        let location = patched.headers()["location"].to_str().unwrap().to_string();
        let finishers: Vec<_> = (0..12u8)
            .map(|i| {
                let app = app.clone();
                let location = location.clone();
                let last = bytes_of(1000 + usize::from(i) * 7, round.wrapping_mul(16).wrapping_add(i + 1));
                let whole = [first.as_slice(), last.as_slice()].concat();
                tokio::spawn(async move {
                    let digest = sha256(&whole);
                    let response = app
                        .client
                        .put(format!("{}?digest={digest}", app.url(&location)))
                        .header("content-type", "application/octet-stream")
                        .body(last)
                        .send()
                        .await
                        .unwrap();
                    let status = response.status().as_u16();
                    let code = if status == 201 {
                        String::new()
                    } else {
                        response.text().await.unwrap()
                    };
                    (status, code, digest, whole)
                })
            })
            .collect();
        let mut winners = Vec::new();
        for finisher in finishers {
            let (status, body, digest, whole) = finisher.await.unwrap();
            match status {
                201 => winners.push((digest, whole)),
                400..=499 => assert!(
                    body.contains("BLOB_UPLOAD_UNKNOWN") || body.contains("BLOB_UPLOAD_INVALID"),
                    "round {round}: a losing finish answered {status} {body}"
                ),
                _ => panic!("round {round}: a finish answered {status} {body}"),
            }
        }
        assert!(
            winners.len() <= 1,
            "round {round}: the session completed {} times",
            winners.len()
        );
        let session_id = location
            .rsplit('/')
            .next()
            .unwrap()
            .split('?')
            .next()
            .unwrap()
            .to_string();
        match winners.pop() {
            Some((digest, whole)) => {
                let fetched = app.get(&format!("/v2/race/finish/blobs/{digest}")).await;
                assert_eq!(fetched.status(), 200);
                assert_eq!(fetched.bytes().await.unwrap().as_ref(), &whole[..]);
                assert_eq!(app.get(&location).await.status(), 404);
            }
            None => {
                // Nobody completed it: it still has the first chunk, all of it.
                let status = app.get(&location).await;
                assert_eq!(status.status(), 204);
                assert_eq!(status.headers()["range"], format!("0-{}", first.len() - 1).as_str());
                app.finish_and_verify("race/finish", &location, &first).await;
            }
        }
        assert_eq!(
            app.stored_objects(&format!("uploads/{session_id}")).await,
            Vec::<String>::new(),
            "round {round}: files of a completed session are left"
        );
    }
}

/// Several `PUT ?digest=` each carrying a whole small blob close one session that has
/// received nothing (the small-body path): it completes at most once, the others get a clean
/// `4xx`, only the winner's blob is linked, and the session is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_whole_body_finishes_of_an_empty_session_complete_it_at_most_once() {
    let app = std::sync::Arc::new(TestApp::start().await);
    for round in 0..4u8 {
        let location = app.start_upload("race/small").await;
        let finishers: Vec<_> = (0..8u8)
            .map(|i| {
                let app = app.clone();
                let location = location.clone();
                let whole = bytes_of(4096, round.wrapping_mul(16).wrapping_add(i + 1));
                tokio::spawn(async move {
                    let digest = sha256(&whole);
                    let response = app
                        .client
                        .put(format!("{}?digest={digest}", app.url(&location)))
                        .header("content-type", "application/octet-stream")
                        .body(whole.clone())
                        .send()
                        .await
                        .unwrap();
                    let status = response.status().as_u16();
                    (status, response.text().await.unwrap(), digest, whole)
                })
            })
            .collect();
        let (mut winners, mut losers) = (Vec::new(), Vec::new());
        for finisher in finishers {
            let (status, body, digest, whole) = finisher.await.unwrap();
            match status {
                201 => winners.push((digest, whole)),
                400..=499 => {
                    assert!(
                        body.contains("BLOB_UPLOAD_UNKNOWN") || body.contains("BLOB_UPLOAD_INVALID"),
                        "round {round}: a losing finish answered {status} {body}"
                    );
                    losers.push(digest);
                }
                _ => panic!("round {round}: a finish answered {status} {body}"),
            }
        }
        assert_eq!(
            winners.len(),
            1,
            "round {round}: the session completed {} times",
            winners.len()
        );
        let (digest, whole) = winners.pop().unwrap();
        let fetched = app.get(&format!("/v2/race/small/blobs/{digest}")).await;
        assert_eq!(fetched.status(), 200);
        assert_eq!(fetched.bytes().await.unwrap().as_ref(), &whole[..]);
        for digest in losers {
            let lost = app.get(&format!("/v2/race/small/blobs/{digest}")).await;
            assert_eq!(lost.status(), 404, "round {round}: a losing finish's blob is linked");
        }
        assert_eq!(app.get(&location).await.status(), 404);
    }
}

/// The single-request `POST ?digest=`: a small blob (held whole) and one just over the
/// small-body size (streamed) are both stored and served; a small one with a wrong digest
/// is refused and leaves neither a blob nor upload files (on S3 the streamed one's part is
/// the blob itself).
#[tokio::test]
async fn single_post_small_and_large_bodies_and_a_wrong_digest() {
    let app = TestApp::start().await;
    for size in [4096, 1024 * 1024 + 1] {
        let data = bytes_of(size, 9);
        let digest = sha256(&data);
        let pushed = app
            .client
            .post(app.url(&format!("/v2/single/blobs/uploads/?digest={digest}")))
            .header("content-type", "application/octet-stream")
            .body(data.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(pushed.status(), 201, "{size} bytes");
        let fetched = app.get(&format!("/v2/single/blobs/{digest}")).await;
        assert_eq!(fetched.bytes().await.unwrap().as_ref(), &data[..]);
    }
    let data = bytes_of(4096, 10);
    let wrong = sha256(b"something else");
    let refused = app
        .client
        .post(app.url(&format!("/v2/single/blobs/uploads/?digest={wrong}")))
        .body(data)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    assert_eq!(error_code(refused).await, "DIGEST_INVALID");
    assert_eq!(app.get(&format!("/v2/single/blobs/{wrong}")).await.status(), 404);
    assert!(app.stored_upload_files().await.is_empty());
}
