//! Stacked bar charts drawn on the server: the shapes of an inline `<svg>` (one bar per
//! day, one segment per label), coloured by classes of `portal.css`, with what a screen
//! reader says instead and a table of the same numbers.

use chrono::NaiveDate;
use cloudbridge_shared::usage::Metric;

use crate::routes::usage::MetricSeries;

/// Width of the drawing (the `viewBox`; the page scales it).
pub const WIDTH: u32 = 720;
/// Height of the drawing.
pub const HEIGHT: u32 = 220;
/// Room left of the bars for the scale.
pub const LEFT: f64 = 52.0;
/// Room right of the bars (half the last day's name).
pub const RIGHT: f64 = 24.0;
/// Room above the bars.
const TOP: f64 = 12.0;
/// Room under the bars for the days.
const BOTTOM: f64 = 26.0;
/// Share of a day's slot its bar fills.
const BAR: f64 = 0.72;

/// One chart: a metric over the report's days.
pub struct Chart {
    /// A name for element ids (`requests`, …).
    pub id: &'static str,
    /// The heading.
    pub title: &'static str,
    /// What it counts, in the plural (`requests`, …).
    pub unit: &'static str,
    /// What the bars show, in words (the chart's accessible description).
    pub summary: String,
    /// The metric's total over the days.
    pub total: String,
    /// The bars' segments.
    pub segments: Vec<Segment>,
    /// Horizontal lines of the scale, with their values.
    pub ticks: Vec<Tick>,
    /// Days named under the bars.
    pub days: Vec<DayLabel>,
    /// One entry per label, with its colour and total.
    pub legend: Vec<Legend>,
    /// The numbers of the days with any count (the table under the chart).
    pub rows: Vec<Row>,
}

/// One label's part of one day's bar.
pub struct Segment {
    pub x: String,
    pub y: String,
    pub width: String,
    pub height: String,
    /// Colour class.
    pub class: String,
    /// Its tooltip: the day, label and count.
    pub title: String,
}

/// A line of the scale.
pub struct Tick {
    pub y: String,
    pub value: String,
}

/// A day named under its bar.
pub struct DayLabel {
    pub x: String,
    pub text: String,
}

/// A label of the legend.
pub struct Legend {
    pub label: String,
    pub class: String,
    pub total: String,
}

/// One day of the table.
pub struct Row {
    pub day: String,
    pub counts: Vec<String>,
    pub total: String,
}

impl Chart {
    /// The chart of `series` over `days`.
    pub fn of(days: &[NaiveDate], series: &MetricSeries) -> Self {
        let (id, title, unit) = describe(series.metric);
        let n = days.len().max(1);
        let most = (0..days.len())
            .map(|i| series.day_total(i))
            .max()
            .unwrap_or(0);
        let (top, step) = scale(most);
        let plot_w = f64::from(WIDTH) - LEFT - RIGHT;
        let plot_h = f64::from(HEIGHT) - TOP - BOTTOM;
        let slot = plot_w / n as f64;
        let y_of = |v: u64| TOP + plot_h - v as f64 / top as f64 * plot_h;
        let classes: Vec<String> = series
            .labels
            .iter()
            .enumerate()
            .map(|(i, l)| colour(series.metric, &l.label, i))
            .collect();

        let mut segments = Vec::new();
        for (i, day) in days.iter().enumerate() {
            let mut below = 0;
            for (label, class) in series.labels.iter().zip(&classes) {
                let count = label.counts[i];
                if count == 0 {
                    continue;
                }
                let (y0, y1) = (y_of(below), y_of(below + count));
                below += count;
                segments.push(Segment {
                    x: px(LEFT + slot * i as f64 + slot * (1.0 - BAR) / 2.0),
                    y: px(y1),
                    width: px(slot * BAR),
                    // Even a count of one shows.
                    height: px((y0 - y1).max(1.0)),
                    class: class.clone(),
                    title: format!("{}: {} {}", long_day(*day), thousands(count), label.label),
                });
            }
        }
        let ticks = (0..=top / step)
            .map(|k| Tick {
                y: px(y_of(k * step)),
                value: compact(k * step),
            })
            .collect();
        // Today, and every seventh day before it.
        let last = days.len().saturating_sub(1);
        let day_labels = days
            .iter()
            .enumerate()
            .filter(|(i, _)| (last - i).is_multiple_of(7))
            .map(|(i, day)| DayLabel {
                x: px(LEFT + slot * (i as f64 + 0.5)),
                text: day.format("%b %-d").to_string(),
            })
            .collect();
        let legend = series
            .labels
            .iter()
            .zip(&classes)
            .map(|(l, class)| Legend {
                label: l.label.clone(),
                class: class.clone(),
                total: thousands(l.counts.iter().sum()),
            })
            .collect();
        let rows = days
            .iter()
            .enumerate()
            .filter(|(i, _)| series.day_total(*i) > 0)
            .map(|(i, day)| Row {
                day: day.to_string(),
                counts: series
                    .labels
                    .iter()
                    .map(|l| thousands(l.counts[i]))
                    .collect(),
                total: thousands(series.day_total(i)),
            })
            .collect();
        Self {
            id,
            title,
            unit: unit.1,
            summary: summary(days, series, unit),
            total: thousands(series.total()),
            segments,
            ticks,
            days: day_labels,
            legend,
            rows,
        }
    }

