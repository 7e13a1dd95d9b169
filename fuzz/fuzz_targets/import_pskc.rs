//! Fuzzes the PSKC (RFC 6030) import: XML, plain and protected key packages (password and
//! pre-shared key given, so the decryption and MAC paths run too).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokendesk_formats::ImportFormat;

mod common;

fuzz_target!(|data: &[u8]| {
    common::read_and_check(ImportFormat::Pskc, data);
});
