//! Blobs through the cache. A blob the repository lacks is fetched from the upstream once
//! (`flight`), and its bytes go two ways as they arrive: into the registry's verified write
//! path (`upload_monolithic`: hashed, staged under `uploads/`, visible only once its digest
//! matched) and to the client that asked first. The client's last chunk is held back until
//! the store verified the digest: a mismatch ends the client's body with an error instead,
//! so no client receives a whole blob that was refused. A client that goes away does not
//! stop the store; the other clients of the same blob wait for it and read the stored blob.

use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::{mpsc, oneshot};

use super::flight::{FlightError, Outcome};
use super::{PullThrough, UpstreamRegistry};
use crate::client::upstream::Upstream;
use crate::client::ClientError;
use crate::observability::{
    record_pull_through_error, record_pull_through_fetch, record_pull_through_hit, record_pull_through_miss,
};
use crate::oci::{Digest, RepoName};
use crate::services::analytics::DownloadClient;
use crate::services::blobs::{BlobContent, BlobRead};
use crate::services::{Registry, RegistryError};
use crate::storage::{ByteStream, StorageError};

/// Buffers queued towards the store and towards the first client.
const QUEUED_CHUNKS: usize = 8;

/// The first client's body, handed over once the upstream answered with a size.
pub(super) struct StreamHead {
    size: u64,
    body: ByteStream,
}

impl Registry {
    /// A blob `GET`/`HEAD` (`download_blob`), fetched from the upstream `ns` selects when the
    /// repository lacks it and a pull-through cache is configured.
    pub async fn download_blob_through(
        &self,
        name: &RepoName,
        digest: &Digest,
        range_header: Option<&str>,
        open_body: bool,
        client: DownloadClient,
        ns: Option<&str>,
    ) -> Result<BlobRead, RegistryError> {
        let Some(cache) = self.pull_through.clone() else {
            return self.download_blob(name, digest, range_header, open_body, client).await;
        };
        match self
            .download_blob(name, digest, range_header, open_body, client.clone())
            .await
        {
            Err(RegistryError::BlobUnknown(_)) => {}
            held => {
                record_pull_through_hit("blob");
                return held;
            }
        }
        let Some(upstream) = cache.upstream(ns) else {
            return Err(RegistryError::BlobUnknown(digest.clone()));
        };
        record_pull_through_miss("blob");
        // Only a whole-blob GET is fed from the fetch as it streams; a HEAD or a range waits
        // for the stored blob.
        let streams = open_body && range_header.is_none();
        let (head_sender, head) = oneshot::channel();
        let flight = cache.fetch_blob(self, &upstream, name, digest, streams.then_some(head_sender));
        if flight.started && streams {
            if let Ok(head) = head.await {
                return Ok(BlobRead::Content(BlobContent {
                    digest: digest.clone(),
                    size: head.size,
                    range: None,
                    body: head.body,
                }));
            }
        }
        match flight.outcome.await {
            Ok(()) => self.download_blob(name, digest, range_header, open_body, client).await,
            Err(FlightError::NotFound) => Err(RegistryError::BlobUnknown(digest.clone())),
            Err(error) => Err(flight_error(error)),
        }
    }
}

impl PullThrough {
    /// Joins or starts the fetch of a blob into `name`. The starter may pass `head`, which
    /// receives the streaming body when the upstream answered with a length.
    pub(super) fn fetch_blob(
        &self,
        registry: &Registry,
        upstream: &std::sync::Arc<UpstreamRegistry>,
        name: &RepoName,
        digest: &Digest,
        head: Option<oneshot::Sender<StreamHead>>,
    ) -> super::flight::Flight {
        let key = format!("blob {}@{digest}", name.as_str());
        let (registry, upstream, name, digest) = (registry.clone(), upstream.clone(), name.clone(), digest.clone());
        self.flights
            .join_or_start(key, move || fetch_blob(registry, upstream, name, digest, head))
    }
}

