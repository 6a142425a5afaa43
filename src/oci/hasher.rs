//! A SHA-256 whose running state can be saved and restored.
//!
//! A chunked upload may be continued by another request, after a restart or on another
//! process, so the digest of the bytes received so far has to live in the database with the
//! upload session. `sha2` does not serialise its state, so this keeps the eight state words,
//! the byte count and the unfinished block itself and feeds whole blocks to
//! [`sha2::compress256`] (which uses the CPU's SHA extensions where present).

use sha2::digest::generic_array::GenericArray;

use super::{Digest, DigestAlgorithm};

const INITIAL_STATE: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];
const BLOCK: usize = 64;

/// Incremental SHA-256 with a portable, saveable state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResumableSha256 {
    state: [u32; 8],
    length: u64,
    pending: Vec<u8>,
}

impl Default for ResumableSha256 {
    fn default() -> Self {
        Self::new()
    }
}

impl ResumableSha256 {
    pub fn new() -> Self {
        ResumableSha256 {
            state: INITIAL_STATE,
            length: 0,
            pending: Vec::with_capacity(BLOCK),
        }
    }

    /// Bytes hashed so far.
    pub fn length(&self) -> u64 {
        self.length
    }

    pub fn update(&mut self, mut data: &[u8]) {
        self.length += data.len() as u64;
        if !self.pending.is_empty() {
            let take = (BLOCK - self.pending.len()).min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.pending.len() < BLOCK {
                return;
            }
            let block = std::mem::take(&mut self.pending);
            compress_blocks(&mut self.state, &block);
            self.pending = block;
            self.pending.clear();
        }
        let whole = data.len() - data.len() % BLOCK;
        compress_blocks(&mut self.state, &data[..whole]);
        self.pending.extend_from_slice(&data[whole..]);
    }

    pub fn finish(mut self) -> Digest {
        let bit_length = self.length.wrapping_mul(8);
        let mut tail = std::mem::take(&mut self.pending);
        tail.push(0x80);
        while tail.len() % BLOCK != BLOCK - 8 {
            tail.push(0);
        }
        tail.extend_from_slice(&bit_length.to_be_bytes());
        compress_blocks(&mut self.state, &tail);
        let mut out = [0u8; 32];
        for (chunk, word) in out.chunks_exact_mut(4).zip(self.state) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
        Digest::new(DigestAlgorithm::Sha256, hex::encode(out)).expect("64 hex characters")
    }

    /// Saves the state: 32 bytes of state words, 8 bytes of length, then the pending bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(40 + self.pending.len());
        for word in self.state {
            out.extend_from_slice(&word.to_be_bytes());
        }
        out.extend_from_slice(&self.length.to_be_bytes());
        out.extend_from_slice(&self.pending);
        out
    }

    /// Restores a state saved by [`to_bytes`](Self::to_bytes); `None` if it is malformed.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.len() < 40 {
            return None;
        }
        let mut state = [0u32; 8];
        for (word, chunk) in state.iter_mut().zip(bytes[..32].chunks_exact(4)) {
            *word = u32::from_be_bytes(chunk.try_into().ok()?);
        }
        let length = u64::from_be_bytes(bytes[32..40].try_into().ok()?);
        let pending = bytes[40..].to_vec();
        if pending.len() as u64 != length % BLOCK as u64 {
            return None;
        }
        Some(ResumableSha256 { state, length, pending })
    }
}

fn compress_blocks(state: &mut [u32; 8], data: &[u8]) {
    debug_assert_eq!(data.len() % BLOCK, 0);
    if data.is_empty() {
        return;
    }
    let count = data.len() / BLOCK;
    // SAFETY: `GenericArray<u8, U64>` is a `#[repr(transparent)]` wrapper of `[u8; 64]`
    // (alignment 1), and `data` holds exactly `count` such arrays back to back.
    let blocks: &[GenericArray<u8, sha2::digest::consts::U64>] =
        unsafe { std::slice::from_raw_parts(data.as_ptr().cast(), count) };
    sha2::compress256(state, blocks);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_sha2_for_every_split() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 + 3) as u8).collect();
        let expected = Digest::sha256_of(&data);
        for split in [0, 1, 55, 56, 63, 64, 65, 127, 128, 500, 999, 1000] {
            let mut first = ResumableSha256::new();
            first.update(&data[..split]);
            let mut resumed = ResumableSha256::from_bytes(&first.to_bytes()).unwrap();
            for piece in data[split..].chunks(37) {
                resumed.update(piece);
            }
            assert_eq!(resumed.length(), 1000);
            assert_eq!(resumed.finish(), expected, "split at {split}");
        }
        assert_eq!(ResumableSha256::new().finish(), Digest::sha256_of(b""));
    }

    #[test]
    fn rejects_malformed_state() {
        assert!(ResumableSha256::from_bytes(&[0; 39]).is_none());
        let mut saved = ResumableSha256::new().to_bytes();
        saved.push(1);
        assert!(ResumableSha256::from_bytes(&saved).is_none());
    }
}