    /// Whether anything was counted.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// What a chart counts: one of them, and several.
type Unit = (&'static str, &'static str);

/// Element id, heading and unit of a metric's chart.
fn describe(metric: Metric) -> (&'static str, &'static str, Unit) {
    match metric {
        Metric::Requests => (
            "requests",
            "Requests per day, by status",
            ("request", "requests"),
        ),
        Metric::UpstreamErrors => (
            "upstream-errors",
            "Upstream errors per day, by service",
            ("upstream error", "upstream errors"),
        ),
        Metric::Events => (
            "events",
            "Events collected per day, by service",
            ("event", "events"),
        ),
        Metric::Deliveries => (
            "deliveries",
            "Webhook deliveries per day, by outcome",
            ("webhook delivery attempt", "webhook delivery attempts"),
        ),
    }
}

/// The colour class of a label: status classes and outcomes by meaning, services from a
/// palette in the order shown.
fn colour(metric: Metric, label: &str, index: usize) -> String {
    let meaning = match (metric, label) {
        (Metric::Requests, "2xx") | (Metric::Deliveries, "ok") => Some("good"),
        (Metric::Requests, "3xx") => Some("info"),
        (Metric::Requests, "4xx") | (Metric::Deliveries, "retry") => Some("warn"),
        (Metric::Requests, "5xx") | (Metric::Deliveries, "dead") => Some("bad"),
        _ => None,
    };
    match meaning {
        Some(class) => class.to_string(),
        None => format!("p{}", index % 6),
    }
}

/// The top of the scale and its step: a round step (1, 2 or 5 × 10ⁿ) giving about four
/// lines, the top the first line at or above `most`.
fn scale(most: u64) -> (u64, u64) {
    let rough = most.div_ceil(4).max(1);
    let mut step = 1;
    'find: loop {
        for m in [1, 2, 5] {
            if step * m >= rough {
                step *= m;
                break 'find;
            }
        }
        step *= 10;
    }
    (most.div_ceil(step).max(1) * step, step)
}

/// What the chart shows, said in a sentence or two.
fn summary(days: &[NaiveDate], series: &MetricSeries, (one, many): Unit) -> String {
    let n = days.len();
    let total = series.total();
    if total == 0 {
        return format!("No {many} in the last {n} days.");
    }
    let unit = if total == 1 { one } else { many };
    let parts: Vec<String> = series
        .labels
        .iter()
        .filter_map(|l| {
            let sum: u64 = l.counts.iter().sum();
            (sum > 0).then(|| format!("{} {}", l.label, thousands(sum)))
        })
        .collect();
    let (busiest, most) = (0..n)
        .map(|i| (i, series.day_total(i)))
        .max_by_key(|&(i, total)| (total, i))
        .unwrap_or((0, 0));
    format!(
        "{} {unit} in the last {n} days ({}). Most on {}: {}.",
        thousands(total),
        parts.join(", "),
        long_day(days[busiest]),
        thousands(most)
    )
}

