//! One `git-upload-pack` request, run on a blocking thread: parse, answer `ls-refs` or
//! `fetch`, and hand each piece of the answer to the HTTP response through a bounded
//! channel (`Output`). A request the client got wrong is answered with an `ERR` line while
//! nothing has been sent, and with a sideband error (band 3) once the pack has begun.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use gix_packetline::Channel;
use tokio::sync::mpsc;

use super::refs::Refs;
use super::request::{self, Command, Fetch};
use super::{pack, pktline, walk, ProtocolError};

/// Response pieces queued between the pack thread and the connection: at most this many
/// sideband frames (~64 KiB each) wait for a slow client.
pub const FRAMES_IN_FLIGHT: usize = 8;

/// How long one frame may wait for room in the channel (the client reading nothing).
const SEND_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a request was not answered in full.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{}", .0.message)]
    Protocol(ProtocolError),
    #[error("reading the catalog repository failed: {0}")]
    Repository(#[from] gix::Error),
    #[error("reading the catalog repository failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("the client went away")]
    ClientGone,
}

impl From<ProtocolError> for ServeError {
    fn from(error: ProtocolError) -> Self {
        ServeError::Protocol(error)
    }
}

/// The sending end of the response body.
pub struct Output {
    frames: mpsc::Sender<Bytes>,
    /// The runtime the blocking thread belongs to (for the send's timer).
    runtime: tokio::runtime::Handle,
    /// Whether the packfile section has begun (errors then go to band 3).
    in_packfile: bool,
}

impl Output {
    /// Call on a thread of the runtime (`spawn_blocking`).
    pub fn new(frames: mpsc::Sender<Bytes>) -> Self {
        Output {
            frames,
            runtime: tokio::runtime::Handle::current(),
            in_packfile: false,
        }
    }

    /// Sends `bytes`, waiting while the channel is full, but not longer than
    /// [`SEND_TIMEOUT`]: a client that stops reading gives up its thread.
    pub fn send(&mut self, bytes: Vec<u8>) -> Result<(), ServeError> {
        let send = tokio::time::timeout(SEND_TIMEOUT, self.frames.send(Bytes::from(bytes)));
        match self.runtime.block_on(send) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) | Err(_) => Err(ServeError::ClientGone),
        }
    }

    /// Sends a progress message (band 2).
    pub fn progress(&mut self, message: &str) -> Result<(), ServeError> {
        let mut frame = Vec::new();
        pktline::band(&mut frame, Channel::Progress, message.as_bytes());
        self.send(frame)
    }
}

/// Answers one request body; everything goes to `out`. A panic in the libraries below is
/// answered like a repository error, not by a response cut short without a word.
pub fn upload_pack(dir: &Path, body: &[u8], mut out: Output) {
    let answered = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| respond(dir, body, &mut out)));
    let error = match answered {
        Ok(Ok(())) | Ok(Err(ServeError::ClientGone)) => return,
        Ok(Err(error)) => error,
        Err(_) => ServeError::Io(std::io::Error::other("pack generation panicked")),
    };
    let message = match &error {
        ServeError::Protocol(error) => error.message.clone(),
        other => {
            tracing::error!(error = %other, "git-upload-pack failed");
            "upload-pack: the catalog repository could not be read; see the registry's log".to_string()
        }
    };
    let mut frame = Vec::new();
    match out.in_packfile {
        true => pktline::band(&mut frame, Channel::Error, format!("error: {message}\n").as_bytes()),
        false => pktline::error(&mut frame, &message),
    }
    let _ = out.send(frame);
}

fn respond(dir: &Path, body: &[u8], out: &mut Output) -> Result<(), ServeError> {
    match request::parse(body)? {
        Command::Empty => Ok(()),
        Command::LsRefs(arguments) => {
            let repo = open(dir)?;
            out.send(Refs::read(&repo)?.ls_refs(&arguments))
        }
        Command::Fetch(arguments) => fetch(dir, &arguments, out),
    }
}

fn open(dir: &Path) -> Result<gix::Repository, ServeError> {
    Ok(gix::open_opts(dir, gix::open::Options::isolated())?)
}

fn fetch(dir: &Path, arguments: &Fetch, out: &mut Output) -> Result<(), ServeError> {
    let repo = open(dir)?;
    let refs = Refs::read(&repo)?;
    let plan = walk::plan(&repo, &refs, arguments)?;
    let mut head = Vec::new();
    if let Some(acknowledgments) = &plan.acknowledgments {
        pktline::text(&mut head, "acknowledgments");
        if acknowledgments.common.is_empty() {
            pktline::text(&mut head, "NAK");
        }
        for id in &acknowledgments.common {
            pktline::text(&mut head, &format!("ACK {id}"));
        }
        if acknowledgments.ready {
            pktline::text(&mut head, "ready");
        }
        if !plan.send_pack {
            pktline::flush(&mut head);
            return out.send(head);
        }
        pktline::delimiter(&mut head);
    }
    if plan.shallow_info {
        pktline::text(&mut head, "shallow-info");
        for id in &plan.shallow {
            pktline::text(&mut head, &format!("shallow {id}"));
        }
        for id in &plan.unshallow {
            pktline::text(&mut head, &format!("unshallow {id}"));
        }
        pktline::delimiter(&mut head);
    }
    pktline::text(&mut head, "packfile");
    out.send(head)?;
    out.in_packfile = true;
    pack::write(&repo, &plan.objects, arguments.ofs_delta, !arguments.no_progress, out)?;
    let mut end = Vec::new();
    pktline::flush(&mut end);
    out.send(end)
}
