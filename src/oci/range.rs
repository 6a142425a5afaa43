//! Byte ranges: the `Range` request header of blob `GET`, and the `Content-Range` of a chunk `PATCH`.

use super::ParseError;

/// An inclusive byte range `start..=end` within a blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub start: u64,
    pub end: u64,
}

impl ByteRange {
    pub fn len(&self) -> u64 {
        self.end - self.start + 1
    }

    pub fn is_empty(&self) -> bool {
        false
    }
}

/// The outcome of resolving a `Range` header against a blob's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeRequest {
    /// No (usable) range: serve the whole blob.
    Whole,
    Partial(ByteRange),
    /// The range lies outside the blob: `416`.
    Unsatisfiable,
}

/// Resolves a `Range: bytes=…` header for a blob of `size` bytes. Only a single range is
/// supported; a header we do not understand is ignored, as RFC 9110 allows.
pub fn resolve_range(header: &str, size: u64) -> RangeRequest {
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return RangeRequest::Whole;
    };
    if spec.contains(',') {
        return RangeRequest::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeRequest::Whole;
    };
    let parse = |text: &str| text.trim().parse::<u64>().ok();
    let range = match (first.trim().is_empty(), last.trim().is_empty()) {
        (true, false) => {
            let Some(suffix) = parse(last) else {
                return RangeRequest::Whole;
            };
            if suffix == 0 || size == 0 {
                return RangeRequest::Unsatisfiable;
            }
            ByteRange {
                start: size.saturating_sub(suffix),
                end: size - 1,
            }
        }
        (false, true) => {
            let Some(start) = parse(first) else {
                return RangeRequest::Whole;
            };
            if start >= size {
                return RangeRequest::Unsatisfiable;
            }
            ByteRange { start, end: size - 1 }
        }
        (false, false) => {
            let (Some(start), Some(end)) = (parse(first), parse(last)) else {
                return RangeRequest::Whole;
            };
            if start > end {
                return RangeRequest::Whole;
            }
            if start >= size {
                return RangeRequest::Unsatisfiable;
            }
            ByteRange {
                start,
                end: end.min(size - 1),
            }
        }
        (true, true) => return RangeRequest::Whole,
    };
    RangeRequest::Partial(range)
}

/// The largest byte offset a chunk may name (`i64::MAX`, the database's size type).
pub const MAX_OFFSET: u64 = i64::MAX as u64;

/// Parses a chunk's `Content-Range` (`<start>-<end>`, as the distribution spec writes it;
/// a `bytes ` or `bytes=` prefix and a `/total` suffix are tolerated).
pub fn parse_content_range(header: &str) -> Result<ByteRange, ParseError> {
    let invalid = || ParseError::ContentRange(header.to_string());
    let text = header.trim();
    let text = text
        .strip_prefix("bytes=")
        .or_else(|| text.strip_prefix("bytes "))
        .unwrap_or(text);
    // An optional `/<total>` (as in HTTP's `Content-Range`) must be a number or `*`.
    let text = match text.split_once('/') {
        Some((range, total)) => {
            let total = total.trim();
            if total != "*" && total.parse::<u64>().is_err() {
                return Err(invalid());
            }
            range
        }
        None => text,
    };
    let (start, end) = text.split_once('-').ok_or_else(invalid)?;
    let start: u64 = start.trim().parse().map_err(|_| invalid())?;
    let end: u64 = end.trim().parse().map_err(|_| invalid())?;
    // Offsets are stored as signed 64-bit integers; past that a range's length would not
    // even fit in a u64 (found by the `content_range` property tests: `0-18446744073709551615`).
    if end < start || end > MAX_OFFSET {
        return Err(invalid());
    }
    Ok(ByteRange { start, end })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_header() {
        let r = |start, end| RangeRequest::Partial(ByteRange { start, end });
        assert_eq!(resolve_range("bytes=0-9", 100), r(0, 9));
        assert_eq!(resolve_range("bytes=90-200", 100), r(90, 99));
        assert_eq!(resolve_range("bytes=10-", 100), r(10, 99));
        assert_eq!(resolve_range("bytes=-10", 100), r(90, 99));
        assert_eq!(resolve_range("bytes=-1000", 100), r(0, 99));
        assert_eq!(resolve_range("bytes=100-", 100), RangeRequest::Unsatisfiable);
        assert_eq!(resolve_range("bytes=0-1,5-6", 100), RangeRequest::Whole);
        assert_eq!(resolve_range("items=0-1", 100), RangeRequest::Whole);
        assert_eq!(resolve_range("bytes=5-1", 100), RangeRequest::Whole);
    }

    #[test]
    fn content_range_header() {
        assert_eq!(parse_content_range("0-99").unwrap(), ByteRange { start: 0, end: 99 });
        assert_eq!(
            parse_content_range("bytes 5-9/10").unwrap(),
            ByteRange { start: 5, end: 9 }
        );
        assert_eq!(parse_content_range("5-9/*").unwrap(), ByteRange { start: 5, end: 9 });
        for bad in [
            "",
            "5",
            "a-b",
            "9-5",
            "-5",
            "1-",
            "0-18446744073709551615",
            "0-9223372036854775808",
            "bytes 5-9/abc",
            "5-9/",
        ] {
            assert!(parse_content_range(bad).is_err(), "{bad}");
        }
    }
}
