//! The v1 catalog API (spec/openapi.yaml) against the design document's answers: every v1
//! response pinned whole by a snapshot (tests/it/snapshots/v1_*.json; `UPDATE_SNAPSHOTS=1`
//! rewrites them), with the fields the design names kept as it names and types them.
//! Times and the registry's own address differ between runs; they are checked for their
//! form and then replaced by placeholders before the comparison.

use serde_json::Value;

use crate::support::*;
use crate::worker_fixtures::*;

const CPU: &str = "llm-worker-rbee-cpu";

/// Fields that hold an RFC 3339 time (or null where nothing happened yet).
const TIME_FIELDS: &[&str] = &["updated_at", "last_updated", "last_download"];

/// Whether `text` is an RFC 3339 UTC time as the registry writes them
/// (`2026-01-02T03:04:05Z`, optionally with a fraction of a second).
fn is_rfc3339_utc(text: &str) -> bool {
    let bytes = text.as_bytes();
    let digits =
        |range: std::ops::Range<usize>| range.into_iter().all(|i| bytes.get(i).is_some_and(u8::is_ascii_digit));
    let fixed = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    let fraction_ok = match &text.get(19..) {
        Some("Z") => true,
        Some(rest) => {
            rest.starts_with('.')
                && rest.ends_with('Z')
                && rest.len() > 2
                && rest[1..rest.len() - 1].bytes().all(|b| b.is_ascii_digit())
        }
        None => false,
    };
    digits(0..4)
        && digits(5..7)
        && digits(8..10)
        && digits(11..13)
        && digits(14..16)
        && digits(17..19)
        && fixed.iter().all(|(at, byte)| bytes.get(*at) == Some(byte))
        && fraction_ok
}

