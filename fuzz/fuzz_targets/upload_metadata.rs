//! `X-Kloudless-Metadata` of uploads (any bytes a client sends): never a panic; what is
//! read names a folder inside the account; a refusal is a 400.
#![no_main]

use cloudbridge_api::parse::upload_metadata;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &[u8]| {
    match upload_metadata(raw) {
        Ok(meta) => {
            let id = meta.parent.id();
            assert_eq!(cloudbridge_shared::ItemPath::from_id(&id).unwrap(), meta.parent);
        }
        Err(e) => assert_eq!(e.status, 400),
    }
});
