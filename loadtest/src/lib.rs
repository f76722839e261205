//! The Cloudbridge load generator: runs a scenario against a running Cloudbridge, closed
//! loop (fixed concurrency) or open loop (fixed arrival rate, latency measured from the
//! intended send time so queueing is not hidden), and reports throughput, latency
//! percentiles, errors by code and a per-second timeline, beside a baseline measured in
//! the same run: the no-op queue round trip (`/ops/ping`).
//!
//! # Layout
//! - [`scenario`]: set-up (application, accounts, seed files) and the request of each scenario.
//! - [`generator`]: the closed- and open-loop drivers.
//! - [`report`]: histograms, the Markdown and JSON reports.
//! - [`collection`]: the event collection benchmark (accounts kept collected per interval).
//! - [`upstream`]: a fake S3-compatible service with injected latency, errors and 429s.

pub mod collection;
pub mod generator;
pub mod report;
pub mod scenario;
pub mod upstream;
