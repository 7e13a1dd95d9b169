//! Records a page at a time, for the records page and `GET /api/v1/records`.
//!
//! Keyset paging in one stable total order, `(upn, created_unix_secs, id)` (the id makes it
//! unique): a page starts after (or ends before) a record named by its id, so records captured
//! or changed while someone pages neither repeat nor push others off a page, unlike an offset.
//! Each page also carries the number of matching records and its position among them.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::ListFilter;
use crate::error::{Result, VaultError};
use crate::invalid::Invalid;
use crate::records::{RECORD_COLUMNS, Record, record_from_row};
use crate::state::State;
use crate::vault::Vault;

/// Most records on one page.
pub const MAX_PAGE_SIZE: i64 = 200;

/// Where a page starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum PageCursor {
    /// The first page.
    #[default]
    First,
    /// The records right after this record id (the next page).
    After(String),
    /// The records right before this record id (the previous page).
    Before(String),
}

/// Which records, and which page of them.
#[derive(Debug, Clone, Default)]
pub struct PageQuery {
    /// State and overdue filters, as for [`Vault::list`].
    pub filter: ListFilter,
    /// Only users whose UPN contains this text (case-insensitive; `%` and `_` are plain text).
    pub upn_contains: Option<String>,
    /// Where the page starts.
    pub cursor: PageCursor,
    /// Page size, 1 to [`MAX_PAGE_SIZE`] (other values are clamped).
    pub limit: i64,
}

/// One page of records.
#[derive(Debug, Clone)]
pub struct RecordPage {
    /// The records, in `(upn, created, id)` order.
    pub records: Vec<Record>,
    /// Records matching the filters on all pages.
    pub total: i64,
    /// Matching records before this page (the first one's position is `offset + 1`).
    pub offset: i64,
}

impl RecordPage {
    /// The cursor of the next page, if there is one.
    pub fn next(&self) -> Option<PageCursor> {
        let shown = i64::try_from(self.records.len()).unwrap_or(i64::MAX);
        let last = self.records.last()?;
        (self.offset.saturating_add(shown) < self.total).then(|| PageCursor::After(last.id.clone()))
    }

    /// The cursor of the previous page, if there is one.
    pub fn previous(&self) -> Option<PageCursor> {
        let first = self.records.first()?;
        (self.offset > 0).then(|| PageCursor::Before(first.id.clone()))
    }
}

/// A record's position in the order.
struct Key {
    upn: String,
    created: i64,
    id: String,
}

impl Key {
    fn of(r: &Record) -> Self {
        Self {
            upn: r.upn.clone(),
            created: r.created_unix_secs,
            id: r.id.clone(),
        }
    }
}

/// `%`, `_` and `\` match themselves in `LIKE … ESCAPE '\'` (same on SQLite and PostgreSQL;
/// both sides are lowercase, so SQLite's case-insensitive `LIKE` changes nothing).
fn like_pattern(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for c in text.trim().to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// The bound filter values: state, shipped-before cutoff, UPN pattern.
struct Filters {
    state: Option<&'static str>,
    cutoff: Option<i64>,
    pattern: Option<String>,
}

const FILTERS: &str = "(CAST($1 AS TEXT) IS NULL OR state = $1) \
     AND (CAST($2 AS BIGINT) IS NULL OR shipped_unix_secs < $2) \
     AND (CAST($3 AS TEXT) IS NULL OR upn LIKE $3 ESCAPE '\\')";

/// Records ordered after (`>`) or before (`<`) the key bound as $4, $5, $6.
fn beyond(op: &str) -> String {
    format!(
        "(upn {op} $4 OR (upn = $4 AND (created_unix_secs {op} $5 \
         OR (created_unix_secs = $5 AND id {op} $6))))"
    )
}

impl Filters {
    fn bind<'q>(
        &self,
        q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
        q.bind(self.state)
            .bind(self.cutoff)
            .bind(self.pattern.clone())
    }

    /// Matching records on the `op` side of `key`, or all of them.
    async fn count(&self, conn: &mut AnyConnection, side: Option<(&str, &Key)>) -> Result<i64> {
        let (sql, key) = match side {
            Some((op, key)) => (
                format!(
                    "SELECT COUNT(*) AS n FROM records WHERE {FILTERS} AND {}",
                    beyond(op)
                ),
                Some(key),
            ),
            None => (
                format!("SELECT COUNT(*) AS n FROM records WHERE {FILTERS}"),
                None,
            ),
        };
        let mut q = self.bind(sqlx::query(sqlx::AssertSqlSafe(sql)));
        if let Some(k) = key {
            q = q.bind(k.upn.clone()).bind(k.created).bind(k.id.clone());
        }
        Ok(q.fetch_one(conn).await?.try_get("n")?)
    }
}