/// The fetch: upstream → (store, first client), verified by the store.
async fn fetch_blob(
    registry: Registry,
    upstream: std::sync::Arc<UpstreamRegistry>,
    name: RepoName,
    digest: Digest,
    head: Option<oneshot::Sender<StreamHead>>,
) -> Outcome {
    // A fetch that finished just before this one started stored it already.
    if registry.stat_blob(&name, &digest).await.is_ok() {
        return Ok(());
    }
    record_pull_through_fetch("blob");
    let download = match upstream.client.open_blob(name.as_str(), &digest).await {
        Ok(Upstream::Found(download)) => download,
        Ok(Upstream::NotFound) => return Err(FlightError::NotFound),
        Err(error) => return Err(client_failure(&upstream, error)),
    };
    let limit = registry.limits().max_blob_bytes;
    if download.size.is_some_and(|size| size > limit) {
        record_pull_through_error("invalid");
        return Err(FlightError::Failed {
            reason: "invalid",
            message: format!("blob {digest} is larger than this registry's {limit}-byte limit"),
        });
    }
    let (store_sender, store_receiver) = mpsc::channel::<Result<Bytes, std::io::Error>>(QUEUED_CHUNKS);
    let store = {
        let (registry, name, digest) = (registry.clone(), name.clone(), digest.clone());
        tokio::spawn(async move {
            registry
                .upload_monolithic(&name, &digest, receiver_stream(store_receiver).boxed())
                .await
        })
    };
    let mut client = match (head, download.size) {
        (Some(head), Some(size)) => {
            let (sender, receiver) = mpsc::channel::<Result<Bytes, StorageError>>(QUEUED_CHUNKS);
            let body: ByteStream = receiver_stream(receiver).boxed();
            head.send(StreamHead { size, body }).is_ok().then_some(sender)
        }
        _ => None,
    };
    let mut body = download.response.bytes_stream();
    let mut held: Option<Bytes> = None;
    let mut received = 0u64;
    let mut cut: Option<String> = None;
    while let Some(chunk) = body.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(error) => {
                cut = Some(format!("the upstream's body for blob {digest} broke off: {error}"));
                break;
            }
        };
        received += chunk.len() as u64;
        if store_sender.send(Ok(chunk.clone())).await.is_err() {
            // The store stopped (a limit, a storage fault): its result says why.
            break;
        }
        if let Some(previous) = held.replace(chunk) {
            if let Some(sender) = &client {
                if sender.send(Ok(previous)).await.is_err() {
                    client = None;
                }
            }
        }
    }
    if cut.is_none() && download.size.is_some_and(|size| size != received) {
        cut = Some(format!(
            "the upstream sent {received} bytes of blob {digest}, not the {} it announced",
            download.size.unwrap_or_default()
        ));
    }
    if let Some(why) = &cut {
        // The store must not complete on a short body that happens to hash right.
        let _ = store_sender.send(Err(std::io::Error::other(why.clone()))).await;
    }
    drop(store_sender);
    let stored = store
        .await
        .unwrap_or_else(|error| Err(RegistryError::Unavailable(format!("the store stopped: {error}"))));
    let outcome = match (cut, stored) {
        (None, Ok(_)) => {
            if let (Some(sender), Some(last)) = (&client, held) {
                let _ = sender.send(Ok(last)).await;
            }
            return Ok(());
        }
        (Some(why), _) => {
            record_pull_through_error("unreachable");
            FlightError::Failed {
                reason: "unreachable",
                message: why,
            }
        }
        (None, Err(RegistryError::DigestMismatch { computed, .. })) => {
            record_pull_through_error("invalid");
            tracing::warn!(upstream = %upstream.host, repository = %name.as_str(), %digest, %computed, "upstream served a blob whose bytes do not match its digest; nothing stored");
            FlightError::Failed {
                reason: "invalid",
                message: format!(
                    "{} served blob {digest} with bytes that hash to {computed}; nothing was stored",
                    upstream.host
                ),
            }
        }
        (None, Err(RegistryError::BlobTooLarge { limit })) => {
            record_pull_through_error("invalid");
            FlightError::Failed {
                reason: "invalid",
                message: format!("blob {digest} is larger than this registry's {limit}-byte limit"),
            }
        }
        (None, Err(error)) => FlightError::Local(error.to_string()),
    };
    if let Some(sender) = &client {
        let _ = sender
            .send(Err(StorageError::Io(std::io::Error::other(format!(
                "pull-through of {digest} failed"
            )))))
            .await;
    }
    Err(outcome)
}

/// The items of a channel as a stream.
fn receiver_stream<T: Send + 'static>(receiver: mpsc::Receiver<T>) -> impl futures::Stream<Item = T> + Send {
    futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|item| (item, receiver))
    })
}

/// A client error as a flight's failure, counted.
pub(super) fn client_failure(upstream: &UpstreamRegistry, error: ClientError) -> FlightError {
    let reason = match &error {
        ClientError::Status { status, .. } if status.is_server_error() => "unreachable",
        ClientError::Status { .. } | ClientError::Token { .. } => "refused",
        ClientError::Protocol(_) => "invalid",
        ClientError::Http { .. } | ClientError::Io(_) | ClientError::Address(_) => "unreachable",
    };
    record_pull_through_error(reason);
    tracing::warn!(upstream = %upstream.host, %error, "pull-through fetch failed");
    FlightError::Failed {
        reason,
        message: format!("{}: {error}", upstream.host),
    }
}

/// A failed fetch as the registry's error (`NotFound` is the caller's to name).
pub(super) fn flight_error(error: FlightError) -> RegistryError {
    match error {
        FlightError::Failed { message, .. } => RegistryError::Upstream(message),
        FlightError::Local(message) => {
            tracing::error!(error = %message, "pull-through could not store what it fetched");
            RegistryError::Unavailable("the registry could not store what it fetched from its upstream".into())
        }
        FlightError::NotFound => RegistryError::Upstream("the upstream does not have it".into()),
    }
}
