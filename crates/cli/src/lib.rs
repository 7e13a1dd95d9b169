//! x
pub mod nfc_cmd;
