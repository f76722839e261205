//! File and folder ids (`ItemPath::from_id`, what every storage route reads from its URL):
//! never a panic; an id that is accepted names a path that stays inside the account and
//! that gives the same id back.
#![no_main]

use cloudbridge_shared::ItemPath;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|id: &str| {
    if let Ok(path) = ItemPath::from_id(id) {
        let again = ItemPath::from_id(&path.id()).expect("an id we make parses");
        assert_eq!(again, path);
        assert!(!path.as_str().contains('\0'));
        assert!(!path.as_str().starts_with('/'));
        assert!(path.segments().all(|s| !s.is_empty() && s != "." && s != ".."));
    }
    // The same holds for paths given as paths (encode_raw_id).
    if let Ok(path) = ItemPath::parse(id) {
        assert_eq!(ItemPath::from_id(&path.id()).expect("round trip"), path);
    }
});
