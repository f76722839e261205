//! The API tier: the Kloudless v1 HTTP API. Stateless: it authenticates, turns each call
//! into a job on Redis, waits for the worker's reply, and streams file bytes itself.
//!
//! # Layout
//! - [`startup`]: [`Application`] binds the port and serves until shutdown.
//! - `serve`: the listeners (header-read and idle timeouts, graceful shutdown), HTTPS with
//!   rustls and a certificate reloaded on SIGHUP or change, the plain port's redirect.
//! - `state`: [`AppState`], everything a handler can reach.
//! - `pipeline`: push a job, wait for its reply on this process's channel.
//! - `auth`: `DeveloperKey`, `APIKey` and `Bearer` callers; account resolution.
//! - `cache`: the short-lived cache of verified credentials and accounts.
//! - `limits`: rate limits (429) and the bound on password hashing.
//! - `middleware`: request ids, Kloudless error bodies, in-flight limit, metrics.
//! - `usage`: each request counted in its application's usage, by status class.
//! - `extract`: request extractors that reject in the Kloudless error format.
//! - `forwarded`: forwarding headers, believed from trusted proxies only (links, limits).
//! - `wire`: the Kloudless JSON shapes of our objects.
//! - `routes`: one module per resource; `routes::router` assembles them.
//! - [`parse`]: parsers of untrusted input, shared with the fuzz targets.
//! - [`contract`]: the OpenAPI document generated from the handlers (`/v1/openapi.json`).
//! - `examples`: the document's request and response examples, rendered by `wire`.
//! - [`admin`]: the `admin` sub-commands (create a developer, migrate).

pub mod admin;
mod auth;
mod bundles;
mod cache;
pub mod contract;
mod examples;
mod extract;
mod forwarded;
mod html;
mod limits;
mod middleware;
mod oauth;
mod page_token;
pub mod parse;
mod passthrough;
mod pipeline;
mod portal;
mod range;
mod remote;
mod routes;
mod serve;
pub mod startup;
mod state;
mod tasks;
mod usage;
mod wire;

pub use startup::Application;
pub use state::AppState;
