//! Tar extraction (`client::unpack::unpack_package`) of hostile packages.
//!
//! The input is one of three things: a `.tar.gz` (gzip magic; unpacked as is), a plain tar
//! (`ustar` magic at offset 257; header checksums are fixed up so mutations reach the entry
//! logic, then it is gzipped), or an entry script, one entry per line:
//! `f PATH [CONTENT]`, `d PATH`, `l PATH TARGET` (symlink), `h PATH TARGET` (hard link),
//! `c`/`b`/`p PATH` (devices, FIFO), `L NAME` (GNU long name of the next entry),
//! `K NAME` (GNU long link name), `P KEY=VALUE` (PAX record for the next entry),
//! or any other byte as a raw entry type. Names are written raw, `..` and `/` included.
//!
//! Invariants, whatever the outcome: nothing outside the destination is created, changed or
//! removed; no file in it is a hard link to a file outside; no link in it resolves outside.
//! One sandbox per process, emptied between inputs.
#![no_main]

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use flate2::write::GzEncoder;
use flate2::Compression;
use libfuzzer_sys::fuzz_target;
use rbee_registry::client::unpack::unpack_package;
use tar::{EntryType, Header};

struct Sandbox {
    /// Holds the canaries, the archive and `work/dest`.
    base: PathBuf,
    destination: PathBuf,
    archive: PathBuf,
    before: BTreeMap<PathBuf, Node>,
}

/// What a path outside the destination is: checked unchanged after every input.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Directory,
    File { content: Vec<u8>, inode: (u64, u64) },
    Link(PathBuf),
}

static SANDBOX: LazyLock<Sandbox> = LazyLock::new(|| {
    let base = std::env::temp_dir().join(format!("rbee-fuzz-unpack-{}", std::process::id()));
    let _ = fs::remove_dir_all(&base);
    for directory in ["etc", "a", "b", "bin", "work/a", "work/bin"] {
        fs::create_dir_all(base.join(directory)).unwrap();
        fs::write(base.join(directory).join("canary"), b"untouched").unwrap();
    }
    fs::write(base.join("etc/passwd"), b"root:x:0:0").unwrap();
    fs::write(base.join("work/canary"), b"untouched").unwrap();
    let base = base.canonicalize().unwrap();
    let destination = base.join("work/dest");
    let archive = base.join("package.tar.gz");
    let mut sandbox = Sandbox {
        base,
        destination,
        archive,
        before: BTreeMap::new(),
    };
    sandbox.before = sandbox.outside();
    sandbox
});

impl Sandbox {
    fn outside(&self) -> BTreeMap<PathBuf, Node> {
        let mut nodes = BTreeMap::new();
        walk(&self.base, &mut |path, node| {
            if path != self.destination && path != self.archive {
                nodes.insert(path.to_path_buf(), node);
                true
            } else {
                false
            }
        });
        nodes
    }
}

/// Visits every path under `root` (not following links); `visit` returns whether to descend.
fn walk(root: &Path, visit: &mut dyn FnMut(&Path, Node) -> bool) {
    let Ok(entries) = fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let meta = fs::symlink_metadata(&path).unwrap();
        let node = if meta.file_type().is_symlink() {
            Node::Link(fs::read_link(&path).unwrap())
        } else if meta.is_dir() {
            Node::Directory
        } else {
            Node::File {
                content: fs::read(&path).unwrap_or_default(),
                inode: (meta.dev(), meta.ino()),
            }
        };
        let is_directory = node == Node::Directory;
        if visit(&path, node) && is_directory {
            walk(&path, visit);
        }
    }
}

