//! A protocol v2 command request (gitprotocol-v2, "Command Request"): the command, its
//! capability lines, a delimiter, the command's arguments, a flush. Parsed once into
//! [`Command`]; anything this server does not support is refused with a message naming it.

use gix::ObjectId;

use super::pktline::{read_lines, Line};
use super::ProtocolError;

/// A parsed request to `git-upload-pack`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// A flush packet alone: the client has nothing more to ask.
    Empty,
    LsRefs(LsRefs),
    Fetch(Fetch),
}

/// Arguments of `ls-refs`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LsRefs {
    pub symrefs: bool,
    pub peel: bool,
    pub unborn: bool,
    /// `ref-prefix` values; empty means every ref.
    pub prefixes: Vec<Vec<u8>>,
}

/// How far back history goes for a shallow fetch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Deepen {
    /// `deepen N`: at most this many commits from each want (1 = the wants only).
    pub depth: Option<u64>,
    /// `deepen-since T`: only commits made at or after this time (seconds since the epoch).
    pub since: Option<i64>,
}

/// Arguments of `fetch`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fetch {
    pub wants: Vec<ObjectId>,
    pub haves: Vec<ObjectId>,
    pub done: bool,
    pub ofs_delta: bool,
    pub no_progress: bool,
    pub include_tag: bool,
    pub wait_for_done: bool,
    /// Commits the client holds without their parents (`shallow`).
    pub shallows: Vec<ObjectId>,
    pub deepen: Deepen,
}

impl Fetch {
    pub fn is_shallow_request(&self) -> bool {
        self.deepen != Deepen::default()
    }
}

/// Parses a whole request body.
pub fn parse(body: &[u8]) -> Result<Command, ProtocolError> {
    let lines = read_lines(body)?;
    let mut lines = lines.into_iter();
    let command = match lines.next() {
        None | Some(Line::Flush) => return Ok(Command::Empty),
        Some(Line::Text(line)) => match line.strip_prefix(b"command=") {
            Some(command) => command.to_vec(),
            None => {
                return Err(ProtocolError::new(format!(
                    "expected a command=… line, got {:?}; this server speaks Git protocol version 2",
                    String::from_utf8_lossy(line)
                )))
            }
        },
        Some(other) => return Err(ProtocolError::new(format!("expected a command, got {other:?}"))),
    };
    // Capabilities up to the delimiter (or a flush: a command without arguments).
    let mut arguments = Vec::new();
    let mut ended = false;
    for line in lines.by_ref() {
        match line {
            Line::Text(capability) => check_capability(capability)?,
            Line::Delimiter => break,
            Line::Flush => {
                ended = true;
                break;
            }
            Line::ResponseEnd => return Err(ProtocolError::new("unexpected response-end packet in a request")),
        }
    }
    if !ended {
        for line in lines.by_ref() {
            match line {
                Line::Text(argument) => arguments.push(argument),
                Line::Flush => {
                    ended = true;
                    break;
                }
                other => return Err(ProtocolError::new(format!("unexpected {other:?} among the arguments"))),
            }
        }
    }
    if !ended {
        return Err(ProtocolError::new("the request ends without a flush packet"));
    }
    if lines.next().is_some() {
        return Err(ProtocolError::new(
            "one command per request: data after the flush packet",
        ));
    }
    match command.as_slice() {
        b"ls-refs" => parse_ls_refs(&arguments).map(Command::LsRefs),
        b"fetch" => parse_fetch(&arguments).map(Command::Fetch),
        other => Err(ProtocolError::new(format!(
            "unknown command {:?}; this server offers ls-refs and fetch",
            String::from_utf8_lossy(other)
        ))),
    }
}

fn check_capability(line: &[u8]) -> Result<(), ProtocolError> {
    if let Some(format) = line.strip_prefix(b"object-format=") {
        if format != b"sha1" {
            return Err(ProtocolError::new(format!(
                "object-format {:?} is not served; this repository uses sha1",
                String::from_utf8_lossy(format)
            )));
        }
    }
    // Others (`agent`, `session-id`, `server-option`, unknown keys) change nothing here.
    Ok(())
}

