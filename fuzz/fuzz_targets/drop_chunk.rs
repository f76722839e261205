//! The query of the File Picker's upload chunks (`POST /drop/{app_id}?…`, sent by anyone):
//! never a panic; what is read is a valid name and a chunk that is one of the file's
//! chunks; a refusal is a 400.
#![no_main]

use std::collections::HashMap;

use cloudbridge_api::parse::{drop_chunk, MAX_DROP_ID};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &str| {
    // `key=value` pairs separated by `&`, as the query extractor hands them over.
    let query: HashMap<String, String> = raw
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    match drop_chunk(&query) {
        Ok(chunk) => {
            assert!(cloudbridge_shared::storage::validate_name(&chunk.name).is_ok());
            assert!(!chunk.file_id.is_empty() && chunk.file_id.len() <= MAX_DROP_ID);
            assert!(chunk.chunk < chunk.chunks.max(1));
            assert!(chunk.link.as_ref().is_none_or(|l| l.is_object()));
        }
        Err(e) => assert_eq!((e.status, e.code.as_str()), (400, "invalid_parameters")),
    }
});
