//! The ready-to-send message for the user on the record page, written from the record as it
//! is: what is happening to the token now (being prepared, on its way with its tracking
//! number), how the helpdesk will verify them (a call-back only with a number on record, the
//! passphrase only when one was chosen), and the e-mail option only with an address.

use tokendesk_vault::{Record, State};

use crate::i18n::{Msg, Tr};

/// The message for `r` in `t`'s language, with the helpdesk's number when configured.
pub(crate) fn for_record(t: Tr, r: &Record, helpdesk_phone: Option<&str>) -> String {
    let name = r.display_name.as_deref().unwrap_or(&r.upn);
    let phone = helpdesk_phone.map_or_else(|| t.t("um-helpdesk"), str::to_owned);
    let token = r
        .serial
        .as_deref()
        .map(|s| format!(" {}", t.t1("um-serial", "serial", s)))
        .unwrap_or_default();
    let now = match r.state {
        State::Shipped => {
            let how = match (&r.shipment.carrier, &r.shipment.tracking) {
                (Some(c), Some(k)) => Msg::new("um-how-carrier-tracking")
                    .arg("carrier", c)
                    .arg("tracking", k)
                    .say(t),
                (None, Some(k)) => t.t1("um-how-tracking", "tracking", k),
                (Some(c), None) => t.t1("um-how-carrier", "carrier", c),
                (None, None) => String::new(),
            };
            let how = if how.is_empty() {
                how
            } else {
                format!(" {how}")
            };
            Msg::new("um-shipped")
                .arg("token", token)
                .arg("how", how)
                .say(t)
        }
        _ => t.t1("um-preparing", "token", token),
    };
    let mut ways = Vec::new();
    if r.phone.is_some() {
        ways.push(t.t("um-way-callback"));
    }
    if r.has_passphrase {
        ways.push(t.t("um-way-passphrase"));
    }
    let verify = match ways.as_slice() {
        [] => t.t("um-verify-none"),
        [one] => t.t1("um-verify-one", "way", one),
        [a, b, ..] => Msg::new("um-verify-two").arg("a", a).arg("b", b).say(t),
    };
    let email = r
        .email
        .as_deref()
        .map(|e| format!(" {}", t.t1("um-email", "email", e)))
        .unwrap_or_default();
    let call = Msg::new("um-call")
        .arg("phone", phone)
        .arg("verify", verify)
        .say(t);
    format!(
        "{}\n\n{now}\n- {}\n- {call}{email}\n\n{}\n",
        t.t1("um-hello", "name", name),
        t.t("um-stay"),
        t.t("um-arrives"),
    )
}

#[cfg(test)]
mod tests {
    use tokendesk_vault::{Shipment, TokenParams};

    use super::*;
    use crate::i18n::Lang;

    const EN: Tr = Tr(Lang::En);

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
            language: None,
        }
    }

    #[test]
    fn a_captured_token_is_being_prepared_not_on_its_way() {
        let text = for_record(EN, &record(State::Captured), None);
        assert!(text.contains("we are preparing your hardware security token (serial C302-7)"));
        assert!(!text.contains("on its way"));
    }

    #[test]
    fn a_shipped_token_names_its_carrier_and_tracking_number() {
        let mut r = record(State::Shipped);
        r.shipment.carrier = Some("DHL".into());
        r.shipment.tracking = Some("JJD1".into());
        let text = for_record(EN, &r, Some("+41 44 000 00 00"));
        assert!(
            text.contains("is on its way to you (DHL, tracking number JJD1)"),
            "{text}"
        );
        assert!(text.contains("call +41 44 000 00 00"));
    }

    #[test]
    fn only_the_verifications_the_record_allows_are_promised() {
        let r = record(State::Burned);
        let text = for_record(EN, &r, None);
        assert!(
            !text.contains("passphrase") && !text.contains("call you back"),
            "{text}"
        );
        let mut r = record(State::Burned);
        r.phone = Some("+41 79 1".into());
        r.has_passphrase = true;
        r.email = Some("anna@example.org".into());
        let text = for_record(EN, &r, None);
        assert!(
            text.contains("call you back on your registered number, or we ask for the passphrase"),
            "{text}"
        );
        assert!(
            text.contains("e-mail you a code to anna@example.org"),
            "{text}"
        );
    }

    #[test]
    fn the_message_is_written_in_the_language_asked_for() {
        let mut r = record(State::Shipped);
        r.shipment.tracking = Some("JJD1".into());
        r.phone = Some("+41 79 1".into());
        let de = for_record(Tr(Lang::De), &r, None);
        assert!(de.starts_with("Hallo Anna,"), "{de}");
        assert!(de.contains("JJD1") && de.contains("Sendungsnummer"), "{de}");
        assert!(!de.contains("Hello") && !de.contains("on its way"), "{de}");
        let fr = for_record(Tr(Lang::Fr), &r, None);
        assert!(fr.starts_with("Bonjour Anna,"), "{fr}");
        assert!(!fr.contains('⟦'), "{fr}");
    }
}