fn parse_ls_refs(arguments: &[&[u8]]) -> Result<LsRefs, ProtocolError> {
    let mut request = LsRefs::default();
    for &argument in arguments {
        match argument {
            b"symrefs" => request.symrefs = true,
            b"peel" => request.peel = true,
            b"unborn" => request.unborn = true,
            _ => match argument.strip_prefix(b"ref-prefix ") {
                Some(prefix) => request.prefixes.push(prefix.to_vec()),
                None => return Err(unknown_argument("ls-refs", argument)),
            },
        }
    }
    Ok(request)
}

fn parse_fetch(arguments: &[&[u8]]) -> Result<Fetch, ProtocolError> {
    let mut request = Fetch::default();
    for &argument in arguments {
        let (name, value) = match argument.iter().position(|&byte| byte == b' ') {
            Some(space) => (&argument[..space], Some(&argument[space + 1..])),
            None => (argument, None),
        };
        match (name, value) {
            (b"want", Some(id)) => request.wants.push(object_id(id)?),
            (b"have", Some(id)) => request.haves.push(object_id(id)?),
            (b"shallow", Some(id)) => request.shallows.push(object_id(id)?),
            (b"done", None) => request.done = true,
            (b"ofs-delta", None) => request.ofs_delta = true,
            (b"no-progress", None) => request.no_progress = true,
            (b"include-tag", None) => request.include_tag = true,
            (b"wait-for-done", None) => request.wait_for_done = true,
            // A full pack is always a valid answer to a thin-pack request.
            (b"thin-pack", None) => {}
            (b"deepen", Some(depth)) => request.deepen.depth = Some(depth_of(depth)?),
            (b"deepen-since", Some(time)) => request.deepen.since = Some(time_of(time)?),
            (b"deepen-relative" | b"deepen-not" | b"filter" | b"want-ref" | b"sideband-all" | b"packfile-uris", _) => {
                return Err(ProtocolError::new(format!(
                    "fetch argument {:?} is not supported by this server",
                    String::from_utf8_lossy(name)
                )))
            }
            _ => return Err(unknown_argument("fetch", argument)),
        }
    }
    if request.deepen.depth.is_some() && request.deepen.since.is_some() {
        return Err(ProtocolError::new("deepen and deepen-since cannot be combined"));
    }
    Ok(request)
}

fn unknown_argument(command: &str, argument: &[u8]) -> ProtocolError {
    ProtocolError::new(format!(
        "unexpected {command} argument {:?}",
        String::from_utf8_lossy(&argument[..argument.len().min(80)])
    ))
}

fn object_id(hex: &[u8]) -> Result<ObjectId, ProtocolError> {
    if hex.len() != 40 {
        return Err(ProtocolError::new(format!(
            "invalid object id {:?}: expected 40 hexadecimal digits (sha1)",
            String::from_utf8_lossy(&hex[..hex.len().min(80)])
        )));
    }
    ObjectId::from_hex(hex).map_err(|_| {
        ProtocolError::new(format!(
            "invalid object id {:?}: expected 40 hexadecimal digits (sha1)",
            String::from_utf8_lossy(hex)
        ))
    })
}

/// A depth of at least 1. Any larger number is accepted: a walk never goes further than the
/// history there is, so `deepen 2147483647` (git's "unshallow") costs no more than the repository.
fn depth_of(text: &[u8]) -> Result<u64, ProtocolError> {
    let depth = std::str::from_utf8(text)
        .ok()
        .filter(|text| text.bytes().all(|byte| byte.is_ascii_digit()))
        .and_then(|text| text.parse::<u64>().ok())
        .ok_or_else(|| {
            ProtocolError::new(format!(
                "invalid deepen {:?}: expected a positive number of commits",
                String::from_utf8_lossy(&text[..text.len().min(80)])
            ))
        })?;
    if depth == 0 {
        return Err(ProtocolError::new("invalid deepen 0: the depth must be at least 1"));
    }
    Ok(depth)
}

