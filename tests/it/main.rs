//! The integration test binary: every test talks to a real rbee-registry over HTTP on
//! 127.0.0.1, started in-process on a free port with its own data directory.

mod support;

mod archive_bad_input;
mod archive_roundtrip;
mod archive_skopeo;
mod archive_support;

mod auth_bad_tokens;
mod auth_challenges;
mod auth_clients;
mod auth_license_tokens;
mod auth_premium;
mod auth_support;
mod auth_tokens;

mod admin_pages;

mod bad_input;
mod blobs;
mod catalog_bad_input;
mod catalog_concurrency;
mod catalog_fixtures;
mod catalog_git;
mod catalog_git_fixture;
mod catalog_git_protocol;
mod catalog_sync;
mod catalog_wiring;
mod discovery;
mod edge;
mod gc;
mod interop;
mod jobs;
mod layering;
mod licenses_cli;
mod licenses_verify;
mod limits;
mod load;
mod manifests;
mod mirror;
mod mirror_distribution;
mod mirror_job;
mod mirror_prune;
mod mirror_resume;
mod mirror_support;
mod mirror_tampered;
mod mirror_tokens;
mod openapi;
mod ops;
mod pages;
mod premium_download;
mod pull_through;
mod pull_through_bad_upstream;
mod redirects;
mod restart;
mod scale_out;
mod stars;
mod storage;
mod tls;
mod unavailable;
mod uploads;
mod worker_fixtures;
mod workers;
mod workers_bad_input;
mod workers_legacy;
mod workers_v1;
