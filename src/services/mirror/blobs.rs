//! Copying one blob from the upstream, resumably.
//!
//! A blob this registry already stores (in any repository) is linked, not transferred. Any
//! other is streamed into an upload session of this registry, in chunks of
//! `chunk_bytes` (each a `PATCH`-like append, `Registry::append_upload`, whose hash state the
//! session saves), and the session is recorded in `mirror_transfers`. A run cut short (a
//! crash, `kill -9`, a cut connection) leaves the session with the chunks it completed; the
//! next run finds it, asks the upstream for the rest with `Range: bytes=<size>-` and appends
//! from there. Finishing the session checks the digest of every byte, so a blob becomes
//! visible only verified; no blob is ever held whole in memory (each chunk streams through a
//! small bounded channel into the store).

use bytes::Bytes;
use futures::StreamExt;
use reqwest::StatusCode;

use super::copy::RepositoryCopy;
use super::{Counters, MirrorError};
use crate::db::{blobs, mirrors, now_millis};
use crate::oci::Digest;
use crate::services::{BodyStream, RegistryError};

/// Buffers queued between the upstream's response and the store.
const QUEUED_BUFFERS: usize = 8;

impl RepositoryCopy<'_> {
    /// Makes `digest` (of `size` bytes) a blob of this repository.
    pub(super) async fn copy_blob(&self, digest: &Digest, size: u64) -> Result<(), MirrorError> {
        let registry = self.registry;
        if registry.stat_blob(&self.name, digest).await.is_ok() {
            return Ok(());
        }
        // Stored for another repository: linking it moves no bytes.
        if blobs::touch(registry.db.writer(), digest, now_millis()).await? {
            registry.link_blob(&self.name, digest).await?;
            return Ok(());
        }
        let upstream = self.options.upstream.as_str();
        let repository = self.name.as_str();
        let key = digest.to_string();
        // A session an earlier run started, if it is still open.
        let mut session = None;
        if let Some(transfer) = mirrors::find_transfer(registry.db.reader(), upstream, repository, &key).await? {
            match registry.upload_status(&self.name, &transfer.session_id).await {
                Ok(status) => session = Some((status.session_id, status.size)),
                Err(_) => mirrors::remove_transfer(registry.db.writer(), upstream, repository, &key).await?,
            }
        }
        let (session_id, offset) = match session {
            Some((id, offset)) => {
                if offset > 0 {
                    Counters::add(&self.counters.resumed, 1);
                    self.note(&format!("resuming {digest} at byte {offset} of {size}"));
                }
                (id, offset)
            }
            None => self.new_transfer(digest, size).await?,
        };
        if offset > size {
            return Err(MirrorError::Invalid(format!(
                "{digest}: the upload holds {offset} bytes, more than the blob's {size}"
            )));
        }
        if offset < size {
            let response = self.upstream.get_blob(repository, digest, offset).await?;
            let resumed = response.status() == StatusCode::PARTIAL_CONTENT;
            if offset > 0 && !resumed {
                // The upstream ignored `Range`: start over with a new session.
                drop(response);
                let _ = registry.cancel_upload(&self.name, &session_id).await;
                let (fresh, _) = self.new_transfer(digest, size).await?;
                let response = self.checked(digest, self.upstream.get_blob(repository, digest, 0).await?)?;
                return self.stream_into_session(digest, size, response, &fresh, 0).await;
            }
            let response = self.checked(digest, response)?;
            return self
                .stream_into_session(digest, size, response, &session_id, offset)
                .await;
        }
        self.finish(digest, &session_id).await
    }

    /// Starts a new upload session for the blob and records it.
    async fn new_transfer(&self, digest: &Digest, size: u64) -> Result<(String, u64), MirrorError> {
        let status = self.registry.start_upload(&self.name).await?;
        let transfer = mirrors::TransferRow {
            upstream: self.options.upstream.clone(),
            repository: self.name.to_string(),
            digest: digest.to_string(),
            session_id: status.session_id.clone(),
            size: size as i64,
            received: 0,
            updated_at: now_millis(),
        };
        mirrors::start_transfer(self.registry.db.writer(), &transfer).await?;
        Ok((status.session_id, 0))
    }

    /// The response, if it carries the blob.
    fn checked(&self, digest: &Digest, response: reqwest::Response) -> Result<reqwest::Response, MirrorError> {
        if response.status().is_success() {
            Ok(response)
        } else {
            Err(MirrorError::Invalid(format!(
                "GET blob {digest} answered {}",
                response.status()
            )))
        }
    }

    /// Appends the response's bytes to the session from `offset`, one chunk at a time, then
    /// finishes the session (the digest check).
    async fn stream_into_session(
        &self,
        digest: &Digest,
        size: u64,
        response: reqwest::Response,
        session_id: &str,
        mut offset: u64,
    ) -> Result<(), MirrorError> {
        if let Ok(mut progress) = self.progress.lock() {
            progress.start(&short(digest), size, offset);
        }
        let mut body = response.bytes_stream();
        let mut pending: Option<Bytes> = None;
        let chunk_bytes = self.options.chunk_bytes.max(64 * 1024);
        while offset < size {
            let chunk = chunk_bytes.min(size - offset);
            let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(QUEUED_BUFFERS);
            let stream: BodyStream = futures::stream::unfold(receiver, |mut receiver| async move {
                receiver.recv().await.map(|item| (item, receiver))
            })
            .boxed();
            let feed = async {
                let mut sent = 0u64;
                while sent < chunk {
                    let data = match pending.take() {
                        Some(data) => data,
                        None => match body.next().await {
                            Some(Ok(data)) => data,
                            Some(Err(error)) => {
                                let _ = sender.send(Err(std::io::Error::other(error.to_string()))).await;
                                return Err(format!("the upstream's response broke off: {error}"));
                            }
                            None => {
                                let _ = sender
                                    .send(Err(std::io::Error::other("the upstream's response ended early")))
                                    .await;
                                return Err(format!(
                                    "the upstream's response ended after {} of {size} bytes",
                                    offset + sent
                                ));
                            }
                        },
                    };
                    let room = (chunk - sent) as usize;
                    let data = if data.len() > room {
                        pending = Some(data.slice(room..));
                        data.slice(..room)
                    } else {
                        data
                    };
                    sent += data.len() as u64;
                    self.throttle.pace(data.len() as u64).await;
                    Counters::add(&self.counters.bytes, data.len() as u64);
                    if let Ok(mut progress) = self.progress.lock() {
                        progress.advance(data.len() as u64);
                    }
                    if sender.send(Ok(data)).await.is_err() {
                        return Err("the store stopped reading".to_string());
                    }
                }
                drop(sender);
                Ok(())
            };
            let append = self.registry.append_upload(&self.name, session_id, None, stream);
            let (fed, appended) = tokio::join!(feed, append);
            if let Err(error) = fed {
                return Err(MirrorError::Invalid(format!("{digest}: {error}")));
            }
            let status = appended?;
            offset = status.size;
            mirrors::advance_transfer(
                self.registry.db.writer(),
                &self.options.upstream,
                self.name.as_str(),
                &digest.to_string(),
                offset as i64,
                now_millis(),
            )
            .await?;
        }
        if let Ok(mut progress) = self.progress.lock() {
            progress.finish();
        }
        self.finish(digest, session_id).await
    }

    /// Completes the session: the registry checks the digest of every byte. A mismatch
    /// removes the session (nothing becomes visible) and fails the blob.
    async fn finish(&self, digest: &Digest, session_id: &str) -> Result<(), MirrorError> {
        let registry = self.registry;
        let key = digest.to_string();
        let finished = registry.finish_upload(&self.name, session_id, digest, None).await;
        let forget = mirrors::remove_transfer(registry.db.writer(), &self.options.upstream, self.name.as_str(), &key);
        match finished {
            Ok(_) => {
                forget.await?;
                Counters::add(&self.counters.blobs, 1);
                Ok(())
            }
            Err(RegistryError::DigestMismatch { computed, .. }) => {
                let _ = registry.cancel_upload(&self.name, session_id).await;
                forget.await?;
                Err(MirrorError::Invalid(format!(
                    "blob {digest}: the upstream's bytes hash to {computed}; refused, nothing stored"
                )))
            }
            Err(error) => Err(error.into()),
        }
    }
}

fn short(digest: &Digest) -> String {
    let text = digest.to_string();
    text.chars().take(19).collect()
}