/// The response with times and the registry's address replaced by placeholders, after
/// checking that each time is one.
fn redacted(app: &TestApp, value: &Value) -> Value {
    match value {
        Value::Object(object) => Value::Object(
            object
                .iter()
                .map(|(key, field)| {
                    let field = match field {
                        Value::String(time) if TIME_FIELDS.contains(&key.as_str()) => {
                            assert!(is_rfc3339_utc(time), "{key} = {time:?} is not an RFC 3339 time");
                            Value::String("<time>".into())
                        }
                        other => redacted(app, other),
                    };
                    (key.clone(), field)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|item| redacted(app, item)).collect()),
        Value::String(text) => match text.strip_prefix(&app.base_url) {
            // A signed download URL's expiry and signature change with every answer.
            Some(path) if path.starts_with("/v1/blobs/") => {
                let (path, query) = path.split_once('?').expect("a signed URL has a query");
                let repository = query.split('&').next().unwrap();
                Value::String(format!(
                    "http://registry{path}?{repository}&expires=<time>&signature=<signature>"
                ))
            }
            Some(path) => Value::String(format!("http://registry{path}")),
            None => value.clone(),
        },
        other => other.clone(),
    }
}

async fn get_json(app: &TestApp, path: &str) -> Value {
    let response = app.get(path).await;
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.unwrap()
}

async fn publish_two_versions(app: &TestApp, work: &std::path::Path) {
    for version in ["0.1.0", "0.2.0"] {
        publish_worker(app, work, CPU, version, &["linux/amd64", "linux-aarch64"], None).await;
    }
}

#[test]
fn rfc3339_check_accepts_the_registry_form_only() {
    for good in ["2026-12-02T13:46:18Z", "2026-12-02T13:46:18.123Z"] {
        assert!(is_rfc3339_utc(good), "{good}");
    }
    for bad in [
        "",
        "2026-12-02",
        "2026-12-02 13:46:18Z",
        "2026-12-02T13:46:18",
        "2026-12-02T13:46:18.Z",
    ] {
        assert!(!is_rfc3339_utc(bad), "{bad}");
    }
}

#[tokio::test]
async fn workers_v1_stats_answer_the_design_shape_with_the_breakdowns_beside_it() {
    let app = TestApp::start().await;
    let work = tempfile::tempdir().unwrap();
    publish_two_versions(&app, work.path()).await;
    let stats_path = format!("/v1/workers/{CPU}/stats");

    // Before any download: the design's fields, zero, and no last download.
    let stats = get_json(&app, &stats_path).await;
    assert_eq!(stats["downloads"], 0, "{stats}");
    assert!(stats["last_download"].is_null(), "{stats}");
    assert_snapshot("v1_stats_none", &redacted(&app, &stats));

    let download = get_json(
        &app,
        &format!("/v1/workers/{CPU}/0.2.0/download?platform=linux-aarch64"),
    )
    .await;
    let url = download["download_url"].as_str().unwrap();
    let bytes = app.client.get(url).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(sha256(&bytes), download["checksum"].as_str().unwrap());
    eventually("one counted download", || async {
        get_json(&app, &stats_path).await["downloads"] == 1
    })
    .await;

    // `downloads` is the total as a number (clients written to the design read it so),
    // `stars` an integer, `last_updated` a time; the breakdowns have names of their own.
    let stats = get_json(&app, &stats_path).await;
    assert!(stats["downloads"].is_u64(), "{stats}");
    assert!(stats["stars"].is_u64(), "{stats}");
    assert_snapshot("v1_stats_one_download", &redacted(&app, &stats));
}

#[tokio::test]
async fn workers_v1_versions_and_download_answers_are_pinned_and_the_url_expires_in_an_hour() {
    let app = TestApp::start().await;
    let work = tempfile::tempdir().unwrap();
    publish_two_versions(&app, work.path()).await;

    let versions = get_json(&app, &format!("/v1/workers/{CPU}/versions")).await;
    assert_snapshot("v1_versions", &redacted(&app, &versions));

    let download = get_json(
        &app,
        &format!("/v1/workers/{CPU}/0.2.0/download?platform=linux-aarch64"),
    )
    .await;
    // The registry signs its own download URL for the design's hour.
    assert_eq!(download["expires_in"], 3600, "{download}");
    assert_snapshot("v1_download", &redacted(&app, &download));
    let url = download["download_url"].as_str().unwrap();
    let bytes = app.client.get(url).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(bytes.to_vec(), package(CPU, "0.2.0", "linux/arm64"));
    assert_eq!(sha256(&bytes), download["checksum"].as_str().unwrap());
    // The OCI spelling answers the same.
    let same = get_json(&app, &format!("/v1/workers/{CPU}/0.2.0/download?platform=linux/arm64")).await;
    // (The signed URL's expiry and signature follow the clock: compared without them.)
    let unsigned = |answer: &Value| {
        let mut answer = answer.clone();
        let url = answer["download_url"].as_str().unwrap();
        answer["download_url"] = url.split("&expires=").next().unwrap().into();
        answer
    };
    assert_eq!(unsigned(&same), unsigned(&download));
}

/// The design document's `metadata.json` fields, as it names and types them, in a v1 worker
/// record: `{id, name, description, version, license, author, homepage, distribution:
/// {type, source_available, binary_available, requires_license}, platforms: [{os, arch,
/// binary_size, checksum}], dependencies: {system, runtime}, features, tags}`. (`binary_size`
/// is the package's size in bytes, as the project's record types it.)
fn check_design_record(record: &Value) {
    for field in ["id", "name", "description", "version", "license", "author", "homepage"] {
        assert!(record[field].is_string(), "{field} is a string: {record}");
    }
    assert!(semver::Version::parse(record["version"].as_str().unwrap()).is_ok());
    let distribution = &record["distribution"];
    assert!(distribution["type"].is_string(), "distribution.type: {record}");
    for flag in ["source_available", "binary_available", "requires_license"] {
        assert!(distribution[flag].is_boolean(), "distribution.{flag}: {record}");
    }
    let platforms = record["platforms"]
        .as_array()
        .unwrap_or_else(|| panic!("platforms: {record}"));
    assert!(!platforms.is_empty());
    for platform in platforms {
        assert!(
            ["linux", "macos", "windows"].contains(&platform["os"].as_str().unwrap()),
            "{platform}"
        );
        assert!(
            ["x86_64", "aarch64"].contains(&platform["arch"].as_str().unwrap()),
            "{platform}"
        );
        assert!(platform["binary_size"].is_u64(), "{platform}");
        assert!(
            platform["checksum"].as_str().unwrap().starts_with("sha256:"),
            "{platform}"
        );
    }
    for list in ["system", "runtime"] {
        assert!(record["dependencies"][list].is_array(), "dependencies.{list}: {record}");
    }
    for list in ["features", "tags"] {
        let values = record[list].as_array().unwrap_or_else(|| panic!("{list}: {record}"));
        assert!(values.iter().all(Value::is_string), "{list}");
    }
}

#[tokio::test]
async fn workers_v1_worker_records_carry_the_design_fields_and_are_pinned() {
    let app = TestApp::start().await;
    let work = tempfile::tempdir().unwrap();
    publish_two_versions(&app, work.path()).await;

    let list = get_json(&app, "/v1/workers").await;
    for record in list["workers"].as_array().unwrap() {
        check_design_record(record);
    }
    assert_snapshot("v1_workers", &redacted(&app, &list));
    let worker = get_json(&app, &format!("/v1/workers/{CPU}")).await;
    check_design_record(&worker);
    assert_eq!(worker["version"], "0.2.0");
    assert_eq!(&list["workers"][0]["platforms"], &worker["platforms"]);
    assert_snapshot("v1_worker", &redacted(&app, &worker));
}
