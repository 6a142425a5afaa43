//! Download analytics: every completed download of a worker package is logged once, with
//! worker, version, platform, time, user agent and the client address as a salted SHA-256.
//!
//! Counting never slows or fails a download: the blob response's stream reports its own
//! completion to a bounded channel with `try_send` (a full channel drops the event and counts
//! it in `rbee_download_events_dropped_total`), and one background task resolves the blobs
//! to their worker versions and writes whatever is queued as one multi-row insert. Failures
//! there are logged, never returned to the client.

use std::collections::HashMap;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::Stream;
use sha2::Digest as _;
use tokio::sync::mpsc;

use super::blobs::{BlobContent, BlobRead};
use super::{Registry, RegistryError};
use crate::artifact;
use crate::db::{downloads, now_millis, workers, Database, DbError};
use crate::oci::{Digest, RepoName};
use crate::storage::ByteStream;

/// Events waiting to be written; past this, events are dropped (and logged).
const QUEUE_CAPACITY: usize = 4096;

/// Who downloads: what the request says about its client.
#[derive(Debug, Clone, Default)]
pub struct DownloadClient {
    pub user_agent: Option<String>,
    pub address: Option<IpAddr>,
}

#[derive(Debug)]
struct DownloadEvent {
    repository: RepoName,
    digest: Digest,
    user_agent: Option<String>,
    client_hash: String,
    at: i64,
}

/// Hands completed downloads to the background writer.
#[derive(Clone)]
pub struct DownloadRecorder {
    sender: mpsc::Sender<DownloadEvent>,
    salt: Arc<[u8]>,
}

impl std::fmt::Debug for DownloadRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DownloadRecorder").finish_non_exhaustive()
    }
}

impl DownloadRecorder {
    /// Starts the background writer on the current tokio runtime.
    pub fn start(db: Database, salt: Vec<u8>) -> Self {
        let (sender, receiver) = mpsc::channel(QUEUE_CAPACITY);
        tokio::spawn(write_downloads(db, receiver));
        DownloadRecorder {
            sender,
            salt: salt.into(),
        }
    }

    /// The salted hash of a client address (`-` when the address is unknown).
    pub fn client_hash(&self, address: Option<IpAddr>) -> String {
        let Some(address) = address else {
            return "-".to_string();
        };
        let mut hasher = sha2::Sha256::new();
        hasher.update(&self.salt);
        hasher.update(address.to_string().as_bytes());
        hex::encode(hasher.finalize())
    }

    fn record(&self, repository: &RepoName, digest: &Digest, client: &DownloadClient) {
        let event = DownloadEvent {
            repository: repository.clone(),
            digest: digest.clone(),
            user_agent: client.user_agent.clone(),
            client_hash: self.client_hash(client.address),
            at: now_millis(),
        };
        if let Err(error) = self.sender.try_send(event) {
            // Logged on the first drop and then on every 1000th, so a burst does not flood the log.
            let dropped = crate::observability::record_dropped_download();
            if dropped % 1000 == 1 {
                tracing::warn!(%repository, %digest, %error, dropped, "download not counted: the analytics queue is full or closed");
            }
        }
    }
}

/// Most events written in one statement.
const BATCH_SIZE: usize = 256;

async fn write_downloads(db: Database, mut receiver: mpsc::Receiver<DownloadEvent>) {
    let mut batch = Vec::with_capacity(BATCH_SIZE);
    // Whatever is queued when the writer wakes goes in one statement: under load the rows
    // are written in batches (one commit each), when idle one at a time.
    while receiver.recv_many(&mut batch, BATCH_SIZE).await > 0 {
        let events = batch.len();
        if let Err(error) = write_batch(&db, &batch).await {
            tracing::warn!(events, %error, "could not record downloads");
        }
        batch.clear();
    }
}

async fn write_batch(db: &Database, events: &[DownloadEvent]) -> Result<(), DbError> {
    // Only package layers of indexed versions count; configs and metadata layers do not.
    // Events of one batch are mostly of a few blobs: each is resolved once.
    let mut owners: HashMap<(&RepoName, &Digest), Option<(String, workers::WorkerPlatformRow)>> = HashMap::new();
    let mut rows = Vec::with_capacity(events.len());
    for event in events {
        let key = (&event.repository, &event.digest);
        let owner = match owners.get(&key) {
            Some(owner) => owner.clone(),
            None => {
                let found = workers::find_package(db.reader(), &event.repository, &event.digest)
                    .await?
                    .into_iter()
                    .next();
                owners.insert(key, found.clone());
                found
            }
        };
        let Some((worker_id, platform)) = owner else {
            continue;
        };
        rows.push(downloads::NewDownload {
            worker_id,
            version: platform.version,
            platform: platform.platform,
            downloaded_at: event.at,
            user_agent: event.user_agent.clone(),
            client_hash: event.client_hash.clone(),
        });
    }
    downloads::insert_all(db.writer(), &rows).await
}

