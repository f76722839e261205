//! Integration tests of the API tier against real PostgreSQL, real Redis and real workers.
//! One test binary (link time); one module per area.

mod accounts;
mod bad_input;
mod boxcom;
mod browser;
mod conformance;
mod connect;
mod connect_credentials;
mod contract;
mod drop;
mod dropbox;
mod errors;
mod events;
mod feeds;
mod gdrive;
mod helpers;
mod lifetime;
mod limits;
mod listener;
mod management;
mod onedrive;
mod ops;
mod paths;
mod pipeline;
mod portal;
mod processes;
mod reachability;
mod sdk;
mod services;
mod sharing;
mod storage;
mod tasks;
mod tls;
mod tokens;
mod webhooks;
mod widgets;
