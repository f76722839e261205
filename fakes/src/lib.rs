//! Emulators of services that cannot run on a test machine (Dropbox API v2, Box API 2.0),
//! written from the providers' published API documentation: endpoints, JSON shapes,
//! error bodies and rate-limit answers. Test support only: no production crate depends
//! on this one.

pub mod boxcom;
pub mod dropbox;
pub mod identity;
pub mod images;