impl Registry {
    /// Serves a blob like [`Registry::read_blob`]; when it is read from a worker repository
    /// and its last byte reaches the client, the download is counted.
    pub async fn download_blob(
        &self,
        name: &RepoName,
        digest: &Digest,
        range_header: Option<&str>,
        open_body: bool,
        client: DownloadClient,
    ) -> Result<BlobRead, RegistryError> {
        let read = self.read_blob(name, digest, range_header, open_body).await?;
        // A redirect hands the bytes to the blob store, which this process cannot watch:
        // a whole-blob GET of a worker package is counted when it is redirected.
        if let (Some(recorder), true, None, Some(_), BlobRead::Redirect { .. }) = (
            self.downloads.clone(),
            open_body,
            range_header,
            artifact::worker_id_of_repository(name.as_str()),
            &read,
        ) {
            recorder.record(name, digest, &client);
            return Ok(read);
        }
        let (Some(recorder), true, Some(_), BlobRead::Content(content)) = (
            self.downloads.clone(),
            open_body,
            artifact::worker_id_of_repository(name.as_str()),
            &read,
        ) else {
            return Ok(read);
        };
        let reaches_end = content.range.is_none_or(|range| range.end + 1 == content.size);
        if !reaches_end || content.size == 0 {
            return Ok(read);
        }
        let BlobRead::Content(content) = read else {
            unreachable!("matched above")
        };
        let expected = content.range.map(|range| range.len()).unwrap_or(content.size);
        let repository = name.clone();
        let counted_digest = digest.clone();
        let body: ByteStream = Box::pin(CountOnCompletion {
            inner: content.body,
            remaining: expected,
            on_complete: Some(Box::new(move || recorder.record(&repository, &counted_digest, &client))),
        });
        Ok(BlobRead::Content(BlobContent { body, ..content }))
    }
}

/// A body stream that calls `on_complete` once, when every expected byte has passed.
struct CountOnCompletion {
    inner: ByteStream,
    remaining: u64,
    on_complete: Option<Box<dyn FnOnce() + Send>>,
}

impl Stream for CountOnCompletion {
    type Item = <ByteStream as Stream>::Item;

    fn poll_next(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = self.inner.as_mut().poll_next(context);
        match &polled {
            Poll::Ready(Some(Ok(chunk))) => {
                self.remaining = self.remaining.saturating_sub(chunk.len() as u64);
                if self.remaining == 0 {
                    if let Some(on_complete) = self.on_complete.take() {
                        on_complete();
                    }
                }
            }
            Poll::Ready(Some(Err(_))) => self.on_complete = None,
            _ => {}
        }
        polled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn client_addresses_are_hashed_with_the_salt() {
        let db = Database::connect("sqlite::memory:").await.unwrap();
        let one = DownloadRecorder::start(db.clone(), b"salt-one".to_vec());
        let two = DownloadRecorder::start(db, b"salt-two".to_vec());
        let address: IpAddr = "192.0.2.7".parse().unwrap();
        let hashed = one.client_hash(Some(address));
        assert_eq!(hashed.len(), 64);
        assert!(!hashed.contains("192.0.2.7"));
        assert_eq!(hashed, one.client_hash(Some(address)));
        assert_ne!(hashed, two.client_hash(Some(address)));
    }
}

/// Where a client downloads a worker package from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownloadLink {
    /// The registry's own `/v2` blob URL (downloads are counted as they complete).
    Registry,
    /// A presigned URL of the blob store, valid for the given time; counted when handed out,
    /// since the bytes then never pass through the registry.
    Presigned {
        url: String,
        expires_in: std::time::Duration,
    },
}

impl Registry {
    /// The link `GET /v1/workers/:id/:version/download` hands out for a package: a
    /// presigned object-store URL when the store redirects downloads, else the registry's.
    pub async fn download_link(
        &self,
        repository: &RepoName,
        digest: &Digest,
        client: DownloadClient,
    ) -> Result<DownloadLink, RegistryError> {
        if !self.store.redirects_downloads() {
            return Ok(DownloadLink::Registry);
        }
        let key = self.stored_blob_key(digest).await?;
        let Some((url, expires_in)) = self.store.presigned_download(&key).await? else {
            return Ok(DownloadLink::Registry);
        };
        if let Some(recorder) = &self.downloads {
            recorder.record(repository, digest, &client);
        }
        Ok(DownloadLink::Presigned {
            url: url.to_string(),
            expires_in,
        })
    }
}
