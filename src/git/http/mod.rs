//! The catalog's smart HTTP server (gitprotocol-http, gitprotocol-v2): read-only
//! `git-upload-pack` over protocol version 2, written on gitoxide's pieces (gix-packetline
//! for framing, gix-traverse for walking trees, gix-pack for the pack), with no `git` binary.
//!
//! - [`CatalogGit::advertisement`]: the answer to `GET …/info/refs?service=…`: the v2
//!   capability advertisement, or for protocol v0 clients and for `git-receive-pack` an `ERR`
//!   line saying what to do instead.
//! - [`CatalogGit::upload_pack`]: the answer to `POST …/git-upload-pack` (`ls-refs`,
//!   `fetch`), produced on a blocking thread and streamed through a bounded channel, so a
//!   slow client holds back pack generation instead of filling memory.
//! - [`read_body`]: a request body as the protocol allows it (gzip or not, at most
//!   [`MAX_REQUEST_BYTES`] once decoded).
//!
//! spec/catalog.md ("Serving over smart HTTP") lists what is supported.

mod body;
mod pack;
pub mod pktline;
#[cfg(test)]
mod properties;
mod refs;
pub mod request;
mod serve;
mod walk;

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures::Stream;
use tokio::sync::Semaphore;

pub use body::{read_body, BodyError, MAX_REQUEST_BYTES};

/// Content type of the `info/refs` answer for `git-upload-pack`.
pub const ADVERTISEMENT_CONTENT_TYPE: &str = "application/x-git-upload-pack-advertisement";
/// Content type of the `info/refs` answer for `git-receive-pack`.
pub const RECEIVE_ADVERTISEMENT_CONTENT_TYPE: &str = "application/x-git-receive-pack-advertisement";
/// Content type of the `git-upload-pack` answer.
pub const RESULT_CONTENT_TYPE: &str = "application/x-git-upload-pack-result";

/// How many `git-upload-pack` answers are produced at once; more requests wait their turn.
const CONCURRENT_UPLOAD_PACKS: usize = 4;

/// The `agent` capability's value.
const AGENT: &str = concat!("rbee-registry/", env!("CARGO_PKG_VERSION"));

/// A client's mistake in the protocol, answered with an `ERR` packet line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError {
    pub message: String,
}

impl ProtocolError {
    pub fn new(message: impl Into<String>) -> Self {
        ProtocolError {
            message: message.into(),
        }
    }
}

/// The Git service a client names in `info/refs?service=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    UploadPack,
    ReceivePack,
}

impl Service {
    pub fn parse(name: &str) -> Option<Service> {
        match name {
            "git-upload-pack" => Some(Service::UploadPack),
            "git-receive-pack" => Some(Service::ReceivePack),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Service::UploadPack => "git-upload-pack",
            Service::ReceivePack => "git-receive-pack",
        }
    }
}

/// The protocol version a client asks for in its `Git-Protocol` header
/// (colon-separated `key=value` pairs; `version=2` selects version 2).
pub fn wants_protocol_v2(git_protocol: Option<&str>) -> bool {
    git_protocol.is_some_and(|value| value.split(':').any(|pair| pair.trim() == "version=2"))
}

/// Why pushing is refused, for the `ERR` line and the `git-receive-pack` endpoint.
pub const PUSH_REFUSED: &str =
    "this catalog is read-only over HTTP: git push is not accepted here; change the catalog with `rbee-registry catalog add` or push to its source and sync";

/// The served repository: `<data_dir>/catalog.git`, opened afresh by each request, so one
/// created or changed while the server runs is served as it is now.
#[derive(Debug, Clone)]
pub struct CatalogGit {
    dir: PathBuf,
    running: Arc<Semaphore>,
}

/// An `info/refs` answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advertisement {
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl CatalogGit {
    pub fn new(dir: PathBuf) -> Self {
        CatalogGit {
            dir,
            running: Arc::new(Semaphore::new(CONCURRENT_UPLOAD_PACKS)),
        }
    }

    /// Whether the repository exists (a bare repository has a `HEAD` file and `objects/`).
    pub fn exists(&self) -> bool {
        self.dir.join("HEAD").is_file() && self.dir.join("objects").is_dir()
    }

    /// The answer to `GET info/refs?service=…`. Version 2 clients of `git-upload-pack` get
    /// the capability advertisement; a version 0/1 client gets an `ERR` line naming the
    /// upgrade, and `git-receive-pack` an `ERR` line saying pushing is not accepted (git
    /// prints both as `remote error: …`).
    pub fn advertisement(&self, service: Service, protocol_v2: bool) -> Advertisement {
        let mut body = Vec::new();
        let content_type = match service {
            Service::UploadPack => ADVERTISEMENT_CONTENT_TYPE,
            Service::ReceivePack => RECEIVE_ADVERTISEMENT_CONTENT_TYPE,
        };
        if service == Service::UploadPack && protocol_v2 {
            pktline::text(&mut body, "version 2");
            pktline::text(&mut body, &format!("agent={AGENT}"));
            pktline::text(&mut body, "ls-refs=unborn");
            pktline::text(&mut body, "fetch=shallow");
            pktline::text(&mut body, "object-format=sha1");
            pktline::flush(&mut body);
            return Advertisement { content_type, body };
        }
        pktline::text(&mut body, &format!("# service={}", service.name()));
        pktline::flush(&mut body);
        match service {
            Service::UploadPack => pktline::error(
                &mut body,
                "this server speaks Git protocol version 2 only: use git 2.26 or newer, or set `git config protocol.version 2`",
            ),
            Service::ReceivePack => pktline::error(&mut body, PUSH_REFUSED),
        }
        Advertisement { content_type, body }
    }

    /// The answer to a `git-upload-pack` request: its body, produced on a blocking thread.
    /// A mistake in the request or a want the server does not offer is an `ERR` line; a
    /// failure while the pack streams is a sideband error (band 3).
    pub fn upload_pack(&self, request: Vec<u8>) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
        let (frames, receiver) = tokio::sync::mpsc::channel(serve::FRAMES_IN_FLIGHT);
        let dir = self.dir.clone();
        let running = Arc::clone(&self.running);
        tokio::spawn(async move {
            let Ok(_permit) = running.acquire_owned().await else {
                return;
            };
            let work =
                tokio::task::spawn_blocking(move || serve::upload_pack(&dir, &request, serve::Output::new(frames)));
            if let Err(error) = work.await {
                tracing::error!(%error, "git-upload-pack thread failed");
            }
        });
        futures::stream::unfold(receiver, |mut receiver| async move {
            receiver.recv().await.map(|frame| (Ok(frame), receiver))
        })
    }
}