impl Vault {
    /// One page of records matching `q`, with the total and the page's position.
    ///
    /// # Errors
    /// [`VaultError::Invalid`] when the cursor names no record; database errors.
    pub async fn list_page(&self, q: &PageQuery) -> Result<RecordPage> {
        let cutoff = q
            .filter
            .overdue_days
            .map(|days| self.now().0.saturating_sub(days.saturating_mul(86_400)));
        let state = match (q.filter.state, cutoff) {
            (_, Some(_)) => Some(State::Shipped.as_str()),
            (s, None) => s.map(State::as_str),
        };
        let filters = Filters {
            state,
            cutoff,
            pattern: q
                .upn_contains
                .as_deref()
                .filter(|t| !t.trim().is_empty())
                .map(like_pattern),
        };
        let limit = q.limit.clamp(1, MAX_PAGE_SIZE);
        let mut conn = self.store.pool().acquire().await?;
        let (op, order, key) = match &q.cursor {
            PageCursor::First => (">", "ASC", None),
            PageCursor::After(id) => (">", "ASC", Some(cursor_key(&mut conn, id).await?)),
            PageCursor::Before(id) => ("<", "DESC", Some(cursor_key(&mut conn, id).await?)),
        };
        // One statement shape for every cursor (a NULL key means the first page), so both
        // backends see the same parameters.
        let bound = format!("(CAST($4 AS TEXT) IS NULL OR {})", beyond(op));
        let sql = format!(
            "SELECT {RECORD_COLUMNS} FROM records WHERE {FILTERS} AND {bound} \
             ORDER BY upn {order}, created_unix_secs {order}, id {order} LIMIT $7"
        );
        let (upn, created, id) = match &key {
            Some(k) => (Some(k.upn.clone()), Some(k.created), Some(k.id.clone())),
            None => (None, None, None),
        };
        let rows: Vec<AnyRow> = filters
            .bind(sqlx::query(sqlx::AssertSqlSafe(sql)))
            .bind(upn)
            .bind(created)
            .bind(id)
            .bind(limit)
            .fetch_all(&mut *conn)
            .await?;
        let mut records = rows
            .iter()
            .map(record_from_row)
            .collect::<Result<Vec<_>>>()?;
        if matches!(q.cursor, PageCursor::Before(_)) {
            records.reverse();
        }
        let total = filters.count(&mut conn, None).await?;
        let offset = match (records.first(), &q.cursor) {
            (Some(first), _) => {
                filters
                    .count(&mut conn, Some(("<", &Key::of(first))))
                    .await?
            }
            // Past the end: everything matching lies before the cursor.
            (None, PageCursor::After(_)) => total,
            (None, _) => 0,
        };
        Ok(RecordPage {
            records,
            total,
            offset,
        })
    }
}

async fn cursor_key(conn: &mut AnyConnection, id: &str) -> Result<Key> {
    let row = sqlx::query("SELECT upn, created_unix_secs, id FROM records WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| VaultError::Invalid(Invalid::PageLinkStale))?;
    Ok(Key {
        upn: row.try_get("upn")?,
        created: row.try_get("created_unix_secs")?,
        id: row.try_get("id")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_wildcards_are_plain_text() {
        assert_eq!(like_pattern(" Jane "), "%jane%");
        assert_eq!(like_pattern("a_b%c\\d"), "%a\\_b\\%c\\\\d%");
    }
}
