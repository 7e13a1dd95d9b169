//! Small pictures drawn on the server: horizontal bar charts as inline SVG (no script, no
//! style attribute, so the strict CSP holds; colours come from `app.css` classes) and the
//! record's lifecycle as a timeline. Every picture carries its own text alternative: the SVG
//! is `role="img"` with a `<title>` that says what the bars show, and the numbers stand in a
//! table beside it.

use std::fmt::Write;

use tokendesk_vault::State;

/// One bar: a label, a count, and the CSS class that colours it.
pub(crate) struct Bar {
    pub label: String,
    pub value: i64,
    pub class: &'static str,
}

/// Keeps markup out of text written into the SVG.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const ROW: i64 = 26;
const LABEL_W: i64 = 120;
const BAR_W: i64 = 230;

/// A horizontal bar chart: `id` names its title for `aria-labelledby`, `title` starts the
/// text alternative ("Records by state: captured 3, shipped 1").
pub(crate) fn bar_chart(id: &str, title: &str, bars: &[Bar]) -> String {
    let max = bars.iter().map(|b| b.value).max().unwrap_or(0).max(1);
    let height = ROW * i64::try_from(bars.len()).unwrap_or(0) + 4;
    let alt: Vec<String> = bars
        .iter()
        .map(|b| format!("{} {}", b.label, b.value))
        .collect();
    let mut svg = String::with_capacity(256 + 200 * bars.len());
    let _ = write!(
        svg,
        "<svg class=\"chart\" viewBox=\"0 0 400 {height}\" role=\"img\" \
         aria-labelledby=\"{id}-title\" preserveAspectRatio=\"xMinYMin meet\">\
         <title id=\"{id}-title\">{}: {}</title>",
        esc(title),
        esc(&alt.join(", "))
    );
    for (i, b) in bars.iter().enumerate() {
        let y = ROW * i64::try_from(i).unwrap_or(0) + 2;
        let w = if b.value > 0 {
            (b.value * BAR_W / max).max(2)
        } else {
            0
        };
        let _ = write!(
            svg,
            "<text class=\"chart-label\" x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\
             <rect class=\"bar {}\" x=\"{}\" y=\"{}\" width=\"{w}\" height=\"{}\" rx=\"3\"/>\
             <text class=\"chart-value\" x=\"{}\" y=\"{}\">{}</text>",
            LABEL_W - 8,
            y + 17,
            esc(&b.label),
            b.class,
            LABEL_W,
            y + 3,
            ROW - 8,
            LABEL_W + w + 6,
            y + 17,
            b.value
        );
    }
    svg.push_str("</svg>");
    svg
}

/// The age groups of shipments in transit, in days: up to 3, 4 to 7, 8 to `overdue_days`,
/// and overdue.
pub(crate) fn transit_ages(
    ages_days: &[i64],
    overdue_days: i64,
    label: impl Fn(&str, i64) -> String,
) -> Vec<Bar> {
    let count = |lo: i64, hi: i64| {
        i64::try_from(ages_days.iter().filter(|d| (lo..=hi).contains(*d)).count())
            .unwrap_or(i64::MAX)
    };
    vec![
        Bar {
            label: label("transit-0-3", 3),
            value: count(0, 3),
            class: "bar-fresh",
        },
        Bar {
            label: label("transit-4-7", 7),
            value: count(4, 7),
            class: "bar-fresh",
        },
        Bar {
            label: label("transit-8-n", overdue_days),
            value: count(8, overdue_days),
            class: "bar-late",
        },
        Bar {
            label: label("transit-over", overdue_days),
            value: count(overdue_days + 1, i64::MAX),
            class: "bar-overdue",
        },
    ]
}

/// One step of a record's lifecycle timeline.
pub(crate) struct Step {
    pub state: &'static str,
    /// `done`, `current`, `ahead` or `skipped` (a CSS class).
    pub status: &'static str,
    /// When the record reached it, as the page shows times.
    pub at: crate::timefmt::When,
    pub by: String,
}

/// The lifecycle as steps: the main path (captured → burned → shipped → delivered → purged)
/// and a side exit (cancelled, lost) where the record took one. `reached` gives, per state,
/// when and by whom (from the audit trail).
pub(crate) fn timeline(
    now: State,
    reached: &dyn Fn(State) -> Option<(crate::timefmt::When, String)>,
) -> Vec<Step> {
    let main = [
        State::Captured,
        State::Burned,
        State::Shipped,
        State::Delivered,
        State::Purged,
    ];
    let side = matches!(now, State::Cancelled | State::Lost);
    let current = main.iter().position(|s| *s == now);
    let mut steps = Vec::new();
    for (i, s) in main.into_iter().enumerate() {
        let hit = reached(s);
        let status = match current {
            Some(c) if i < c => "done",
            Some(c) if i == c => "current",
            Some(_) => "ahead",
            None if hit.is_some() => "done",
            None => "skipped",
        };
        let (at, by) = hit.unwrap_or_default();
        steps.push(Step {
            state: s.as_str(),
            status,
            at,
            by,
        });
    }
    if side {
        let (at, by) = reached(now).unwrap_or_default();
        steps.push(Step {
            state: now.as_str(),
            status: "current",
            at,
            by,
        });
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_and_say_what_they_show() {
        let svg = bar_chart(
            "c",
            "Records by state",
            &[
                Bar {
                    label: "captured".into(),
                    value: 4,
                    class: "bar-a",
                },
                Bar {
                    label: "<b>".into(),
                    value: 1,
                    class: "bar-b",
                },
            ],
        );
        assert!(
            svg.contains("<title id=\"c-title\">Records by state: captured 4, &lt;b&gt; 1</title>")
        );
        assert!(svg.contains("width=\"230\""), "{svg}");
        assert!(svg.contains("width=\"57\""), "{svg}");
        assert!(!svg.contains("style="), "no inline style under the CSP");
    }

    #[test]
    fn the_timeline_marks_done_current_ahead_and_side_exits() {
        let none = |_: State| None;
        let statuses =
            |now| -> Vec<&str> { timeline(now, &none).iter().map(|s| s.status).collect() };
        assert_eq!(
            statuses(State::Shipped),
            ["done", "done", "current", "ahead", "ahead"]
        );
        let burned = |s: State| {
            matches!(s, State::Captured | State::Burned)
                .then(|| (crate::timefmt::When::default(), "root".to_owned()))
        };
        let lost: Vec<&str> = timeline(State::Lost, &burned)
            .iter()
            .map(|s| s.status)
            .collect();
        assert_eq!(
            lost,
            ["done", "done", "skipped", "skipped", "skipped", "current"]
        );
    }

    #[test]
    fn transit_ages_fall_into_groups() {
        let bars = transit_ages(&[0, 3, 4, 9, 14, 15, 40], 14, |key, days| {
            crate::i18n::Tr(crate::i18n::Lang::En).tn(key, "days", days)
        });
        let values: Vec<i64> = bars.iter().map(|b| b.value).collect();
        assert_eq!(values, vec![2, 1, 2, 2]);
        assert_eq!(bars[3].label, "over 14 days");
    }
}
