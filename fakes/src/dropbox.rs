//! Dropbox API v2 emulator (see the crate documentation).