/// Puts a correct checksum into every header of a plain tar, walking entry sizes as a reader does.
fn fix_checksums(tar: &mut [u8]) {
    let mut offset = 0;
    while offset + 512 <= tar.len() {
        let block = &mut tar[offset..offset + 512];
        if block.iter().all(|&b| b == 0) {
            break;
        }
        let Ok(size) = Header::from_byte_slice(block).entry_size() else {
            break;
        };
        block[148..156].fill(b' ');
        let sum: u32 = block.iter().map(|&b| u32::from(b)).sum();
        block[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        let Some(next) = size.checked_next_multiple_of(512).and_then(|s| s.checked_add(512)) else {
            break;
        };
        let Some(next) = usize::try_from(next).ok().and_then(|n| offset.checked_add(n)) else {
            break;
        };
        offset = next;
    }
}

fn set_raw(field: &mut [u8], text: &[u8]) {
    field.fill(0);
    let length = text.len().min(field.len());
    field[..length].copy_from_slice(&text[..length]);
}

/// Builds a tar from an entry script (see the module doc).
fn tar_from_script(script: &[u8]) -> Vec<u8> {
    let mut tar = Vec::new();
    let mut append = |kind: EntryType, name: &[u8], link: &[u8], data: &[u8]| {
        let mut header = Header::new_gnu();
        set_raw(&mut header.as_old_mut().name, name);
        set_raw(&mut header.as_old_mut().linkname, link);
        header.set_entry_type(kind);
        header.set_mode(0o644);
        header.set_size(data.len() as u64);
        header.set_cksum();
        tar.extend_from_slice(header.as_bytes());
        tar.extend_from_slice(data);
        tar.resize(tar.len().next_multiple_of(512), 0);
    };
    for line in script.split(|&b| b == b'\n') {
        let mut parts = line.splitn(3, |&b| b == b' ');
        let (Some(kind), Some(path)) = (parts.next(), parts.next()) else {
            continue;
        };
        let rest = parts.next().unwrap_or(b"");
        match kind {
            b"f" => append(
                EntryType::Regular,
                path,
                b"",
                if rest.is_empty() { b"payload" } else { rest },
            ),
            b"d" => append(EntryType::Directory, path, b"", b""),
            b"l" => append(EntryType::Symlink, path, rest, b""),
            b"h" => append(EntryType::Link, path, rest, b""),
            b"c" => append(EntryType::Char, path, b"", b""),
            b"b" => append(EntryType::Block, path, b"", b""),
            b"p" => append(EntryType::Fifo, path, b"", b""),
            b"L" => append(EntryType::GNULongName, b"././@LongLink", b"", &[path, b"\0"].concat()),
            b"K" => append(EntryType::GNULongLink, b"././@LongLink", b"", &[path, b"\0"].concat()),
            b"P" => {
                // One PAX record, `<length> <key>=<value>\n`, the length counting itself.
                let body = [b" ", path, b"\n"].concat();
                let mut length = body.len() + 1;
                while length.to_string().len() + body.len() != length {
                    length += 1;
                }
                let record = [length.to_string().as_bytes(), &body].concat();
                append(EntryType::XHeader, b"pax", b"", &record);
            }
            [raw] => append(EntryType::new(*raw), path, rest, b""),
            _ => {}
        }
    }
    tar.extend_from_slice(&[0; 1024]);
    tar
}

fn gzip(tar: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::none());
    encoder.write_all(tar).unwrap();
    encoder.finish().unwrap()
}

fn check(sandbox: &Sandbox) {
    assert_eq!(
        sandbox.outside(),
        sandbox.before,
        "something outside the destination changed"
    );
    let outside_inodes: Vec<(u64, u64)> = sandbox
        .before
        .values()
        .filter_map(|node| match node {
            Node::File { inode, .. } => Some(*inode),
            _ => None,
        })
        .collect();
    walk(&sandbox.destination, &mut |path, node| {
        match &node {
            Node::Link(target) => {
                if let Ok(resolved) = path.canonicalize() {
                    assert!(
                        resolved.starts_with(&sandbox.destination),
                        "{} -> {} resolves to {}",
                        path.display(),
                        target.display(),
                        resolved.display()
                    );
                }
            }
            Node::File { inode, .. } => {
                assert!(!outside_inodes.contains(inode), "{} is a file outside", path.display());
            }
            Node::Directory => {}
        }
        true
    });
}

fuzz_target!(|data: &[u8]| {
    let sandbox = &*SANDBOX;
    let package = if data.starts_with(&[0x1f, 0x8b]) {
        data.to_vec()
    } else if data.get(257..262) == Some(b"ustar") {
        let mut tar = data.to_vec();
        fix_checksums(&mut tar);
        gzip(&tar)
    } else {
        gzip(&tar_from_script(data))
    };
    match fs::remove_dir_all(&sandbox.destination) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => panic!("cannot empty {}: {error}", sandbox.destination.display()),
    }
    fs::create_dir(&sandbox.destination).unwrap();
    fs::write(&sandbox.archive, &package).unwrap();
    let _ = unpack_package(&sandbox.archive, &sandbox.destination);
    check(sandbox);
});
