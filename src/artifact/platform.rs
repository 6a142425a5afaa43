//! Platform names: OCI's `os/architecture[/variant]` and the old catalog's `os-arch`.
//!
//! | old name          | OCI            | legacy `platforms` / `architectures` |
//! |-------------------|----------------|--------------------------------------|
//! | `linux-x86_64`    | `linux/amd64`  | `linux` / `x86_64`                   |
//! | `linux-aarch64`   | `linux/arm64`  | `linux` / `aarch64`                  |
//! | `macos-x86_64`    | `darwin/amd64` | `macos` / `x86_64`                   |
//! | `macos-arm64`     | `darwin/arm64` | `macos` / `aarch64`                  |
//! | `windows-x86_64`  | `windows/amd64`| `windows` / `x86_64`                 |
//! | `windows-aarch64` | `windows/arm64`| `windows` / `aarch64`                |
//!
//! `macos-aarch64` is accepted as a synonym of `macos-arm64`; `linux-arm64` of `linux-aarch64`.

use std::fmt;

/// A platform in OCI terms, as an index entry's `platform` carries it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown platform {0:?}: use os/architecture (linux/amd64) or an old name (linux-x86_64)")]
pub struct PlatformError(pub String);

impl Platform {
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Self {
        Platform {
            os: os.to_string(),
            architecture: architecture.to_string(),
            variant: variant.map(str::to_string),
        }
    }

    /// Parses either spelling: `linux/arm64`, `linux/arm64/v8` or `linux-aarch64`.
    pub fn parse(text: &str) -> Result<Self, PlatformError> {
        let error = || PlatformError(text.to_string());
        if text.contains('/') {
            let parts: Vec<&str> = text.split('/').collect();
            let valid = |part: &str| is_valid_part(part);
            return match parts.as_slice() {
                [os, architecture] if valid(os) && valid(architecture) => Ok(Platform::new(os, architecture, None)),
                [os, architecture, variant] if valid(os) && valid(architecture) && valid(variant) => {
                    Ok(Platform::new(os, architecture, Some(variant)))
                }
                _ => Err(error()),
            };
        }
        let (os, arch) = text.split_once('-').ok_or_else(error)?;
        let os = match os {
            "linux" => "linux",
            "macos" | "darwin" => "darwin",
            "windows" => "windows",
            _ => return Err(error()),
        };
        let architecture = match arch {
            "x86_64" | "amd64" => "amd64",
            "aarch64" | "arm64" => "arm64",
            _ => return Err(error()),
        };
        Ok(Platform::new(os, architecture, None))
    }

    /// Whether every part is one [`Platform::parse`] accepts, so that the OCI spelling
    /// (`to_string`) parses back to this platform. Index entries are held to this: the
    /// catalog stores the spelling and reads it back.
    pub fn is_well_formed(&self) -> bool {
        is_valid_part(&self.os)
            && is_valid_part(&self.architecture)
            && self.variant.as_deref().is_none_or(is_valid_part)
    }

    /// The platform of the machine this program runs on.
    pub fn host() -> Self {
        let os = match std::env::consts::OS {
            "macos" => "darwin",
            other => other,
        };
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            other => other,
        };
        Platform::new(os, architecture, None)
    }

    /// The old API's name (`linux-x86_64`), for the platforms it knew.
    pub fn legacy_name(&self) -> Option<String> {
        Some(format!("{}-{}", self.legacy_os()?, self.legacy_architecture_in_name()?))
    }

    /// The legacy Entry's `platforms` value: `linux`, `macos`, `windows`.
    pub fn legacy_os(&self) -> Option<&'static str> {
        match self.os.as_str() {
            "linux" => Some("linux"),
            "darwin" => Some("macos"),
            "windows" => Some("windows"),
            _ => None,
        }
    }

    /// The legacy Entry's `architectures` value: `x86_64`, `aarch64`.
    pub fn legacy_architecture(&self) -> Option<&'static str> {
        match self.architecture.as_str() {
            "amd64" => Some("x86_64"),
            "arm64" => Some("aarch64"),
            _ => None,
        }
    }

    /// The architecture as old platform names spell it (`macos-arm64`, but `linux-aarch64`).
    fn legacy_architecture_in_name(&self) -> Option<&'static str> {
        match (self.os.as_str(), self.architecture.as_str()) {
            ("darwin", "arm64") => Some("arm64"),
            _ => self.legacy_architecture(),
        }
    }

    /// Whether an index entry for `self` serves a request for `wanted`: equal os and
    /// architecture, and equal variant when the request names one.
    pub fn satisfies(&self, wanted: &Platform) -> bool {
        self.os == wanted.os
            && self.architecture == wanted.architecture
            && (wanted.variant.is_none() || wanted.variant == self.variant)
    }
}

/// One part of an OCI platform (`os`, `architecture`, `variant`): Go's `GOOS`/`GOARCH`
/// values and variants are lowercase letters, digits and `_`.
fn is_valid_part(part: &str) -> bool {
    !part.is_empty()
        && part
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_spellings_map_to_the_same_platform() {
        let table = [
            ("linux-x86_64", "linux/amd64", "linux", "x86_64"),
            ("linux-aarch64", "linux/arm64", "linux", "aarch64"),
            ("macos-arm64", "darwin/arm64", "macos", "aarch64"),
            ("macos-x86_64", "darwin/amd64", "macos", "x86_64"),
            ("windows-x86_64", "windows/amd64", "windows", "x86_64"),
            ("windows-aarch64", "windows/arm64", "windows", "aarch64"),
        ];
        for (old, oci, os, arch) in table {
            let from_old = Platform::parse(old).unwrap();
            let from_oci = Platform::parse(oci).unwrap();
            assert_eq!(from_old, from_oci);
            assert_eq!(from_oci.to_string(), oci);
            assert_eq!(from_oci.legacy_name().unwrap(), old);
            assert_eq!(from_oci.legacy_os(), Some(os));
            assert_eq!(from_oci.legacy_architecture(), Some(arch));
        }
        assert_eq!(Platform::parse("macos-aarch64").unwrap().to_string(), "darwin/arm64");
        assert_eq!(
            Platform::parse("linux/arm64/v8").unwrap().variant.as_deref(),
            Some("v8")
        );
    }

    #[test]
    fn rejects_unknown_names() {
        for bad in [
            "",
            "linux",
            "solaris-x86_64",
            "linux-mips",
            "linux/",
            "/amd64",
            "Linux/amd64",
            "a/b/c/d",
        ] {
            assert!(Platform::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn variant_matching() {
        let entry = Platform::parse("linux/arm64/v8").unwrap();
        assert!(entry.satisfies(&Platform::parse("linux/arm64").unwrap()));
        assert!(entry.satisfies(&Platform::parse("linux/arm64/v8").unwrap()));
        assert!(!entry.satisfies(&Platform::parse("linux/arm64/v7").unwrap()));
        assert!(!entry.satisfies(&Platform::parse("linux/amd64").unwrap()));
    }
}
