//! Fuzzes the CSV imports: spreadsheet (`username,secret`), Entra ID hardware OATH CSV,
//! Token2 TOTPVault / Molto2, Bitwarden and KeePassXC exports. The first byte picks the format.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokendesk_formats::ImportFormat;

mod common;

const FORMATS: [ImportFormat; 5] = [
    ImportFormat::Spreadsheet,
    ImportFormat::Entra,
    ImportFormat::Token2,
    ImportFormat::Bitwarden,
    ImportFormat::KeePassXc,
];

fuzz_target!(|data: &[u8]| {
    let Some((pick, file)) = data.split_first() else {
        return;
    };
    let format = FORMATS[usize::from(*pick) % FORMATS.len()];
    common::read_and_check(format, file);
});