fn time_of(text: &[u8]) -> Result<i64, ProtocolError> {
    std::str::from_utf8(text)
        .ok()
        .filter(|text| text.bytes().all(|byte| byte.is_ascii_digit()))
        .and_then(|text| text.parse::<i64>().ok())
        .ok_or_else(|| {
            ProtocolError::new(format!(
                "invalid deepen-since {:?}: expected seconds since the epoch",
                String::from_utf8_lossy(&text[..text.len().min(80)])
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(lines: &[&str]) -> Vec<u8> {
        let mut out = Vec::new();
        for line in lines {
            match *line {
                "0000" => super::super::pktline::flush(&mut out),
                "0001" => super::super::pktline::delimiter(&mut out),
                text => super::super::pktline::text(&mut out, text),
            }
        }
        out
    }

    const A: &str = "1111111111111111111111111111111111111111";
    const B: &str = "2222222222222222222222222222222222222222";

    #[test]
    fn parses_ls_refs() {
        let request = parse(&body(&[
            "command=ls-refs",
            "agent=git/2.43",
            "object-format=sha1",
            "0001",
            "peel",
            "symrefs",
            "unborn",
            "ref-prefix HEAD",
            "ref-prefix refs/heads/",
            "0000",
        ]))
        .unwrap();
        assert_eq!(
            request,
            Command::LsRefs(LsRefs {
                symrefs: true,
                peel: true,
                unborn: true,
                prefixes: vec![b"HEAD".to_vec(), b"refs/heads/".to_vec()],
            })
        );
        assert_eq!(
            parse(&body(&["command=ls-refs", "0000"])).unwrap(),
            Command::LsRefs(LsRefs::default())
        );
        assert_eq!(parse(&body(&["0000"])).unwrap(), Command::Empty);
    }

    #[test]
    fn parses_fetch() {
        let want = format!("want {A}");
        let have = format!("have {B}");
        let shallow = format!("shallow {B}");
        let request = parse(&body(&[
            "command=fetch",
            "0001",
            "thin-pack",
            "ofs-delta",
            "include-tag",
            &want,
            &have,
            &shallow,
            "deepen 2147483648",
            "done",
            "0000",
        ]))
        .unwrap();
        let Command::Fetch(fetch) = request else {
            panic!("{request:?}")
        };
        assert_eq!(fetch.wants, vec![ObjectId::from_hex(A.as_bytes()).unwrap()]);
        assert_eq!(fetch.haves, vec![ObjectId::from_hex(B.as_bytes()).unwrap()]);
        assert_eq!(fetch.shallows, fetch.haves);
        assert_eq!(fetch.deepen.depth, Some(2_147_483_648));
        assert!(fetch.done && fetch.ofs_delta && fetch.include_tag && !fetch.no_progress);
    }

    #[test]
    fn refuses_bad_requests() {
        let want = format!("want {A}");
        for (lines, expected) in [
            (vec!["want 1234", "0000"], "expected a command=… line"),
            (vec!["command=push", "0001", "0000"], "unknown command \"push\""),
            (
                vec!["command=fetch", "object-format=sha256", "0001", "0000"],
                "object-format \"sha256\"",
            ),
            (
                vec!["command=fetch", "0001", "want 1234", "0000"],
                "invalid object id \"1234\"",
            ),
            (
                vec!["command=fetch", "0001", &format!("want {}", "g".repeat(40)), "0000"],
                "invalid object id",
            ),
            (
                vec!["command=fetch", "0001", &want, "deepen 0", "0000"],
                "invalid deepen 0",
            ),
            (
                vec!["command=fetch", "0001", &want, "deepen -1", "0000"],
                "invalid deepen \"-1\"",
            ),
            (
                vec!["command=fetch", "0001", &want, "deepen 99999999999999999999999", "0000"],
                "invalid deepen",
            ),
            (
                vec!["command=fetch", "0001", &want, "deepen-not main", "0000"],
                "\"deepen-not\" is not supported",
            ),
            (
                vec!["command=fetch", "0001", &want, "bogus", "0000"],
                "unexpected fetch argument \"bogus\"",
            ),
            (vec!["command=ls-refs", "0001", "peel"], "ends without a flush"),
            (
                vec!["command=ls-refs", "0000", "command=fetch", "0000"],
                "one command per request",
            ),
        ] {
            let error = parse(&body(&lines)).unwrap_err();
            assert!(error.message.contains(expected), "{lines:?}: {error:?}");
        }
    }
}
