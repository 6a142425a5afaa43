//! Unpacking a worker package safely: only regular files, directories and links that stay
//! inside the destination; no absolute paths, no `..`, no device files or FIFOs, nothing
//! written through a link. Any refusal stops the unpack; the caller throws the partial
//! directory away.

use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

use flate2::bufread::GzDecoder;
use tar::EntryType;

#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("the package is not a readable tar+gzip archive: {0}")]
    Archive(io::Error),
    #[error("refused {path:?}: {reason}")]
    Refused { path: String, reason: String },
    #[error("could not write {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
}

fn refused(path: &str, reason: &str) -> UnpackError {
    UnpackError::Refused {
        path: path.to_string(),
        reason: reason.to_string(),
    }
}

/// `io::copy` with the caller's (large) buffer.
fn copy(reader: &mut impl io::Read, writer: &mut impl io::Write, buffer: &mut [u8]) -> io::Result<u64> {
    let mut total = 0;
    loop {
        match reader.read(buffer) {
            Ok(0) => return Ok(total),
            Ok(read) => {
                writer.write_all(&buffer[..read])?;
                total += read as u64;
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
}

/// A path inside the archive, checked: relative, only normal components (`.` dropped).
fn safe_relative(raw: &Path, shown: &str) -> Result<PathBuf, UnpackError> {
    let mut clean = PathBuf::new();
    for component in raw.components() {
        match component {
            Component::Normal(part) => clean.push(part),
            Component::CurDir => {}
            Component::ParentDir => return Err(refused(shown, "the path contains '..'")),
            Component::RootDir | Component::Prefix(_) => return Err(refused(shown, "the path is absolute")),
        }
    }
    if clean.as_os_str().is_empty() {
        return Err(refused(shown, "the path is empty"));
    }
    Ok(clean)
}

/// Whether a link at `entry` (relative to the root) pointing at `target` stays inside the
/// root. The target may climb only at its start (`../../lib/x`), never after descending
/// (`d/..`): `..` after a name is resolved by the kernel from wherever that name leads, and
/// when the name is itself a link (`d -> .`) that is not where its spelling suggests
/// (`l -> d/..` would be the root's parent). Climbing from the link's own directory is safe:
/// its ancestors are real directories (`no_link_on_the_way`), and each name after the climb
/// leads to a real directory inside or to a link that, by this same rule, stays inside.
fn link_stays_inside(entry: &Path, target: &Path) -> bool {
    if target.is_absolute() {
        return false;
    }
    let mut depth: i64 = entry.parent().map(|p| p.components().count() as i64).unwrap_or(0);
    let mut descended = false;
    for component in target.components() {
        match component {
            Component::Normal(_) => descended = true,
            Component::CurDir => {}
            Component::ParentDir => {
                depth -= 1;
                if descended || depth < 0 {
                    return false;
                }
            }
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    true
}

/// Refuses to write below an existing link: every ancestor of `relative` under `root` must be
/// a real directory (or not exist yet).
fn no_link_on_the_way(root: &Path, relative: &Path, shown: &str) -> Result<(), UnpackError> {
    let mut current = root.to_path_buf();
    if let Some(parent) = relative.parent() {
        for component in parent.components() {
            current.push(component);
            match fs::symlink_metadata(&current) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    return Err(refused(shown, "a parent directory is a link"));
                }
                Ok(meta) if !meta.is_dir() => return Err(refused(shown, "a parent is not a directory")),
                _ => {}
            }
        }
    }
    Ok(())
}

/// What an unpack wrote.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct UnpackReport {
    pub files: u64,
    pub bytes: u64,
}

/// Read size of the gzip input and write size of each unpacked file: large, so that a big
/// package costs few system calls.
const BUFFER_BYTES: usize = 256 * 1024;

/// Unpacks the tar+gzip `archive` into `destination` (an empty directory).
pub fn unpack_package(archive: &Path, destination: &Path) -> Result<UnpackReport, UnpackError> {
    let file = fs::File::open(archive).map_err(UnpackError::Archive)?;
    unpack_stream(file, destination)
}

/// Unpacks a tar+gzip stream into `destination` (an empty directory), reading it only as far
/// as the archive's end.
pub fn unpack_stream(archive: impl io::Read, destination: &Path) -> Result<UnpackReport, UnpackError> {
    let mut tar = tar::Archive::new(GzDecoder::new(io::BufReader::with_capacity(BUFFER_BYTES, archive)));
    let mut buffer = vec![0u8; BUFFER_BYTES];
    let mut report = UnpackReport::default();
    let write_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| UnpackError::Write { path, source }
    };
    for entry in tar.entries().map_err(UnpackError::Archive)? {
        let mut entry = entry.map_err(UnpackError::Archive)?;
        let raw = entry.path().map_err(UnpackError::Archive)?.into_owned();
        let shown = raw.display().to_string();
        let kind = entry.header().entry_type();
        if matches!(kind, EntryType::XGlobalHeader | EntryType::XHeader) {
            continue;
        }
        let relative = safe_relative(&raw, &shown)?;
        no_link_on_the_way(destination, &relative, &shown)?;
        let target = destination.join(&relative);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(write_error(parent))?;
        }
        match kind {
            EntryType::Directory => {
                fs::create_dir_all(&target).map_err(write_error(&target))?;
            }
            EntryType::Regular | EntryType::Continuous => {
                let mode = entry.header().mode().unwrap_or(0o644) & 0o755;
                let mut output = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&target)
                    .map_err(write_error(&target))?;
                report.bytes += copy(&mut entry, &mut output, &mut buffer).map_err(write_error(&target))?;
                report.files += 1;
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    fs::set_permissions(&target, fs::Permissions::from_mode(mode)).map_err(write_error(&target))?;
                }
                #[cfg(not(unix))]
                let _ = mode;
            }
            EntryType::Symlink => {
                let link = entry
                    .link_name()
                    .map_err(UnpackError::Archive)?
                    .ok_or_else(|| refused(&shown, "a link without a target"))?
                    .into_owned();
                if !link_stays_inside(&relative, &link) {
                    return Err(refused(
                        &shown,
                        &format!("the link points outside the package ({})", link.display()),
                    ));
                }
                #[cfg(unix)]
                std::os::unix::fs::symlink(&link, &target).map_err(write_error(&target))?;
                #[cfg(not(unix))]
                return Err(refused(&shown, "links are not supported on this platform"));
            }
            EntryType::Link => {
                let link = entry
                    .link_name()
                    .map_err(UnpackError::Archive)?
                    .ok_or_else(|| refused(&shown, "a link without a target"))?
                    .into_owned();
                let source = safe_relative(&link, &shown)?;
                no_link_on_the_way(destination, &source, &shown)?;
                let source = destination.join(source);
                if fs::symlink_metadata(&source).map(|m| !m.is_file()).unwrap_or(true) {
                    return Err(refused(&shown, "a hard link to something that is not an unpacked file"));
                }
                fs::hard_link(&source, &target).map_err(write_error(&target))?;
            }
            EntryType::Char | EntryType::Block => return Err(refused(&shown, "device files are not allowed")),
            EntryType::Fifo => return Err(refused(&shown, "FIFOs are not allowed")),
            other => return Err(refused(&shown, &format!("unsupported entry type {other:?}"))),
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_targets_are_judged_by_name() {
        assert!(link_stays_inside(Path::new("bin/tool"), Path::new("../lib/tool")));
        assert!(link_stays_inside(Path::new("a"), Path::new("b")));
        assert!(!link_stays_inside(Path::new("bin/tool"), Path::new("../../etc")));
        assert!(!link_stays_inside(Path::new("etc"), Path::new("/etc")));
        assert!(!link_stays_inside(Path::new("x"), Path::new("..")));
        // Climbing after a name is judged by where the name leads, which a link can change.
        assert!(!link_stays_inside(Path::new("l"), Path::new("d/..")));
        assert!(!link_stays_inside(
            Path::new("bin/tool"),
            Path::new("../lib/../lib/tool")
        ));
        assert!(link_stays_inside(Path::new("a/b/c"), Path::new("../../x/./y")));
    }

    /// Spotted while writing the `unpack` fuzz target, whose invariant (no link in the
    /// destination resolves outside it) fails on this input
    /// (fuzz/corpus/unpack/regression-link-through-link): `d -> .` then `l -> d/..` passed
    /// the name-only check, yet `l` resolves to the destination's parent, since the kernel
    /// takes `..` from where `d` leads.
    #[cfg(unix)]
    #[test]
    fn a_link_cannot_climb_out_through_another_link() {
        use std::io::Write;

        let sandbox = tempfile::tempdir().unwrap();
        let destination = sandbox.path().join("dest");
        fs::create_dir(&destination).unwrap();
        let archive = sandbox.path().join("p.tar.gz");
        let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
            fs::File::create(&archive).unwrap(),
            flate2::Compression::fast(),
        ));
        for (name, target) in [("d", "."), ("l", "d/..")] {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(EntryType::Symlink);
            header.set_size(0);
            builder.append_link(&mut header, name, target).unwrap();
        }
        builder.into_inner().unwrap().finish().unwrap().flush().unwrap();

        let error = unpack_package(&archive, &destination).unwrap_err();
        assert!(
            matches!(&error, UnpackError::Refused { path, .. } if path == "l"),
            "{error}"
        );
        assert!(fs::symlink_metadata(destination.join("l")).is_err());
    }

    #[test]
    fn paths_must_be_relative_and_plain() {
        assert_eq!(safe_relative(Path::new("./bin/x"), "").unwrap(), PathBuf::from("bin/x"));
        assert!(safe_relative(Path::new("../x"), "").is_err());
        assert!(safe_relative(Path::new("bin/../../x"), "").is_err());
        assert!(safe_relative(Path::new("/etc/passwd"), "").is_err());
        assert!(safe_relative(Path::new("."), "").is_err());
    }

    mod properties {
        //! Property: whatever entries an archive holds (`..`, absolute paths, links out and
        //! through links, duplicates), unpacking never creates or changes anything outside
        //! the destination, and never leaves a link there that resolves outside it.

        use std::io::Write;

        use proptest::prelude::*;

        use super::*;

        #[derive(Debug, Clone)]
        enum Kind {
            File,
            Directory,
            Symlink(String),
            Hardlink(String),
        }

        fn path_text() -> impl Strategy<Value = String> {
            proptest::collection::vec(
                prop_oneof![
                    Just("a"),
                    Just("b"),
                    Just(".."),
                    Just("."),
                    Just("etc"),
                    Just(""),
                    Just("/"),
                    Just("bin")
                ],
                1..5,
            )
            .prop_map(|parts| parts.join("/"))
        }

        fn entry() -> impl Strategy<Value = (String, Kind)> {
            let kind = prop_oneof![
                Just(Kind::File),
                Just(Kind::Directory),
                path_text().prop_map(Kind::Symlink),
                path_text().prop_map(Kind::Hardlink),
            ];
            (path_text(), kind)
        }

        /// Writes the raw name bytes into the header, as a hostile packer would (the `tar`
        /// crate's own setters refuse `..`).
        fn set_raw(field: &mut [u8], text: &str) -> bool {
            let bytes = text.as_bytes();
            if bytes.is_empty() || bytes.len() >= field.len() {
                return false;
            }
            field.fill(0);
            field[..bytes.len()].copy_from_slice(bytes);
            true
        }

        fn archive(entries: &[(String, Kind)], path: &Path) {
            let file = fs::File::create(path).unwrap();
            let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(file, flate2::Compression::fast()));
            for (name, kind) in entries {
                let mut header = tar::Header::new_old();
                if !set_raw(&mut header.as_old_mut().name, name) {
                    continue;
                }
                header.set_mode(0o644);
                let data: &[u8] = match kind {
                    Kind::File => {
                        header.set_entry_type(EntryType::Regular);
                        b"payload"
                    }
                    Kind::Directory => {
                        header.set_entry_type(EntryType::Directory);
                        b""
                    }
                    Kind::Symlink(target) | Kind::Hardlink(target) => {
                        let kind = if matches!(kind, Kind::Symlink(_)) {
                            EntryType::Symlink
                        } else {
                            EntryType::Link
                        };
                        header.set_entry_type(kind);
                        if !set_raw(&mut header.as_old_mut().linkname, target) {
                            continue;
                        }
                        b""
                    }
                };
                header.set_size(data.len() as u64);
                header.set_cksum();
                builder.append(&header, data).unwrap();
            }
            builder.into_inner().unwrap().finish().unwrap().flush().unwrap();
        }

        fn snapshot(root: &Path, skip: &Path, into: &mut Vec<(PathBuf, Vec<u8>)>) {
            for entry in fs::read_dir(root).unwrap().flatten() {
                let path = entry.path();
                if path == skip {
                    continue;
                }
                let meta = fs::symlink_metadata(&path).unwrap();
                if meta.is_dir() {
                    into.push((path.clone(), Vec::new()));
                    snapshot(&path, skip, into);
                } else {
                    into.push((path.clone(), fs::read(&path).unwrap_or_default()));
                }
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]
            #[test]
            fn nothing_escapes_the_destination(entries in proptest::collection::vec(entry(), 1..8)) {
                let sandbox = tempfile::tempdir().unwrap();
                let root = sandbox.path().canonicalize().unwrap();
                for outside in ["etc", "a", "b", "bin"] {
                    fs::create_dir_all(root.join(outside)).unwrap();
                    fs::write(root.join(outside).join("canary"), b"untouched").unwrap();
                }
                let destination = root.join("dest");
                fs::create_dir(&destination).unwrap();
                let package = root.join("package.tar.gz");
                archive(&entries, &package);
                let mut before = Vec::new();
                snapshot(&root, &destination, &mut before);

                let _ = unpack_package(&package, &destination);

                let mut after = Vec::new();
                snapshot(&root, &destination, &mut after);
                prop_assert_eq!(before, after, "something outside the destination changed");
                let mut inside = Vec::new();
                snapshot(&destination, Path::new("/nonexistent"), &mut inside);
                for (path, _) in inside {
                    if let Ok(resolved) = path.canonicalize() {
                        prop_assert!(resolved.starts_with(&destination), "{} resolves to {}", path.display(), resolved.display());
                    }
                }
            }
        }
    }
}
