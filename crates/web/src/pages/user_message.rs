//! The ready-to-send message for the user on the record page, written from the record as it
//! is: what is happening to the token now (being prepared, on its way with its tracking
//! number), how the helpdesk will verify them (a call-back only with a number on record, the
//! passphrase only when one was chosen), and the e-mail option only with an address.

use tokendesk_vault::{Record, State};

/// The message for `r`, with the helpdesk's number when configured.
pub(crate) fn for_record(r: &Record, helpdesk_phone: Option<&str>) -> String {
    let name = r.display_name.as_deref().unwrap_or(&r.upn);
    let phone = helpdesk_phone.unwrap_or("the IT helpdesk");
    let token = r
        .serial
        .as_deref()
        .map(|s| format!(" (serial {s})"))
        .unwrap_or_default();
    let now = match r.state {
        State::Shipped => {
            let mut line = format!("your hardware security token{token} is on its way to you");
            match (&r.shipment.carrier, &r.shipment.tracking) {
                (Some(c), Some(t)) => line.push_str(&format!(" ({c}, tracking number {t})")),
                (None, Some(t)) => line.push_str(&format!(" (tracking number {t})")),
                (Some(c), None) => line.push_str(&format!(" with {c}")),
                (None, None) => {}
            }
            line.push_str(". Until it arrives:");
            line
        }
        _ => format!(
            "we are preparing your hardware security token{token} and will send it to you soon. Until it arrives:"
        ),
    };
    let mut ways = Vec::new();
    if r.phone.is_some() {
        ways.push("we call you back on your registered number".to_owned());
    }
    if r.has_passphrase {
        ways.push("we ask for the passphrase you chose".to_owned());
    }
    let verify = match ways.as_slice() {
        [] => "We will verify that it is you".to_owned(),
        [one] => format!("We will verify that it is you ({one})"),
        [a, b, ..] => format!("We will verify that it is you ({a}, or {b})"),
    };
    let email = r
        .email
        .as_deref()
        .map(|e| format!(" If you prefer, we e-mail you a code to {e} for a time you choose."))
        .unwrap_or_default();
    format!(
        "Hello {name},\n\n\
         {now}\n\
         - Sign in with \"Stay signed in\" so Microsoft rarely asks for a code.\n\
         - If you are asked for a code, call {phone}. {verify} and read you a code. We will \
           never ask for a password.{email}\n\n\
         When the token arrives, call us once and read us the number on its display: we check it \
         and from then on you use the token.\n"
    )
}

#[cfg(test)]
mod tests {
    use tokendesk_vault::{Shipment, TokenParams};

    use super::*;

    fn record(state: State) -> Record {
        Record {
            id: "r1".into(),
            upn: "anna@contoso.com".into(),
            display_name: Some("Anna".into()),
            phone: None,
            notes: None,
            serial: Some("C302-7".into()),
            model: None,
            manufacturer: None,
            params: TokenParams::default(),
            drift_steps: 0,
            state,
            shipment: Shipment::default(),
            created_by: "root".into(),
            created_unix_secs: 0,
            updated_unix_secs: 0,
            shipped_unix_secs: None,
            purge_due_unix_secs: None,
            key_version: Some(1),
            has_seed: true,
            has_passphrase: false,
            email: None,
            time_zone: None,
        }
    }

    #[test]
    fn a_captured_token_is_being_prepared_not_on_its_way() {
        let text = for_record(&record(State::Captured), None);
        assert!(text.contains("we are preparing your hardware security token (serial C302-7)"));
        assert!(!text.contains("on its way"));
    }

    #[test]
    fn a_shipped_token_names_its_carrier_and_tracking_number() {
        let mut r = record(State::Shipped);
        r.shipment.carrier = Some("DHL".into());
        r.shipment.tracking = Some("JJD1".into());
        let text = for_record(&r, Some("+41 44 000 00 00"));
        assert!(
            text.contains("is on its way to you (DHL, tracking number JJD1)"),
            "{text}"
        );
        assert!(text.contains("call +41 44 000 00 00"));
    }

    #[test]
    fn only_the_verifications_the_record_allows_are_promised() {
        let r = record(State::Burned);
        let text = for_record(&r, None);
        assert!(
            !text.contains("passphrase") && !text.contains("call you back"),
            "{text}"
        );
        let mut r = record(State::Burned);
        r.phone = Some("+41 79 1".into());
        r.has_passphrase = true;
        r.email = Some("anna@example.org".into());
        let text = for_record(&r, None);
        assert!(
            text.contains("call you back on your registered number, or we ask for the passphrase"),
            "{text}"
        );
        assert!(
            text.contains("e-mail you a code to anna@example.org"),
            "{text}"
        );
    }
}
