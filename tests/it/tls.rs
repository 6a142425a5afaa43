//! HTTPS (`tls.cert`/`tls.key`): a test CA and a server certificate for 127.0.0.1 made with
//! the `openssl` CLI at test time; skopeo copies to and from the registry trusting that CA
//! through `--dest-cert-dir`/`--src-cert-dir` (no `--tls-verify=false`), and the project's
//! own `publish` and `install` trust it through `--ca-file`. The URLs the registry hands out
//! use `https`.

use std::path::{Path, PathBuf};
use std::process::Command;

use rbee_registry::config::{FileConfig, TlsFiles};

use crate::support::*;
use crate::worker_fixtures::{metadata, package, write};

/// A CA (`ca.crt`) and a certificate for 127.0.0.1 and localhost signed by it
/// (`server.crt`, `server.key`), in `dir`.
pub fn make_certificates(dir: &Path) {
    assert!(have("openssl"), "the openssl CLI is needed to make the test CA");
    let openssl = |args: &[&str]| {
        let output = Command::new("openssl").args(args).current_dir(dir).output().unwrap();
        assert!(
            output.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    openssl(
        &[
            &["req", "-x509"][..],
            &ec,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
                "-days",
                "2",
                "-subj",
                "/CN=rbee-registry test CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        ]
        .concat(),
    );
    openssl(
        &[
            &["req"][..],
            &ec,
            &["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"],
        ]
        .concat(),
    );
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
         keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "server.ext",
    ]);
}

/// A registry serving HTTPS with the test certificate; returns it with its `https://` base.
async fn start_tls(certificates: &Path) -> (TestApp, String) {
    let files = TlsFiles {
        cert: certificates.join("server.crt"),
        key: certificates.join("server.key"),
    };
    let app = TestSite::new()
        .await
        .start_configured(FileConfig::default(), move |config| config.tls = Some(files))
        .await;
    let base = format!("https://{}", app.host());
    (app, base)
}

/// A client trusting the test CA only.
fn trusting_client(certificates: &Path) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(&std::fs::read(certificates.join("ca.crt")).unwrap()).unwrap();
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca)
        .build()
        .unwrap()
}

