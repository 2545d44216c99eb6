//! The console's two charts, drawn as inline SVG on the server (no script, no library):
//! a customer's owners as bands over time, and counts per month stacked by reason.
//! Every shape carries `data-` attributes naming what it shows, and a `<title>` tooltip.

use std::fmt::Write;

use chrono::{DateTime, Utc};

use super::html::esc;

const COLORS: [&str; 8] = [
    "#3b6fd8", "#e0823d", "#3fa35b", "#c94c6a", "#8a5cc7", "#2aa5a5", "#b59a2a", "#6b7280",
];

/// One band of the timeline: an owner from `start` to `end` (still owned when `None`).
pub struct Band {
    /// The owner's label (its display name, or `users/{uuid}`).
    pub owner: String,
    /// `users/{uuid}`.
    pub owner_name: String,
    pub start: DateTime<Utc>,
    pub end: Option<DateTime<Utc>>,
    /// What ended it (`abandoned`, `auto_reclaimed`, …), empty while it lasts.
    pub ended_by: String,
    /// The reason or rule recorded with the end.
    pub detail: String,
}

/// Whether the end of a band is a loss worth marking (abandons and reclaims).
fn is_loss(ended_by: &str) -> bool {
    matches!(
        ended_by,
        "abandoned" | "reclaimed" | "auto_reclaimed" | "deactivation" | "reclaim_reassigned"
    )
}

/// The owners as rows of bands between the first start and `now`.
pub fn timeline(bands: &[Band], now: DateTime<Utc>) -> String {
    let Some(first) = bands.iter().map(|b| b.start).min() else {
        return "<p id=\"timeline-empty\">Nobody has owned this customer.</p>".into();
    };
    let last = bands
        .iter()
        .map(|b| b.end.unwrap_or(now))
        .max()
        .unwrap_or(now)
        .max(now);
    let span = (last - first).num_seconds().max(1) as f64;
    let mut owners: Vec<&str> = Vec::new();
    for band in bands {
        if !owners.contains(&band.owner_name.as_str()) {
            owners.push(&band.owner_name);
        }
    }
    let (left, width, row) = (200.0, 760.0, 30.0);
    let height = row * owners.len() as f64 + 40.0;
    let x = |at: DateTime<Utc>| left + width * (at - first).num_seconds() as f64 / span;
    let mut svg = format!(
        "<svg id=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{height}\" \
         role=\"img\" aria-label=\"ownership timeline\">",
        w = left + width + 60.0
    );
    for (index, owner) in owners.iter().enumerate() {
        let label = bands
            .iter()
            .find(|b| b.owner_name == *owner)
            .map_or(*owner, |b| b.owner.as_str());
        let y = row * index as f64 + 8.0;
        let _ = write!(
            svg,
            "<text x=\"4\" y=\"{}\" font-size=\"12\">{}</text>\
             <line x1=\"{left}\" x2=\"{}\" y1=\"{}\" y2=\"{}\" stroke=\"#e3e7ee\"/>",
            y + 16.0,
            esc(label),
            left + width,
            y + 11.0,
            y + 11.0
        );
    }
    for band in bands {
        let index = owners
            .iter()
            .position(|o| *o == band.owner_name)
            .unwrap_or(0);
        let y = row * index as f64 + 8.0;
        let (x0, x1) = (x(band.start), x(band.end.unwrap_or(now)));
        let end = band.end.map(|e| e.to_rfc3339()).unwrap_or_default();
        let _ = write!(
            svg,
            "<rect class=\"band\" data-owner=\"{owner}\" data-start=\"{start}\" data-end=\"{end}\" \
             x=\"{x0:.1}\" y=\"{y}\" width=\"{w:.1}\" height=\"22\" rx=\"3\" fill=\"{color}\">\
             <title>{label}: {start} – {until}</title></rect>",
            owner = esc(&band.owner_name),
            start = band.start.to_rfc3339(),
            w = (x1 - x0).max(2.0),
            color = COLORS[index % COLORS.len()],
            label = esc(&band.owner),
            until = if end.is_empty() { "now" } else { &end },
        );
        if is_loss(&band.ended_by) {
            let _ = write!(
                svg,
                "<path class=\"mark\" data-kind=\"{kind}\" d=\"M{x1:.1} {y} l6 -7 h-12 z\" fill=\"#c0392b\">\
                 <title>{kind}: {detail}</title></path>",
                kind = esc(&band.ended_by),
                y = y,
                detail = esc(&band.detail),
            );
        }
    }
    axis(&mut svg, first, last, left, width, height - 14.0);
    svg.push_str("</svg>");
    svg
}

