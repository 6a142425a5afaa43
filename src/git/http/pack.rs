//! The packfile section: gix-pack turns the counted objects into pack entries (copying
//! what an existing pack already holds compressed, deltas included when the client takes
//! `ofs-delta`), and `FromEntriesIter` writes them as pack bytes into sideband frames of at
//! most 65515 bytes each, sent as they fill. In memory at once: the list of object ids, one
//! small chunk of entries, and one frame.

use std::io::{self, Write};

use gix::ObjectId;
use gix_pack::data::output::{
    bytes::FromEntriesIter,
    count::PackLocation,
    entry::iter_from_counts::{Mode, Options},
    Count,
};
use gix_packetline::Channel;

use super::pktline::{self, MAX_BAND_DATA};
use super::serve::{Output, ServeError};

/// Entries compressed ahead of the writer.
const ENTRIES_PER_CHUNK: usize = 16;

/// Writes a version 2 pack of `objects` to band 1 of `out`.
pub fn write(
    repo: &gix::Repository,
    objects: &[ObjectId],
    ofs_delta: bool,
    progress: bool,
    out: &mut Output,
) -> Result<(), ServeError> {
    let total = u32::try_from(objects.len())
        .map_err(|_| ServeError::Io(io::Error::other("more objects than a pack can hold")))?;
    if progress {
        out.progress(&format!("Enumerating objects: {total}, done.\n"))?;
    }
    // Without `ofs-delta` every object is written whole: counts that name no pack location
    // are compressed from the object's data, never copied as a delta.
    let counts: Vec<Count> = objects
        .iter()
        .map(|id| match ofs_delta {
            true => Count {
                id: *id,
                entry_pack_location: PackLocation::NotLookedUp,
            },
            false => Count::from_data(*id, None),
        })
        .collect();
    let mut db = repo.objects.clone().into_inner().into_arc()?;
    // Pack locations found while counting must stay valid while entries are copied.
    db.prevent_pack_unload();
    let entries = gix_pack::data::output::entry::iter_from_counts(
        counts,
        db,
        Box::new(gix::progress::Discard),
        Options {
            thread_limit: Some(1),
            mode: Mode::PackCopyAndBaseObjects,
            allow_thin_pack: false,
            chunk_size: ENTRIES_PER_CHUNK,
            version: gix_pack::data::Version::V2,
            ..Options::default()
        },
    )?;
    // A missing object would become an entry the writer skips, leaving the pack one object
    // short of its header: fail instead, with a message.
    let entries = gix::parallel::InOrderIter::from(entries).map(|chunk| {
        let chunk = chunk?;
        match chunk.iter().any(|entry| entry.is_invalid()) {
            true => Err(gix::error::not_found("an object to send is missing from the repository").not_found_error()),
            false => Ok(chunk),
        }
    });
    let mut writer = BandWriter {
        out,
        buffer: Vec::with_capacity(MAX_BAND_DATA),
        gone: false,
    };
    let pack = FromEntriesIter::new(
        entries,
        &mut writer,
        total,
        gix_pack::data::Version::V2,
        gix::hash::Kind::Sha1,
    );
    for step in pack {
        if let Err(error) = step {
            return Err(match writer.gone {
                true => ServeError::ClientGone,
                false => ServeError::Repository(error),
            });
        }
    }
    writer.flush().map_err(|_| ServeError::ClientGone)?;
    if progress {
        writer.out.progress(&format!("Total {total}\n"))?;
    }
    Ok(())
}

/// Pack bytes into band 1 frames.
struct BandWriter<'a> {
    out: &'a mut Output,
    buffer: Vec<u8>,
    /// Set when the client went away, to tell that apart from a repository error.
    gone: bool,
}

impl BandWriter<'_> {
    fn send_buffer(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let mut frame = Vec::with_capacity(self.buffer.len() + 5);
        pktline::band(&mut frame, Channel::Data, &self.buffer);
        self.buffer.clear();
        self.out.send(frame).map_err(|_| {
            self.gone = true;
            io::Error::new(io::ErrorKind::BrokenPipe, "the client went away")
        })
    }
}

impl Write for BandWriter<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = MAX_BAND_DATA - self.buffer.len();
        let taken = data.len().min(room);
        self.buffer.extend_from_slice(&data[..taken]);
        if self.buffer.len() == MAX_BAND_DATA {
            self.send_buffer()?;
        }
        Ok(taken)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send_buffer()
    }
}
