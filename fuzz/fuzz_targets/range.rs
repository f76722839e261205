//! `Range` headers of downloads: never a panic; what is read is a range a server can
//! serve as written (an end is never before its start) and reads back the same.
#![no_main]

use cloudbridge_api::parse::{range, Spec};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|value: &str| {
    let Some(spec) = range(value) else { return };
    let written = match spec {
        Spec::From { start, end } => {
            if let Some(end) = end {
                assert!(end >= start);
            }
            format!("bytes={start}-{}", end.map(|e| e.to_string()).unwrap_or_default())
        }
        Spec::Suffix(n) => format!("bytes=-{n}"),
    };
    assert_eq!(range(&written), Some(spec));
});
