//! What the OAuth flow reads from a browser: `scope` (which services to offer, in any of
//! the spellings apps send) and origins of redirect URIs and popup openers. Never a panic;
//! only services Cloudbridge can connect come out, each once; an origin is a
//! `scheme://host[:port]` that reads back as itself.
#![no_main]

use cloudbridge_api::parse::{origin, scope_services};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &str| {
    let services = scope_services(raw);
    // Every service the connect page can offer, by its canonical name.
    let connectable = scope_services("any");
    for (i, s) in services.iter().enumerate() {
        assert!(!services[..i].contains(s), "{s} twice");
        assert!(connectable.contains(s), "{s} is not connectable");
    }
    if let Some(o) = origin(raw) {
        assert!(!o.ends_with('/'));
        assert_eq!(origin(&o).as_deref(), Some(o.as_str()));
    }
});