/// Runs a client (asynchronously: the registry under test serves on this test's runtime).
async fn run(program: &str, args: &[&str]) -> std::process::Output {
    let output = tokio::process::Command::new(program)
        .args(args)
        .env("RBEE_LOG", "warn")
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{program} {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

#[tokio::test]
async fn skopeo_copies_to_and_from_the_registry_over_https_trusting_a_test_ca() {
    assert!(have("skopeo"), "skopeo is not installed; run scripts/test.sh");
    let work = tempfile::tempdir().unwrap();
    let certificates = work.path().join("certs");
    std::fs::create_dir(&certificates).unwrap();
    make_certificates(&certificates);
    // containers/image reads `*.crt` of a cert directory as CAs to trust.
    let cert_dir = work.path().join("skopeo-certs");
    std::fs::create_dir(&cert_dir).unwrap();
    std::fs::copy(certificates.join("ca.crt"), cert_dir.join("ca.crt")).unwrap();
    let (app, base) = start_tls(&certificates).await;

    let client = trusting_client(&certificates);
    let answer = client.get(format!("{base}/v2/")).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.version(), reqwest::Version::HTTP_11);
    // Plain HTTP on the TLS port gets no HTTP answer.
    assert!(reqwest::get(app.url("/v2/")).await.is_err());

    let layout = work.path().join("layout");
    let made = run(
        "python3",
        &[
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/make_oci_layout.py")
                .to_str()
                .unwrap(),
            layout.to_str().unwrap(),
            "v1",
        ],
    )
    .await;
    let source_digest = String::from_utf8(made.stdout).unwrap().trim().to_string();
    let destination = format!("docker://{}/tls/skopeo:v1", app.host());
    let cert_dir = cert_dir.to_str().unwrap();
    // Without the CA the certificate is refused: verification is on.
    let refused = tokio::process::Command::new("skopeo")
        .args(["copy", &format!("oci:{}:v1", layout.display()), &destination])
        .output()
        .await
        .unwrap();
    assert!(!refused.status.success(), "skopeo trusted an unknown CA");
    run(
        "skopeo",
        &[
            "copy",
            "--dest-cert-dir",
            cert_dir,
            &format!("oci:{}:v1", layout.display()),
            &destination,
        ],
    )
    .await;
    let out = work.path().join("out");
    run(
        "skopeo",
        &[
            "copy",
            "--src-cert-dir",
            cert_dir,
            &destination,
            &format!("oci:{}:v1", out.display()),
        ],
    )
    .await;
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"][0]["digest"], source_digest.as_str());
    for entry in std::fs::read_dir(layout.join("blobs/sha256")).unwrap() {
        let entry = entry.unwrap();
        let copied = out.join("blobs/sha256").join(entry.file_name());
        assert_eq!(std::fs::read(entry.path()).unwrap(), std::fs::read(copied).unwrap());
    }
    app.stop().await;
}

#[tokio::test]
async fn publish_and_install_trust_the_ca_file_and_handed_out_urls_use_https() {
    let work = tempfile::tempdir().unwrap();
    let certificates = work.path().join("certs");
    std::fs::create_dir(&certificates).unwrap();
    make_certificates(&certificates);
    let (app, base) = start_tls(&certificates).await;
    let ca_file = certificates.join("ca.crt");
    let ca = ca_file.to_str().unwrap();

    let worker = "llm-worker-rbee-cpu";
    let metadata_path = write(
        work.path(),
        "metadata.json",
        &serde_json::to_vec(&metadata(worker, "1.0.0")).unwrap(),
    );
    let package_path: PathBuf = write(work.path(), "package.tar.gz", &package(worker, "1.0.0", "linux/amd64"));
    let platform = format!("linux/amd64={}", package_path.display());
    let publish = |extra: &[&str]| {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_rbee-registry"));
        command
            .args(["publish", "--worker", worker, "--version", "1.0.0", "--metadata"])
            .arg(&metadata_path)
            .args(["--platform", &platform])
            .args(extra)
            .arg(&base)
            .env("RBEE_LOG", "warn")
            .env_remove("RBEE_CA_FILE");
        command.output()
    };
    let refused = publish(&[]).await.unwrap();
    assert!(!refused.status.success(), "publish trusted an unknown CA");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains(&base),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let published = publish(&["--ca-file", ca]).await.unwrap();
    assert!(
        published.status.success(),
        "{}",
        String::from_utf8_lossy(&published.stderr)
    );

    let prefix = work.path().join("prefix");
    let installed = run(
        env!("CARGO_BIN_EXE_rbee-registry"),
        &[
            "install",
            worker,
            "--version",
            "1.0.0",
            "--platform",
            "linux/amd64",
            "--prefix",
            prefix.to_str().unwrap(),
            "--registry",
            &base,
            "--ca-file",
            ca,
        ],
    )
    .await;
    let report = String::from_utf8(installed.stdout).unwrap();
    assert!(report.starts_with(&format!("{worker} 1.0.0")), "{report}");

    // The download URL the registry hands out starts with its https base, and works.
    let client = trusting_client(&certificates);
    let download: serde_json::Value = client
        .get(format!(
            "{base}/v1/workers/{worker}/1.0.0/download?platform=linux/amd64"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = download["download_url"].as_str().unwrap();
    assert!(url.starts_with(&format!("{base}/")), "{download}");
    let bytes = client.get(url).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(sha256(&bytes), download["checksum"].as_str().unwrap());
    app.stop().await;
}

#[tokio::test]
async fn serve_refuses_to_start_with_unusable_tls_files_naming_them() {
    let work = tempfile::tempdir().unwrap();
    make_certificates(work.path());
    let site = TestSite::new().await;
    // A key that is not the certificate's.
    let mut config = site.config();
    config.tls = Some(TlsFiles {
        cert: work.path().join("server.crt"),
        key: work.path().join("ca.key"),
    });
    let listener = rbee_registry::server::bind(&config).await.unwrap();
    let registry = site.registry().await;
    let error = rbee_registry::server::serve(listener, registry, &config, std::future::pending())
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("server.crt") && error.contains("ca.key"), "{error}");
    // Through the command line: a missing key file, by its path.
    let output = site
        .command("serve")
        .args(["--listen", "127.0.0.1:0", "--tls-cert"])
        .arg(work.path().join("server.crt"))
        .arg("--tls-key")
        .arg(work.path().join("missing.key"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("missing.key") && stderr.contains("cannot read it"),
        "{stderr}"
    );
    // One file without the other.
    let output = site
        .command("serve")
        .args(["--listen", "127.0.0.1:0", "--tls-cert"])
        .arg(work.path().join("server.crt"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("tls.cert needs tls.key"));
}
