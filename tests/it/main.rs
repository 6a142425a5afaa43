//! The integration test binary: every test talks to a real rbee-registry over HTTP on
//! 127.0.0.1, started in-process on a free port with its own data directory.

mod support;

mod bad_input;
mod blobs;
mod catalog_bad_input;
mod catalog_concurrency;
mod catalog_fixtures;
mod catalog_sync;
mod discovery;
mod edge;
mod gc;
mod interop;
mod layering;
mod limits;
mod load;
mod manifests;
mod openapi;
mod ops;
mod redirects;
mod restart;
mod scale_out;
mod storage;
mod unavailable;
mod uploads;
mod worker_fixtures;
mod workers;
mod workers_bad_input;
mod workers_legacy;
mod workers_v1;