/// Five dates along the bottom.
fn axis(
    svg: &mut String,
    first: DateTime<Utc>,
    last: DateTime<Utc>,
    left: f64,
    width: f64,
    y: f64,
) {
    for step in 0..=4 {
        let at = first + (last - first) * step / 4;
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{y}\" font-size=\"11\" fill=\"#555\" text-anchor=\"middle\">{}</text>",
            left + width * f64::from(step) / 4.0,
            at.format("%Y-%m-%d")
        );
    }
}

/// Counts per month (the x axis, in order) stacked by series (e.g. abandon reasons).
pub fn stacked_months(id: &str, months: &[(String, Vec<(String, u64)>)]) -> String {
    let mut series: Vec<&str> = Vec::new();
    for (_, counts) in months {
        for (name, _) in counts {
            if !series.contains(&name.as_str()) {
                series.push(name);
            }
        }
    }
    let most = months
        .iter()
        .map(|(_, counts)| counts.iter().map(|(_, n)| n).sum::<u64>())
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let (left, bar, gap, height) = (40.0, 44.0, 14.0, 200.0);
    let width = left + (bar + gap) * months.len() as f64 + 180.0;
    let mut svg = format!(
        "<svg id=\"{}\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{}\" role=\"img\">",
        esc(id),
        height + 40.0
    );
    let _ = write!(
        svg,
        "<text x=\"4\" y=\"14\" font-size=\"11\" fill=\"#555\">{most}</text>\
         <line x1=\"{left}\" x2=\"{left}\" y1=\"10\" y2=\"{height}\" stroke=\"#999\"/>"
    );
    for (index, (month, counts)) in months.iter().enumerate() {
        let x0 = left + 8.0 + (bar + gap) * index as f64;
        let mut top = height;
        for (name, count) in counts {
            let h = (height - 10.0) * *count as f64 / most;
            top -= h;
            let color = COLORS[series.iter().position(|s| s == name).unwrap_or(0) % COLORS.len()];
            let _ = write!(
                svg,
                "<rect class=\"bar\" data-month=\"{m}\" data-reason=\"{r}\" data-count=\"{count}\" \
                 x=\"{x0:.1}\" y=\"{top:.1}\" width=\"{bar}\" height=\"{h:.1}\" fill=\"{color}\">\
                 <title>{m} {r}: {count}</title></rect>",
                m = esc(month),
                r = esc(name),
            );
        }
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\">{}</text>",
            x0 + bar / 2.0,
            height + 16.0,
            esc(month)
        );
    }
    let legend = left + (bar + gap) * months.len() as f64 + 20.0;
    for (index, name) in series.iter().enumerate() {
        let y = 20.0 + 18.0 * index as f64;
        let _ = write!(
            svg,
            "<rect x=\"{legend}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{}\"/>\
             <text x=\"{}\" y=\"{}\" font-size=\"12\">{}</text>",
            y - 10.0,
            COLORS[index % COLORS.len()],
            legend + 18.0,
            y,
            esc(name)
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn each_owner_gets_a_row_and_each_period_a_band_with_losses_marked() {
        let at = |d| Utc.with_ymd_and_hms(2026, 1, d, 0, 0, 0).unwrap();
        let band = |owner: &str, start, end: Option<u32>, ended_by: &str| Band {
            owner: owner.to_uppercase(),
            owner_name: owner.into(),
            start: at(start),
            end: end.map(at),
            ended_by: ended_by.into(),
            detail: "no_budget".into(),
        };
        let svg = timeline(
            &[
                band("users/a", 1, Some(5), "abandoned"),
                band("users/b", 6, Some(9), "transferred"),
                band("users/a", 9, None, ""),
            ],
            at(20),
        );
        assert_eq!(svg.matches("class=\"band\"").count(), 3);
        assert_eq!(svg.matches("data-owner=\"users/a\"").count(), 2);
        assert_eq!(
            svg.matches("class=\"mark\" data-kind=\"abandoned\"")
                .count(),
            1
        );
        assert!(svg.contains("USERS/B"));
    }

    #[test]
    fn bars_stack_by_reason_and_escape_names() {
        let svg = stacked_months(
            "reasons",
            &[("2026-01".into(), vec![("<x>".into(), 2), ("y".into(), 1)])],
        );
        assert_eq!(svg.matches("class=\"bar\"").count(), 2);
        assert!(svg.contains("data-reason=\"&lt;x&gt;\" data-count=\"2\""));
    }
}
