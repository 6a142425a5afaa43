//! Packet lines (gitprotocol-common, "pkt-line Format"): reading a whole request body into
//! lines, and writing the lines, sections and sideband frames of a response. The framing
//! itself is gix-packetline's; this module adds the checks a server needs on client input.

use gix_packetline::blocking_io::encode;
use gix_packetline::decode::{self, Stream};
use gix_packetline::{Channel, PacketLineRef};

use super::ProtocolError;

/// Largest payload of one sideband frame: a pkt-line's 65516 data bytes less the band byte.
pub const MAX_BAND_DATA: usize = 65515;

/// One packet line of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line<'a> {
    /// A data line, without its trailing LF.
    Text(&'a [u8]),
    /// `0000`
    Flush,
    /// `0001`
    Delimiter,
    /// `0002`
    ResponseEnd,
}

/// Splits a request body into packet lines. Fails on a length prefix that is not four hex
/// digits, a line that claims more bytes than the body holds, or a line longer than the
/// protocol allows; text lines lose one trailing LF.
pub fn read_lines(body: &[u8]) -> Result<Vec<Line<'_>>, ProtocolError> {
    let mut lines = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let offset = body.len() - rest.len();
        match decode::streaming(rest) {
            Ok(Stream::Complete { line, bytes_consumed }) => {
                lines.push(match line {
                    PacketLineRef::Data(data) => Line::Text(data.strip_suffix(b"\n").unwrap_or(data)),
                    PacketLineRef::Flush => Line::Flush,
                    PacketLineRef::Delimiter => Line::Delimiter,
                    PacketLineRef::ResponseEnd => Line::ResponseEnd,
                });
                rest = &rest[bytes_consumed..];
            }
            Ok(Stream::Incomplete { bytes_needed }) => {
                return Err(ProtocolError::new(format!(
                    "truncated pkt-line at byte {offset}: {bytes_needed} more bytes expected"
                )))
            }
            Err(error) => {
                return Err(ProtocolError::new(format!(
                    "malformed pkt-line at byte {offset}: {error}"
                )));
            }
        }
    }
    Ok(lines)
}

/// Appends `text` and a LF as one packet line.
pub fn text(out: &mut Vec<u8>, text: &str) {
    // Writing to a Vec fails only for a line past the protocol's length, which no caller makes.
    encode::text_to_write(text.as_bytes(), out).expect("a text pkt-line within the length limit");
}

/// Appends a flush packet (`0000`).
pub fn flush(out: &mut Vec<u8>) {
    out.extend_from_slice(b"0000");
}

/// Appends a delimiter packet (`0001`).
pub fn delimiter(out: &mut Vec<u8>) {
    out.extend_from_slice(b"0001");
}

/// Appends an `ERR` packet line: the client prints it as a remote error and stops.
pub fn error(out: &mut Vec<u8>, message: &str) {
    let message = truncate(message, MAX_BAND_DATA - 8);
    encode::error_to_write(format!("{message}\n").as_bytes(), out).expect("an ERR pkt-line within the limit");
}

/// Appends one sideband frame of `data` (at most [`MAX_BAND_DATA`] bytes, not empty).
pub fn band(out: &mut Vec<u8>, channel: Channel, data: &[u8]) {
    encode::band_to_write(channel, data, out).expect("a sideband frame within the length limit");
}

fn truncate(message: &str, max: usize) -> &str {
    if message.len() <= max {
        return message;
    }
    let mut end = max;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    &message[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_data_and_special_lines() {
        let body = b"0014command=ls-refs\n0001000csymrefs\n0009peel\n0000";
        assert_eq!(
            read_lines(body).unwrap(),
            vec![
                Line::Text(b"command=ls-refs"),
                Line::Delimiter,
                Line::Text(b"symrefs"),
                Line::Text(b"peel"),
                Line::Flush
            ]
        );
        assert_eq!(read_lines(b"").unwrap(), vec![]);
        assert_eq!(read_lines(b"0002").unwrap(), vec![Line::ResponseEnd]);
    }

    #[test]
    fn refuses_malformed_lines() {
        for (body, expected) in [
            (&b"00zzdone"[..], "malformed pkt-line at byte 0"),
            (b"0009done\n0003", "malformed pkt-line at byte 9"),
            (b"0004", "malformed pkt-line at byte 0"),
            (b"0032want 1234", "truncated pkt-line at byte 0"),
            (b"000", "truncated pkt-line at byte 0"),
            (b"0000fff0", "truncated pkt-line at byte 4"),
            (b"ffff", "malformed pkt-line at byte 0"),
        ] {
            let error = read_lines(body).unwrap_err();
            assert!(error.message.starts_with(expected), "{body:?}: {error:?}");
        }
    }

    #[test]
    fn writes_lines_the_reader_reads_back() {
        let mut out = Vec::new();
        text(&mut out, "version 2");
        delimiter(&mut out);
        band(&mut out, Channel::Progress, b"counting\n");
        flush(&mut out);
        assert_eq!(&out[..4], b"000e");
        assert_eq!(
            read_lines(&out).unwrap(),
            vec![
                Line::Text(b"version 2"),
                Line::Delimiter,
                Line::Text(b"\x02counting"),
                Line::Flush
            ]
        );
        let mut out = Vec::new();
        error(&mut out, "not our ref");
        assert_eq!(out, b"0014ERR not our ref\n");
    }

    #[test]
    fn long_errors_are_cut_to_one_line() {
        let mut out = Vec::new();
        error(&mut out, &"é".repeat(40_000));
        assert_eq!(read_lines(&out).unwrap().len(), 1);
        let mut frame = Vec::new();
        band(&mut frame, Channel::Data, &[7; MAX_BAND_DATA]);
        assert_eq!(&frame[..4], b"fff0");
    }
}
