//! Many clients at once: 200 concurrent pulls of one blob all get the right bytes.

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_pulls_of_one_blob_all_verify() {
    let app = TestApp::start().await;
    let data = bytes_of(4 * 1024 * 1024 + 123, 17);
    let digest = app.push_blob("load/pulls", &data).await;
    let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let mut pulls = Vec::new();
    for _ in 0..200 {
        let client = client.clone();
        let url = app.url(&format!("/v2/load/pulls/blobs/{digest}"));
        let digest = digest.clone();
        pulls.push(tokio::spawn(async move {
            let response = client.get(url).send().await.unwrap();
            assert_eq!(response.status(), 200);
            assert_eq!(response.headers()["docker-content-digest"], digest.as_str());
            sha256(&response.bytes().await.unwrap())
        }));
    }
    for pull in pulls {
        assert_eq!(pull.await.unwrap(), digest);
    }
}
