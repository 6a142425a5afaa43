//! Bad archives (issue 12, must-show 5): a truncated archive (inside an entry, and at an
//! entry boundary without the end-of-archive marker), a blob whose bytes do not match its
//! name, `../` and absolute paths, symbolic and hard links, a duplicate entry, a file that
//! differs from the contents manifest, an oversized `index.json`. Each is
//! refused with an error naming the problem, and nothing of it is visible over HTTP
//! afterwards: no repository, manifest or tag. The good archive then imports on the same
//! registry.

use std::path::{Path, PathBuf};

use crate::archive_support::*;
use crate::support::*;
use crate::worker_fixtures::publish_worker;

const REPOSITORY: &str = "workers/llm-worker-rbee-cpu";

/// An entry of an archive: its header and data.
type Entry = (tar::Header, Vec<u8>);

fn entries_of(path: &Path) -> Vec<Entry> {
    let mut archive = tar::Archive::new(std::fs::File::open(path).unwrap());
    archive
        .entries()
        .unwrap()
        .map(|entry| {
            let mut entry = entry.unwrap();
            let header = entry.header().clone();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
            (header, data)
        })
        .collect()
}

/// Writes `entries` as a tar file (headers as given, data padded, the end marker).
fn write_tar(path: &Path, entries: &[Entry]) {
    let mut out = Vec::new();
    for (header, data) in entries {
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.extend_from_slice(&[0u8; 1024]);
    std::fs::write(path, out).unwrap();
}

/// A header whose name is `name` byte for byte (the tar crate refuses to set `..` or
/// absolute paths, which is what these tests need).
fn raw_header(name: &[u8], kind: tar::EntryType, size: u64, link: Option<&[u8]>) -> tar::Header {
    let mut header = tar::Header::new_ustar();
    header.as_old_mut().name[..name.len()].copy_from_slice(name);
    if let Some(link) = link {
        header.as_old_mut().linkname[..link.len()].copy_from_slice(link);
    }
    header.set_size(size);
    header.set_mode(0o644);
    header.set_entry_type(kind);
    header.set_cksum();
    header
}

/// `entries` with `extra` inserted before `index.json` (after every blob).
fn with_entry_before_index(entries: &[Entry], extra: Entry) -> Vec<Entry> {
    let at = entries
        .iter()
        .position(|(header, _)| header.path().unwrap().to_str() == Some("index.json"))
        .unwrap();
    let mut out = entries.to_vec();
    out.insert(at, extra);
    out
}

#[tokio::test]
async fn bad_archives_are_refused_and_leave_nothing_visible() {
    let work = tempfile::tempdir().unwrap();
    let origin_site = TestSite::new().await;
    let origin = origin_site.start().await;
    publish_worker(
        &origin,
        work.path(),
        "llm-worker-rbee-cpu",
        "0.1.0",
        &["linux/amd64", "linux/arm64"],
        Some("pkgname=cpu\n"),
    )
    .await;
    let good = work.path().join("good.tar");
    export(&origin_site, &good, &[]).await;
    let bytes = std::fs::read(&good).unwrap();
    let entries = entries_of(&good);
    let variant = |name: &str, entries: &[Entry]| -> PathBuf {
        let path = work.path().join(name);
        write_tar(&path, entries);
        path
    };

    let mut cases: Vec<(&str, PathBuf, &str)> = Vec::new();
    let cut = work.path().join("cut-inside.tar");
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).unwrap();
    cases.push(("truncated inside an entry", cut, "truncated"));
    let cut = work.path().join("cut-at-boundary.tar");
    std::fs::write(&cut, &bytes[..bytes.len() - 1024]).unwrap();
    cases.push(("truncated at an entry boundary", cut, "no end-of-archive marker"));

    // The largest blob (a package) with one byte changed, its name kept.
    let mut altered = entries.clone();
    let (_, data) = altered
        .iter_mut()
        .filter(|(header, _)| header.path().unwrap().starts_with("blobs/sha256/"))
        .max_by_key(|(_, data)| data.len())
        .unwrap();
    data[100] ^= 0xff;
    cases.push((
        "a blob whose bytes do not match its name",
        variant("altered.tar", &altered),
        "hash to",
    ));

    for (label, name, kind, link, expected) in [
        (
            "a ../ path",
            &b"blobs/../../evil"[..],
            tar::EntryType::Regular,
            None,
            "`..`",
        ),
        (
            "an absolute path",
            b"/tmp/evil",
            tar::EntryType::Regular,
            None,
            "absolute",
        ),
        (
            "a symbolic link",
            b"blobs/sha256/link",
            tar::EntryType::Symlink,
            Some(&b"/etc/passwd"[..]),
            "symbolic link",
        ),
        (
            "a hard link",
            b"rbee/hard",
            tar::EntryType::Link,
            Some(&b"oci-layout"[..]),
            "hard link",
        ),
    ] {
        let data = if kind == tar::EntryType::Regular {
            b"evil".to_vec()
        } else {
            Vec::new()
        };
        let header = raw_header(name, kind, data.len() as u64, link);
        let file = format!("{}.tar", label.replace(' ', "-").replace(['.', '/'], ""));
        cases.push((
            label,
            variant(&file, &with_entry_before_index(&entries, (header, data))),
            expected,
        ));
    }
    let duplicate = entries
        .iter()
        .find(|(header, _)| header.path().unwrap().to_str() == Some("oci-layout"))
        .unwrap()
        .clone();
    cases.push((
        "a duplicate entry",
        variant("duplicate.tar", &with_entry_before_index(&entries, duplicate)),
        "appears twice",
    ));

    // A file changed after export: its size and SHA-256 no longer match rbee/contents.json.
    let replace = |path: &str, data: Vec<u8>| -> Vec<Entry> {
        let mut out = entries.clone();
        let (header, old) = out
            .iter_mut()
            .find(|(header, _)| header.path().unwrap().to_str() == Some(path))
            .unwrap();
        header.set_size(data.len() as u64);
        header.set_cksum();
        *old = data;
        out
    };
    let keys = entries
        .iter()
        .find(|(header, _)| header.path().unwrap().to_str() == Some("rbee/license-keys.pub"))
        .map(|(_, data)| data.clone())
        .unwrap();
    let edited = [keys, b"# added\n".to_vec()].concat();
    cases.push((
        "a file that differs from the contents manifest",
        variant("edited.tar", &replace("rbee/license-keys.pub", edited)),
        "does not match rbee/contents.json",
    ));
    // An index.json past the manifest limit (4 MiB), still valid JSON.
    let index = entries
        .iter()
        .find(|(header, _)| header.path().unwrap().to_str() == Some("index.json"))
        .map(|(_, data)| data.clone())
        .unwrap();
    let oversized = [vec![b' '; 5 * 1024 * 1024], index].concat();
    cases.push((
        "an oversized index.json",
        variant("oversized.tar", &replace("index.json", oversized)),
        "over the 4194304-byte limit",
    ));

    let replica_site = TestSite::new().await;
    let replica = replica_site.start().await;
    for (label, archive, expected) in &cases {
        let (ok, stdout, stderr) = import_result(&replica_site, archive, &[]).await;
        assert!(!ok, "{label}: imported\n{stdout}");
        assert!(stderr.contains(expected), "{label}: expected {expected:?} in\n{stderr}");
        assert!(stderr.contains("nothing of it was made visible"), "{label}: {stderr}");
        assert_eq!(repositories(&replica).await, Vec::<String>::new(), "{label}");
        let tag = replica.get(&format!("/v2/{REPOSITORY}/manifests/0.1.0")).await;
        assert_eq!(tag.status(), 404, "{label}");
        let workers = json(&replica, "/v1/workers").await;
        assert_eq!(workers["total"], 0, "{label}: {workers}");
    }

    // The good archive imports on the same registry, whatever the refused ones left staged.
    import(&replica_site, &good, &[]).await;
    assert_eq!(snapshot(&replica).await, snapshot(&origin).await);
}
