//! HTTPS: the certificate chain and private key of `tls.cert`/`tls.key`, read once at start
//! (PEM) into a rustls acceptor with the ring provider, TLS 1.2 and 1.3, ALPN `http/1.1`
//! (the server speaks HTTP/1.1 only). A file that cannot be used stops the start with its
//! path and the reason.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls;
use tokio_rustls::TlsAcceptor;

use crate::config::TlsFiles;

/// Why the TLS files cannot be served with.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("TLS certificate file {path}: {reason}")]
    Certificate { path: PathBuf, reason: String },
    #[error("TLS key file {path}: {reason}")]
    Key { path: PathBuf, reason: String },
    #[error("TLS certificate {cert} and key {key} cannot be used together: {reason}")]
    Pair {
        cert: PathBuf,
        key: PathBuf,
        reason: String,
    },
}

/// Reads `files` and builds the acceptor every connection's handshake goes through.
pub fn acceptor(files: &TlsFiles) -> Result<TlsAcceptor, TlsError> {
    let certificates = certificates(&files.cert)?;
    let key = private_key(&files.key)?;
    let pair = |reason: String| TlsError::Pair {
        cert: files.cert.clone(),
        key: files.key.clone(),
        reason,
    };
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|error| pair(error.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certificates, key)
        .map_err(|error| pair(error.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Reads a file fully, or says why not.
fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|error| format!("cannot read it: {error}"))
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let error = |reason: String| TlsError::Certificate {
        path: path.to_path_buf(),
        reason,
    };
    let text = read(path).map_err(error)?;
    let certificates = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|pem| error(format!("not valid PEM: {pem}")))?;
    if certificates.is_empty() {
        return Err(error("holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into()));
    }
    Ok(certificates)
}

fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let error = |reason: String| TlsError::Key {
        path: path.to_path_buf(),
        reason,
    };
    let text = read(path).map_err(error)?;
    PrivateKeyDer::from_pem_slice(&text).map_err(|pem| match pem {
        rustls_pki_types::pem::Error::NoItemsFound => error("holds no PEM private key (PKCS#8, PKCS#1 or SEC1)".into()),
        other => error(format!("not a valid PEM private key: {other}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Path, cert: &str, key: &str) -> TlsFiles {
        let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert_path, cert).unwrap();
        std::fs::write(&key_path, key).unwrap();
        TlsFiles {
            cert: cert_path,
            key: key_path,
        }
    }

    fn refused(files: &TlsFiles) -> String {
        match acceptor(files) {
            Ok(_) => panic!("{files:?} accepted"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn unusable_files_are_named_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let missing = TlsFiles {
            cert: dir.path().join("nope.pem"),
            key: dir.path().join("key.pem"),
        };
        let error = refused(&missing);
        assert!(
            error.contains("nope.pem") && error.contains("cannot read it"),
            "{error}"
        );

        let error = refused(&files(dir.path(), "hello", ""));
        assert!(
            error.contains("cert.pem") && error.contains("no PEM certificate"),
            "{error}"
        );

        let certificate = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        let error = refused(&files(dir.path(), certificate, "no key here\n"));
        assert!(
            error.contains("key.pem") && error.contains("no PEM private key"),
            "{error}"
        );
    }
}
