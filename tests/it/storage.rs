//! One storage test suite run against every blob-store backend (as distribution's driver
//! testsuites do): the local filesystem always, and the S3-compatible server the test
//! script starts (`TEST_S3_*`), including multipart writes and presigned URLs.

use bytes::Bytes;
use futures::TryStreamExt;
use rbee_registry::oci::{ByteRange, Digest};
use rbee_registry::storage::{BlobStore, StorageKey};

use crate::support::*;

fn part(session: &str, id: &str) -> StorageKey {
    StorageKey::UploadPart {
        session_id: session.into(),
        part_id: id.into(),
    }
}

async fn read_all(store: &BlobStore, key: &StorageKey, range: Option<ByteRange>) -> Vec<u8> {
    let chunks: Vec<Bytes> = store.read(key, range).await.unwrap().try_collect().await.unwrap();
    chunks.concat()
}

async fn paths_under(store: &BlobStore, prefix: &StorageKey) -> Vec<String> {
    let mut paths: Vec<String> = store
        .list(prefix)
        .map_ok(|object| object.path)
        .try_collect()
        .await
        .unwrap();
    paths.retain(|path| !path.contains('#'));
    paths.sort();
    paths
}

/// What every backend must do.
async fn storage_suite(store: &BlobStore) {
    let session = uuid::Uuid::new_v4().to_string();
    // Empty, small, just past one part, several parts (multipart on S3), written in pieces.
    for size in [0usize, 10, 5 * 1024 * 1024 + 3, 12 * 1024 * 1024 + 17] {
        let data = bytes_of(size, 7);
        let key = part(&session, &size.to_string());
        let mut writer = store.writer(key.clone());
        for piece in data.chunks(300_000) {
            writer.write(bytes::Bytes::copy_from_slice(piece)).await.unwrap();
        }
        assert_eq!(writer.finish().await.unwrap(), size as u64);
        assert_eq!(store.size(&key).await.unwrap(), Some(size as u64));
        assert_eq!(read_all(store, &key, None).await, data, "{size} bytes read back");
        if size > 10 {
            let range = ByteRange { start: 5, end: 5_000 };
            assert_eq!(read_all(store, &key, Some(range)).await, &data[5..=5_000]);
            let tail = ByteRange {
                start: size as u64 - 4,
                end: size as u64 - 1,
            };
            assert_eq!(read_all(store, &key, Some(tail)).await, &data[size - 4..]);
        }
        if size > 8 * 1024 * 1024 {
            // Unaligned ranges across the boundaries of the local backend's 4 MiB read windows.
            for (start, end) in [(4097, 8 * 1024 * 1024 + 5), (4 * 1024 * 1024 - 1, 4 * 1024 * 1024)] {
                let range = ByteRange { start, end };
                let (start, end) = (start as usize, end as usize);
                assert_eq!(read_all(store, &key, Some(range)).await, &data[start..=end]);
            }
        }
    }

    // An abandoned write leaves nothing behind.
    let abandoned = part(&session, "abandoned");
    let mut writer = store.writer(abandoned.clone());
    writer.write(bytes_of(6 * 1024 * 1024, 1).into()).await.unwrap();
    writer.abort().await;
    assert_eq!(store.size(&abandoned).await.unwrap(), None);
    // So does a writer dropped in the middle (a request cut off).
    let dropped = part(&session, "dropped");
    let mut writer = store.writer(dropped.clone());
    writer.write(bytes_of(3 * 1024 * 1024, 2).into()).await.unwrap();
    drop(writer);
    assert_eq!(store.size(&dropped).await.unwrap(), None);

    // Rename moves the bytes; the source is gone.
    let data = bytes_of(1000, 9);
    let digest: Digest = sha256(&data).parse().unwrap();
    let source = part(&session, "to-move");
    let mut writer = store.writer(source.clone());
    writer.write(data.clone().into()).await.unwrap();
    writer.finish().await.unwrap();
    let blob = StorageKey::Blob(digest.clone());
    store.rename(&source, &blob).await.unwrap();
    assert_eq!(store.size(&source).await.unwrap(), None);
    assert_eq!(read_all(store, &blob, None).await, data);

    // Listing names every object under a prefix, with its size.
    let directory = StorageKey::UploadDirectory {
        session_id: session.clone(),
    };
    let listed = paths_under(store, &directory).await;
    assert_eq!(
        listed,
        vec![
            format!("uploads/{session}/0"),
            format!("uploads/{session}/10"),
            format!("uploads/{session}/12582929"),
            format!("uploads/{session}/5242883"),
        ]
    );
    assert!(paths_under(store, &StorageKey::AllBlobs)
        .await
        .contains(&blob.to_string()));

    // Deleting is idempotent; deleting a prefix removes everything under it.
    store.delete(&blob).await.unwrap();
    store.delete(&blob).await.unwrap();
    assert_eq!(store.size(&blob).await.unwrap(), None);
    assert!(matches!(
        store.read(&blob, None).await,
        Err(rbee_registry::storage::StorageError::NotFound(_))
    ));
    store.delete_prefix(&directory).await.unwrap();
    assert!(paths_under(store, &directory).await.is_empty());
}

