//! Fuzzes the Google Authenticator export: lines of `otpauth-migration://` URIs (base64
//! protobuf payloads), as decoded from the export's QR screenshots.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokendesk_formats::ImportFormat;

mod common;

fuzz_target!(|data: &[u8]| {
    common::read_and_check(ImportFormat::Google, data);
    // The same bytes as one payload behind the scheme, so the protobuf decoder sees them
    // directly rather than only through base64 text the fuzzer has to find.
    let encoded = data_encoding::BASE64URL_NOPAD.encode(data);
    let line = format!("otpauth-migration://offline?data={encoded}");
    common::read_and_check(ImportFormat::Google, line.as_bytes());
});
