//! Event cursors and multipart part numbers: never a panic; accepted values are in range
//! and read back the same; refusals are 400s in the Kloudless format.
#![no_main]

use cloudbridge_api::parse::{cursor, part_number};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &str| {
    match cursor(raw) {
        Ok(c) => {
            assert!(c >= 0);
            assert_eq!(cursor(&c.to_string()).unwrap(), c);
        }
        Err(e) => assert_eq!((e.status, e.code.as_str()), (400, "invalid_parameters")),
    }
    match part_number(Some(raw)) {
        Ok(n) => assert!(n >= 1),
        Err(e) => assert_eq!(e.status, 400),
    }
});
