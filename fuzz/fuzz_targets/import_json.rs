//! Fuzzes the JSON imports: Aegis plain export and 2FAS backup. The first byte picks one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokendesk_formats::ImportFormat;

mod common;

fuzz_target!(|data: &[u8]| {
    let Some((pick, file)) = data.split_first() else {
        return;
    };
    let format = if pick % 2 == 0 {
        ImportFormat::Aegis
    } else {
        ImportFormat::TwoFas
    };
    common::read_and_check(format, file);
});