/// A day as the tooltips and summaries say it.
fn long_day(day: NaiveDate) -> String {
    day.format("%a %b %-d").to_string()
}

/// A coordinate, to a tenth.
fn px(v: f64) -> String {
    format!("{v:.1}")
}

/// A value of the scale, short enough for its margin: `900`, `2.5k`, `40k`, `1.5M`.
fn compact(n: u64) -> String {
    let (scaled, suffix) = match n {
        0..1_000 => return n.to_string(),
        1_000..1_000_000 => (n as f64 / 1e3, "k"),
        _ => (n as f64 / 1e6, "M"),
    };
    let text = format!("{scaled:.1}");
    format!("{}{suffix}", text.strip_suffix(".0").unwrap_or(&text))
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use chrono::Days;

    use super::*;
    use crate::routes::usage::LabelSeries;

    fn series(metric: Metric, labels: &[(&str, &[u64])]) -> MetricSeries {
        MetricSeries {
            metric,
            labels: labels
                .iter()
                .map(|(label, counts)| LabelSeries {
                    label: label.to_string(),
                    counts: counts.to_vec(),
                })
                .collect(),
        }
    }

    fn days(n: u64) -> Vec<NaiveDate> {
        let from = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        (0..n).map(|i| from + Days::new(i)).collect()
    }

    #[test]
    fn scales_are_round_and_cover_the_busiest_day() {
        assert_eq!(scale(0), (1, 1));
        assert_eq!(scale(3), (3, 1));
        assert_eq!(scale(7), (8, 2));
        assert_eq!(scale(123), (150, 50));
        assert_eq!(scale(1000), (1000, 500));
        assert_eq!(scale(20_001), (30_000, 10_000));
    }

    #[test]
    fn bars_stack_each_days_labels_in_order() {
        let days = days(3);
        let s = series(
            Metric::Requests,
            &[("2xx", &[4, 0, 2]), ("4xx", &[4, 0, 0])],
        );
        let chart = Chart::of(&days, &s);
        // Day 0: two segments of half the scale each, 4xx on top of 2xx.
        assert_eq!(chart.segments.len(), 3);
        let (a, b) = (&chart.segments[0], &chart.segments[1]);
        assert_eq!((a.class.as_str(), b.class.as_str()), ("good", "warn"));
        assert_eq!(a.height, b.height);
        let (ay, by): (f64, f64) = (a.y.parse().unwrap(), b.y.parse().unwrap());
        assert!(by < ay, "the second label sits above the first");
        assert_eq!(chart.segments[2].title, "Thu Dec 3: 2 2xx");
        assert_eq!(chart.rows.len(), 2, "days without counts are not listed");
        assert_eq!(chart.rows[0].counts, ["4", "4"]);
        assert_eq!(chart.total, "10");
        assert_eq!(
            chart.summary,
            "10 requests in the last 3 days (2xx 6, 4xx 4). Most on Tue Dec 1: 8."
        );
    }

    #[test]
    fn empty_charts_say_so_and_services_take_the_palette() {
        let chart = Chart::of(&days(30), &series(Metric::Events, &[]));
        assert!(chart.is_empty());
        assert_eq!(chart.summary, "No events in the last 30 days.");
        assert_eq!(chart.days.len(), 5, "today and every seventh day before");
        assert_eq!(colour(Metric::Events, "s3", 7), "p1");
        assert_eq!(colour(Metric::Deliveries, "dead", 2), "bad");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(999), "999");
        let scale: Vec<_> = [900, 1_000, 2_500, 40_000, 1_500_000].map(compact).into();
        assert_eq!(scale, ["900", "1k", "2.5k", "40k", "1.5M"]);
    }
}
