//! Box API 2.0 emulator (see the crate documentation).
