//! The test bench: one virtual reader shared by all tests, guarded by a global lock, with an
//! emulated token inserted for the duration of a test.

use std::time::Duration;

use tokendesk_nfc::{Pcsc, PcscError};

use super::emulator::{Emulator, ReaderTurn, TokenSpec, reader_turn};

/// vpcd slot 0 as pcscd names it.
pub const READER: &str = "Virtual PCD 00 00";

/// How long to wait for pcscd to notice a token arriving or leaving.
pub const WAIT: Duration = Duration::from_secs(10);

/// A PC/SC context, or a failure that says how to get one. Never a skip.
pub fn pcsc() -> Pcsc {
    match Pcsc::establish() {
        Ok(p) => p,
        Err(PcscError::NoService) => panic!(
            "pcscd is not running. The NFC end-to-end tests run against real pcscd with the \
             vsmartcard-vpcd virtual reader: run `scripts/test`, which installs and starts both, \
             or as root `apt-get install pcscd vsmartcard-vpcd && pcscd --foreground &`"
        ),
        Err(e) => panic!("PC/SC is unusable: {e}"),
    }
}

/// The test's exclusive hold on the virtual reader, with a token in it.
pub struct Bench {
    pub pcsc: Pcsc,
    token: Option<Emulator>,
    _turn: ReaderTurn,
}

impl Bench {
    /// Waits for the reader to be empty, inserts a token built from `spec`, waits until pcscd
    /// sees it.
    pub fn insert(spec: TokenSpec) -> Self {
        let turn = reader_turn();
        let pcsc = pcsc();
        // pcscd loads its reader drivers after its socket appears: right after `scripts/test`
        // started it, the list can still be empty for a moment.
        let deadline = std::time::Instant::now() + WAIT;
        let mut readers = pcsc.readers().unwrap();
        while !readers.iter().any(|r| r.name == READER) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
            readers = pcsc.readers().unwrap();
        }
        assert!(
            readers.iter().any(|r| r.name == READER),
            "pcscd has no \"{READER}\" reader (readers: {readers:?}); install vsmartcard-vpcd \
             and restart pcscd, which reads /etc/reader.conf.d only at start"
        );
        pcsc.wait_for_removal(READER, WAIT)
            .expect("a previous virtual token is still in the reader");
        let token = Emulator::insert(spec, WAIT);
        pcsc.wait_for_card(READER, WAIT)
            .expect("pcscd did not see the emulated token");
        Self {
            pcsc,
            token: Some(token),
            _turn: turn,
        }
    }

    pub fn token(&self) -> &Emulator {
        self.token.as_ref().unwrap()
    }

    pub fn card(&self) -> tokendesk_nfc::PcscCard {
        self.pcsc.connect(READER).unwrap()
    }

    /// Takes the token away and puts `spec` on the reader (the operator re-presenting it).
    #[allow(dead_code)] // used by the cli tests, which include this file
    pub fn swap(&mut self, spec: TokenSpec) {
        drop(self.token.take());
        self.token = Some(Emulator::insert(spec, WAIT));
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        drop(self.token.take());
        // Leave the reader empty for the next test (failures surface in its insert()).
        let _ = self.pcsc.wait_for_removal(READER, WAIT);
    }
}
