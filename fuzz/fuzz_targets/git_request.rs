//! The catalog's Git smart HTTP request parsers (`/catalog.git/git-upload-pack` bodies):
//! `git::http::pktline::read_lines` and `git::http::request::parse` on raw bytes.
//!
//! Invariants: lines that read re-encode to a body that reads back to the same lines; a
//! parsed `ls-refs` or `fetch` re-encoded canonically parses back to the same request; a
//! parsed `fetch` has a positive depth and never both `deepen` and `deepen-since`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rbee_registry::git::http::pktline::{read_lines, Line};
use rbee_registry::git::http::request::{parse, Command};

fn data_line(out: &mut Vec<u8>, data: &[u8]) {
    out.extend_from_slice(format!("{:04x}", data.len() + 5).as_bytes());
    out.extend_from_slice(data);
    out.push(b'\n');
}

fn check_lines(data: &[u8]) {
    let Ok(lines) = read_lines(data) else {
        return;
    };
    let mut again = Vec::new();
    for line in &lines {
        match line {
            // One byte more (the LF) than the longest line read: cannot be written back.
            Line::Text(text) if text.len() + 5 > 65520 => return,
            Line::Text(text) => data_line(&mut again, text),
            Line::Flush => again.extend_from_slice(b"0000"),
            Line::Delimiter => again.extend_from_slice(b"0001"),
            Line::ResponseEnd => again.extend_from_slice(b"0002"),
        }
    }
    assert_eq!(read_lines(&again).unwrap(), lines);
}

fn canonical(command: &Command) -> Vec<u8> {
    let mut out = Vec::new();
    let mut line = |text: &[u8]| data_line(&mut out, text);
    match command {
        Command::Empty => {}
        Command::LsRefs(ls_refs) => {
            line(b"command=ls-refs");
            line(b"");
            for (flag, name) in [(ls_refs.symrefs, "symrefs"), (ls_refs.peel, "peel"), (ls_refs.unborn, "unborn")] {
                if flag {
                    line(name.as_bytes());
                }
            }
            for prefix in &ls_refs.prefixes {
                line(&[b"ref-prefix ".as_slice(), prefix].concat());
            }
        }
        Command::Fetch(fetch) => {
            line(b"command=fetch");
            line(b"");
            for (kind, ids) in [("want", &fetch.wants), ("have", &fetch.haves), ("shallow", &fetch.shallows)] {
                for id in ids {
                    line(format!("{kind} {id}").as_bytes());
                }
            }
            for (flag, name) in [
                (fetch.done, "done"),
                (fetch.ofs_delta, "ofs-delta"),
                (fetch.no_progress, "no-progress"),
                (fetch.include_tag, "include-tag"),
                (fetch.wait_for_done, "wait-for-done"),
            ] {
                if flag {
                    line(name.as_bytes());
                }
            }
            if let Some(depth) = fetch.deepen.depth {
                line(format!("deepen {depth}").as_bytes());
            }
            if let Some(since) = fetch.deepen.since {
                line(format!("deepen-since {since}").as_bytes());
            }
        }
    }
    // The empty placeholder lines above stand for the delimiter.
    let mut body = Vec::new();
    let mut rest = out.as_slice();
    while !rest.is_empty() {
        let length = usize::from_str_radix(std::str::from_utf8(&rest[..4]).unwrap(), 16).unwrap();
        if length == 5 {
            body.extend_from_slice(b"0001");
        } else {
            body.extend_from_slice(&rest[..length]);
        }
        rest = &rest[length..];
    }
    body.extend_from_slice(b"0000");
    body
}

fn check_request(data: &[u8]) {
    let Ok(command) = parse(data) else {
        return;
    };
    if let Command::Fetch(fetch) = &command {
        assert_ne!(fetch.deepen.depth, Some(0));
        assert!(fetch.deepen.depth.is_none() || fetch.deepen.since.is_none());
    }
    let body = canonical(&command);
    if body.len() > 1 << 20 {
        return;
    }
    assert_eq!(parse(&body), Ok(command), "{:?}", String::from_utf8_lossy(&body));
}

fuzz_target!(|data: &[u8]| {
    check_lines(data);
    check_request(data);
});
