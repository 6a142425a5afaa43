//! `Range` (blob `GET`) and `Content-Range` (chunk `PATCH`) parsing.
//!
//! The first 16 bytes are two numbers (a blob size and an offset pair's seed); the rest is
//! the header text. Invariants: a resolved range lies inside the blob; a `Content-Range`
//! that parses has `start <= end <= MAX_OFFSET` (its length fits) and re-parses identically
//! from its canonical spelling; canonical headers built from numbers give exactly the range
//! RFC 9110 and the distribution spec say.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rbee_registry::oci::range::MAX_OFFSET;
use rbee_registry::oci::{parse_content_range, resolve_range, ByteRange, RangeRequest};

fn check_resolve(header: &str, size: u64) {
    match resolve_range(header, size) {
        RangeRequest::Partial(range) => {
            assert!(range.start <= range.end, "{header:?} of {size}: {range:?}");
            assert!(range.end < size, "{header:?} of {size}: {range:?} past the end");
            assert_eq!(range.len(), range.end - range.start + 1);
            assert!(range.len() <= size);
            assert!(header.trim().starts_with("bytes="));
        }
        RangeRequest::Unsatisfiable => assert!(header.trim().starts_with("bytes="), "{header:?}"),
        RangeRequest::Whole => {}
    }
}

fn check_content_range(header: &str) {
    if let Ok(range) = parse_content_range(header) {
        assert!(
            range.start <= range.end && range.end <= MAX_OFFSET,
            "{header:?}: {range:?}"
        );
        assert!(range.len() >= 1);
        for spelling in [
            format!("{}-{}", range.start, range.end),
            format!("bytes {}-{}/*", range.start, range.end),
            format!("bytes={}-{}", range.start, range.end),
        ] {
            assert_eq!(
                parse_content_range(&spelling),
                Ok(range),
                "{spelling:?} (from {header:?})"
            );
        }
    }
}

/// Canonical headers: the answer is known exactly.
fn check_canonical(size: u64, a: u64, b: u64) {
    let partial = |start, end| RangeRequest::Partial(ByteRange { start, end });
    let expected = if a > b {
        RangeRequest::Whole
    } else if a >= size {
        RangeRequest::Unsatisfiable
    } else {
        partial(a, b.min(size - 1))
    };
    assert_eq!(
        resolve_range(&format!("bytes={a}-{b}"), size),
        expected,
        "bytes={a}-{b} of {size}"
    );
    let expected = if a >= size {
        RangeRequest::Unsatisfiable
    } else {
        partial(a, size - 1)
    };
    assert_eq!(
        resolve_range(&format!("bytes={a}-"), size),
        expected,
        "bytes={a}- of {size}"
    );
    let expected = if b == 0 || size == 0 {
        RangeRequest::Unsatisfiable
    } else {
        partial(size.saturating_sub(b), size - 1)
    };
    assert_eq!(
        resolve_range(&format!("bytes=-{b}"), size),
        expected,
        "bytes=-{b} of {size}"
    );

    let content = parse_content_range(&format!("{a}-{b}"));
    if a <= b && b <= MAX_OFFSET {
        assert_eq!(content, Ok(ByteRange { start: a, end: b }));
    } else {
        assert!(content.is_err(), "{a}-{b} accepted");
    }
}

fn number(bytes: &[u8]) -> u64 {
    let mut buffer = [0u8; 8];
    buffer[..bytes.len()].copy_from_slice(bytes);
    // Small numbers are the interesting ones; the high byte picks how many bytes count.
    let value = u64::from_le_bytes(buffer);
    match buffer[7] % 4 {
        0 => value & 0xff,
        1 => value & 0xffff,
        2 => value & 0xffff_ffff,
        _ => value,
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 16 {
        return;
    }
    let (numbers, text) = data.split_at(16);
    let size = number(&numbers[..8]);
    let seed = number(&numbers[8..]);
    check_canonical(size, seed & 0xffff_ffff, seed >> 16);
    check_canonical(size, seed, size.wrapping_add(seed & 0xff));
    let Ok(header) = std::str::from_utf8(text) else {
        return;
    };
    check_resolve(header, size);
    check_content_range(header);
});
