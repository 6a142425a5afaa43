//! The downloads-over-time chart: an inline SVG bar chart drawn on the server (no script,
//! allowed by the pages' CSP as markup), accessible as one image with a title and a
//! description (`role="img"`, `aria-labelledby`), followed by the same numbers as a table.

use maud::{html, Markup};

/// Downloads per day, oldest first, starting on `first_day` (days since the Unix epoch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DailySeries {
    pub first_day: i64,
    pub counts: Vec<u64>,
}

/// `1 download`, `2 downloads`: a count and its noun.
pub fn counted(count: u64, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

/// `YYYY-MM-DD` of a day since the epoch.
pub fn date_of_day(day: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(day.saturating_mul(86_400))
        .map(|t| t.date().to_string())
        .unwrap_or_default()
}

/// `YYYY-MM-DD` of milliseconds since the epoch.
pub fn date_of_millis(millis: i64) -> String {
    date_of_day(millis.div_euclid(86_400_000))
}

const WIDTH: u64 = 600;
const HEIGHT: u64 = 160;
const AXIS: u64 = 24;

/// The chart and its table. `id` makes the element ids unique on the page.
pub fn downloads_chart(id: &str, series: &DailySeries) -> Markup {
    let days = series.counts.len().max(1) as u64;
    let max = series.counts.iter().copied().max().unwrap_or(0);
    let total: u64 = series.counts.iter().sum();
    let first = date_of_day(series.first_day);
    let last = date_of_day(series.first_day + days as i64 - 1);
    let title_id = format!("{id}-title");
    let desc_id = format!("{id}-desc");
    let slot = WIDTH / days;
    let bar = slot.saturating_sub(2).max(1);
    let plot = HEIGHT - AXIS;
    html! {
        figure class="chart" {
            svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox=(format!("0 0 {WIDTH} {HEIGHT}"))
                width="100%" aria-labelledby=(format!("{title_id} {desc_id}")) {
                title id=(title_id) { "Downloads per day" }
                desc id=(desc_id) {
                    (counted(total, "download")) " from " (first) " to " (last) "; at most " (max) " on one day."
                }
                line x1="0" y1=(plot) x2=(WIDTH) y2=(plot) class="axis" {}
                @for (at, count) in series.counts.iter().enumerate() {
                    @if *count > 0 {
                        @let height = (count * (plot - 8) / max.max(1)).max(2);
                        rect x=(at as u64 * slot + 1) y=(plot - height) width=(bar) height=(height) class="bar" {
                            title { (date_of_day(series.first_day + at as i64)) ": " (count) }
                        }
                    }
                }
                text x="0" y=(HEIGHT - 6) class="label" { (first) }
                text x=(WIDTH) y=(HEIGHT - 6) text-anchor="end" class="label" { (last) }
                text x="4" y="14" class="label" { "max " (max) }
            }
            figcaption { (counted(total, "download")) " in the last " (days) " days." }
        }
        details class="chart-table" {
            summary { "Downloads per day as a table" }
            table {
                thead { tr { th scope="col" { "Day" } th scope="col" { "Downloads" } } }
                tbody {
                    @for (at, count) in series.counts.iter().enumerate().rev() {
                        tr { th scope="row" { (date_of_day(series.first_day + at as i64)) } td { (count) } }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_is_an_image_with_a_description_and_a_table() {
        let series = DailySeries {
            first_day: 20_000,
            counts: vec![0, 3, 1],
        };
        let html = downloads_chart("dl", &series).into_string();
        assert!(html.contains(r#"role="img""#) && html.contains(r#"aria-labelledby="dl-title dl-desc""#));
        assert!(
            html.contains("4 downloads from 2024-10-04 to 2024-10-06; at most 3 on one day."),
            "{html}"
        );
        assert_eq!(html.matches("<rect").count(), 2);
        assert!(html.contains(r#"<th scope="row">2024-10-05</th><td>3</td>"#), "{html}");
        assert_eq!(date_of_millis(0), "1970-01-01");
    }
}
