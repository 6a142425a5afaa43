//! A `git-upload-pack` request body: read whole but bounded (a request is pkt-lines of wants
//! and haves, small by nature), gunzipped when `Content-Encoding: gzip` says so (git
//! compresses large requests), again bounded.

use std::io::Read;

use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};

/// Largest request accepted, before and after gzip decoding: 1 MiB of pkt-lines is some
/// 20 000 `have` lines, far more than git sends in one round.
pub const MAX_REQUEST_BYTES: usize = 1 << 20;

/// Why a request body was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the request body is larger than {MAX_REQUEST_BYTES} bytes")]
    TooLarge,
    #[error("Content-Encoding {0:?} is not supported (gzip or none)")]
    UnsupportedEncoding(String),
    #[error("the gzip request body cannot be decoded: {0}")]
    BadGzip(std::io::Error),
    #[error("the request body could not be read")]
    Read,
}

/// Reads a request body of at most [`MAX_REQUEST_BYTES`] and undoes its `Content-Encoding`.
pub async fn read_body<B>(content_encoding: Option<&str>, body: B) -> Result<Vec<u8>, BodyError>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let gzip = match content_encoding.map(str::trim) {
        None | Some("") | Some("identity") => false,
        Some(encoding) if encoding.eq_ignore_ascii_case("gzip") || encoding.eq_ignore_ascii_case("x-gzip") => true,
        Some(other) => return Err(BodyError::UnsupportedEncoding(other.chars().take(40).collect())),
    };
    let raw = match Limited::new(body, MAX_REQUEST_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) if error.downcast_ref::<LengthLimitError>().is_some() => return Err(BodyError::TooLarge),
        Err(_) => return Err(BodyError::Read),
    };
    if !gzip {
        return Ok(raw.to_vec());
    }
    gunzip(&raw)
}

fn gunzip(compressed: &[u8]) -> Result<Vec<u8>, BodyError> {
    let mut decoded = Vec::new();
    flate2::read::GzDecoder::new(compressed)
        .take(MAX_REQUEST_BYTES as u64 + 1)
        .read_to_end(&mut decoded)
        .map_err(BodyError::BadGzip)?;
    if decoded.len() > MAX_REQUEST_BYTES {
        return Err(BodyError::TooLarge);
    }
    Ok(decoded)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use http_body_util::Full;

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    #[tokio::test]
    async fn reads_plain_and_gzip_bodies() {
        let plain = read_body(None, Full::new(Bytes::from_static(b"0000"))).await.unwrap();
        assert_eq!(plain, b"0000");
        let zipped = read_body(Some("gzip"), Full::new(Bytes::from(gzip(b"0009done\n0000"))))
            .await
            .unwrap();
        assert_eq!(zipped, b"0009done\n0000");
    }

    #[tokio::test]
    async fn bounds_bodies_before_and_after_decoding() {
        let big = Full::new(Bytes::from(vec![b'0'; MAX_REQUEST_BYTES + 1]));
        assert!(matches!(read_body(None, big).await, Err(BodyError::TooLarge)));
        // 10 MiB of zeros compress to a few KiB: the decoded size is what counts.
        let bomb = Full::new(Bytes::from(gzip(&vec![0; 10 << 20])));
        assert!(matches!(read_body(Some("gzip"), bomb).await, Err(BodyError::TooLarge)));
        let garbage = Full::new(Bytes::from_static(b"not gzip at all"));
        assert!(matches!(
            read_body(Some("gzip"), garbage).await,
            Err(BodyError::BadGzip(_))
        ));
        let brotli = Full::new(Bytes::from_static(b""));
        assert!(matches!(
            read_body(Some("br"), brotli).await,
            Err(BodyError::UnsupportedEncoding(_))
        ));
    }
}
