//! Property tests (proptest) of the `/catalog.git` request parsers, on stable with the unit
//! tests; the coverage-guided fuzzing of the same parsers is fuzz target `git_request`.
//! Bodies are built from pkt-line-shaped pieces (valid and broken length prefixes, the
//! protocol's keywords), so cases reach the parsers' branches, not only the first check.

use proptest::prelude::*;

use super::pktline::read_lines;
use super::request::{parse, Command, Deepen, Fetch};

fn piece() -> impl Strategy<Value = Vec<u8>> {
    let word = prop_oneof![
        Just("command=fetch".to_string()),
        Just("command=ls-refs".to_string()),
        Just("done".to_string()),
        Just("ofs-delta".to_string()),
        Just("peel".to_string()),
        "(want|have|shallow) [0-9a-f]{38,41}",
        "deepen(-since)? -?[0-9]{0,21}",
        "ref-prefix [ -~]{0,20}",
        "[ -~]{0,12}",
    ];
    prop_oneof![
        Just(b"0000".to_vec()),
        Just(b"0001".to_vec()),
        Just(b"0002".to_vec()),
        "[0-9a-fz]{4}".prop_map(String::into_bytes),
        word.prop_map(|text| format!("{:04x}{text}\n", text.len() + 5).into_bytes()),
    ]
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(piece(), 0..12).prop_map(|pieces| pieces.concat())
}

fn id() -> impl Strategy<Value = gix::ObjectId> {
    "[0-9a-f]{40}".prop_map(|hex| gix::ObjectId::from_hex(hex.as_bytes()).unwrap())
}

fn encode(lines: &[String]) -> Vec<u8> {
    let mut out = Vec::new();
    for line in lines {
        match line.as_str() {
            "0000" | "0001" => out.extend_from_slice(line.as_bytes()),
            text => super::pktline::text(&mut out, text),
        }
    }
    out
}

proptest! {
    #[test]
    fn request_bodies_never_panic_and_lines_round_trip(body in body()) {
        if let Ok(lines) = read_lines(&body) {
            let mut again = Vec::new();
            for line in &lines {
                match line {
                    super::pktline::Line::Text(text) => {
                        again.extend_from_slice(format!("{:04x}", text.len() + 5).as_bytes());
                        again.extend_from_slice(text);
                        again.push(b'\n');
                    }
                    super::pktline::Line::Flush => again.extend_from_slice(b"0000"),
                    super::pktline::Line::Delimiter => again.extend_from_slice(b"0001"),
                    super::pktline::Line::ResponseEnd => again.extend_from_slice(b"0002"),
                }
            }
            prop_assert_eq!(read_lines(&again).unwrap(), lines);
        }
        if let Ok(Command::Fetch(fetch)) = parse(&body) {
            prop_assert_ne!(fetch.deepen.depth, Some(0));
            prop_assert!(fetch.deepen.depth.is_none() || fetch.deepen.since.is_none());
        }
    }

    #[test]
    fn fetch_requests_parse_to_what_they_say(
        wants in proptest::collection::vec(id(), 1..4),
        haves in proptest::collection::vec(id(), 0..4),
        done: bool,
        ofs_delta: bool,
        depth in proptest::option::of(1u64..u64::MAX),
    ) {
        let mut lines = vec!["command=fetch".to_string(), "agent=git/2.47".to_string(), "0001".to_string()];
        lines.extend(wants.iter().map(|id| format!("want {id}")));
        lines.extend(haves.iter().map(|id| format!("have {id}")));
        if done { lines.push("done".into()) }
        if ofs_delta { lines.push("ofs-delta".into()) }
        if let Some(depth) = depth { lines.push(format!("deepen {depth}")) }
        lines.push("0000".into());
        let expected = Fetch { wants, haves, done, ofs_delta, deepen: Deepen { depth, since: None }, ..Fetch::default() };
        prop_assert_eq!(parse(&encode(&lines)), Ok(Command::Fetch(expected)));
    }
}