#[tokio::test]
async fn filesystem_backend() {
    let root = tempfile::tempdir().unwrap();
    let store = BlobStore::local(root.path(), true).unwrap();
    storage_suite(&store).await;
}

#[tokio::test]
async fn filesystem_write_failure_is_reported_and_abort_still_works() {
    let root = tempfile::tempdir().unwrap();
    let store = BlobStore::local(root.path(), true).unwrap();
    // A file where the object's directory should be: the writer thread cannot create it.
    std::fs::create_dir_all(root.path().join("uploads")).unwrap();
    std::fs::write(root.path().join("uploads/blocked"), b"not a directory").unwrap();
    let mut writer = store.writer(part("blocked", "p"));
    let mut failed = None;
    for piece in bytes_of(8 * 1024 * 1024, 4).chunks(64 * 1024) {
        if let Err(error) = writer.write(Bytes::copy_from_slice(piece)).await {
            failed = Some(error);
            break;
        }
    }
    let error = failed.expect("writing under a file fails");
    assert!(
        matches!(error, rbee_registry::storage::StorageError::Io(_)),
        "{error:?}"
    );
    writer.abort().await;
}

#[tokio::test]
async fn filesystem_abort_removes_the_staging_file() {
    let root = tempfile::tempdir().unwrap();
    let store = BlobStore::local(root.path(), true).unwrap();
    let key = part("s", "abandoned");
    let mut writer = store.writer(key.clone());
    // Enough to be streamed to a staging file by the writer thread.
    for piece in bytes_of(6 * 1024 * 1024, 3).chunks(64 * 1024) {
        writer.write(Bytes::copy_from_slice(piece)).await.unwrap();
    }
    writer.abort().await;
    let directory = root.path().join("uploads/s");
    let left: Vec<_> = std::fs::read_dir(&directory)
        .map(|entries| entries.flatten().map(|entry| entry.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[tokio::test]
async fn s3_backend() {
    let prefix = format!("storage-{}", uuid::Uuid::new_v4().simple());
    let Some(config) = test_s3_config(&prefix) else {
        eprintln!("skipped: no S3 server configured (scripts/test.sh starts one and sets TEST_S3_*)");
        return;
    };
    let store = BlobStore::s3(&config).unwrap();
    storage_suite(&store).await;
}

#[tokio::test]
async fn s3_presigned_urls_serve_the_object_and_a_wrong_secret_is_refused() {
    let prefix = format!("presign-{}", uuid::Uuid::new_v4().simple());
    let Some(mut config) = test_s3_config(&prefix) else {
        eprintln!("skipped: no S3 server configured (scripts/test.sh starts one and sets TEST_S3_*)");
        return;
    };
    config.redirect_downloads = Some(std::time::Duration::from_secs(60));
    let store = BlobStore::s3(&config).unwrap();
    let data = bytes_of(70_000, 3);
    let key = StorageKey::Blob(sha256(&data).parse().unwrap());
    let mut writer = store.writer(key.clone());
    writer.write(data.clone().into()).await.unwrap();
    writer.finish().await.unwrap();

    let (url, _) = store.presigned_download(&key).await.unwrap().expect("redirects are on");
    let fetched = reqwest::get(url.clone()).await.unwrap();
    assert_eq!(fetched.status(), 200);
    assert_eq!(fetched.bytes().await.unwrap().as_ref(), &data[..]);
    // The signature covers the path: another key with the same query is refused.
    let tampered = url.as_str().replace(&key.to_string(), "blobs/sha256/00/00");
    assert_eq!(reqwest::get(tampered).await.unwrap().status(), 403);

    // A client with the wrong secret cannot write.
    config.secret_access_key = Some("not-the-secret".into());
    config.redirect_downloads = None;
    let wrong = BlobStore::s3(&config).unwrap();
    let mut writer = wrong.writer(part("x", "y"));
    writer.write(bytes::Bytes::from_static(b"refused")).await.unwrap();
    assert!(writer.finish().await.is_err());
    store.delete(&key).await.unwrap();
}
