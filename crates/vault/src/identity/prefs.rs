//! A staff member's own preferences: the time zone and the language of the pages. Checked for
//! shape here (the web layer checks the zone against the time zone database and the language
//! against its catalogue); changed by the person themselves, audited like every write.

use serde_json::json;
use sqlx::AnyConnection;

use super::{Identity, Staff};
use crate::error::{Result, VaultError};
use crate::invalid::Invalid;
use crate::policy::Authorized;

/// A preference value: blank is `None` (the browser decides), otherwise at most 64 printable
/// characters without spaces (`bad` otherwise).
fn preference(bad: Invalid, value: Option<&str>) -> Result<Option<String>> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if value.len() > 64 || value.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(VaultError::Invalid(bad));
    }
    Ok(Some(value.to_owned()))
}

impl Identity<'_> {
    /// Sets the caller's own time zone and language (`None` or blank: follow the browser).
    ///
    /// # Errors
    /// [`VaultError::Invalid`] for a malformed value; [`crate::StaffError::StaffNotFound`]
    /// when the caller is not a staff account (an API key); database errors.
    pub async fn set_preferences(
        self,
        auth: &Authorized,
        time_zone: Option<&str>,
        language: Option<&str>,
    ) -> Result<Staff> {
        let actor = auth.actor();
        let time_zone = preference(Invalid::PreferenceZone, time_zone)?;
        let language = preference(Invalid::PreferenceLanguage, language)?;
        let now = self.vault.now().0;
        self.vault
            .store
            .write(async |conn: &mut AnyConnection| {
                let staff = Self::staff_in(conn, &actor.name).await?;
                sqlx::query(
                    "UPDATE staff SET time_zone = $1, language = $2, updated_unix_secs = $3 \
                     WHERE id = $4",
                )
                .bind(time_zone.as_deref())
                .bind(language.as_deref())
                .bind(now)
                .bind(&staff.id)
                .execute(&mut *conn)
                .await?;
                let detail = json!({ "time_zone": time_zone, "language": language });
                self.staff_event(conn, actor, "staff.preferences", detail)
                    .await
            })
            .await?;
        self.get(&actor.name).await
    }
}

#[cfg(test)]
mod tests {
    use super::{Invalid, preference};

    #[test]
    fn blank_means_unset_and_odd_values_are_refused() {
        assert_eq!(preference(Invalid::PreferenceZone, None).ok(), Some(None));
        assert_eq!(
            preference(Invalid::PreferenceZone, Some("  ")).ok(),
            Some(None)
        );
        assert_eq!(
            preference(Invalid::PreferenceZone, Some(" Europe/Berlin ")).ok(),
            Some(Some("Europe/Berlin".to_owned()))
        );
        assert!(preference(Invalid::PreferenceZone, Some("Europe/ Berlin")).is_err());
        assert!(preference(Invalid::PreferenceZone, Some(&"a".repeat(65))).is_err());
    }
}
