//! Line charts as inline SVG, rendered on the server: no script library, nothing fetched by
//! the browser. Each chart carries `data-chart` and `data-points` (how many values it plots),
//! and each point a `<title>` with its day and value, which a browser shows on hover.

use std::fmt::Write;

use crate::html::escape;

/// One line of a chart.
#[derive(Debug, Clone)]
pub struct Series {
    /// Its name, in the legend.
    pub name: String,
    /// One value per x label.
    pub values: Vec<f64>,
}

/// Colours for the series, in order (colour-blind safe, Okabe and Ito).
const COLOURS: [&str; 7] = [
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000",
];

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 52.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 36.0;

/// A line chart of `series` over the days `labels`, values shown with `format`.
pub fn line_chart(
    name: &str,
    title: &str,
    labels: &[String],
    series: &[Series],
    format: fn(f64) -> String,
) -> String {
    let points: usize = series.iter().map(|s| s.values.len()).sum();
    let mut out = format!(
        "<figure class=\"chart\" data-chart=\"{}\" data-points=\"{points}\"><figcaption>{}</figcaption>",
        escape(name),
        escape(title)
    );
    if points == 0 {
        out.push_str("<p class=\"empty\">No data yet.</p></figure>");
        return out;
    }
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .fold(0.0_f64, f64::max);
    let max = if max > 0.0 { max } else { 1.0 };
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let n = labels.len().max(1);
    let x = |i: usize| {
        if n == 1 {
            LEFT + plot_w / 2.0
        } else {
            LEFT + plot_w * i as f64 / (n - 1) as f64
        }
    };
    let y = |v: f64| TOP + plot_h * (1.0 - v / max);
    let _ = write!(
        out,
        "<svg viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"{}\">",
        escape(title)
    );
    for tick in 0..=4 {
        let v = max * f64::from(tick) / 4.0;
        let _ = write!(
            out,
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\"/><text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            WIDTH - RIGHT,
            y(v),
            y(v),
            LEFT - 4.0,
            y(v) + 4.0,
            escape(&format(v))
        );
    }
    let every = n.div_ceil(8).max(1);
    for (i, label) in labels.iter().enumerate() {
        if i % every == 0 || i + 1 == n {
            let _ = write!(
                out,
                "<text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                x(i),
                HEIGHT - BOTTOM + 16.0,
                escape(label.get(5..).unwrap_or(label))
            );
        }
    }
    for (k, s) in series.iter().enumerate() {
        let colour = COLOURS[k % COLOURS.len()];
        let path: Vec<String> = s
            .values
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{:.1},{:.1}", x(i), y(*v)))
            .collect();
        let _ = write!(
            out,
            "<polyline data-series=\"{}\" data-points=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{}\"/>",
            escape(&s.name),
            s.values.len(),
            path.join(" ")
        );
        for (i, v) in s.values.iter().enumerate() {
            let day = labels.get(i).map_or("", String::as_str);
            let _ = write!(
                out,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{colour}\"><title>{} {}: {}</title></circle>",
                x(i),
                y(*v),
                escape(&s.name),
                escape(day),
                escape(&format(*v))
            );
        }
    }
    out.push_str("</svg><ul class=\"legend\">");
    for (k, s) in series.iter().enumerate() {
        let _ = write!(
            out,
            "<li><span style=\"background:{}\"></span>{}</li>",
            COLOURS[k % COLOURS.len()],
            escape(&s.name)
        );
    }
    out.push_str("</ul></figure>");
    out
}

/// A count, as the axis shows it.
pub fn count(v: f64) -> String {
    format!("{v:.0}")
}

/// A share, as the axis shows it.
pub fn share(v: f64) -> String {
    format!("{:.0}%", v * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_plots_every_value_of_every_series_and_escapes_names() {
        let labels = vec!["2026-12-01".to_owned(), "2026-12-02".to_owned()];
        let svg = line_chart(
            "c",
            "T",
            &labels,
            &[
                Series {
                    name: "a<b".into(),
                    values: vec![1.0, 3.0],
                },
                Series {
                    name: "c".into(),
                    values: vec![0.0, 2.0],
                },
            ],
            count,
        );
        assert!(svg.contains("data-points=\"4\""));
        assert_eq!(svg.matches("<circle").count(), 4);
        assert!(svg.contains("a&lt;b"));
        assert!(!svg.contains("a<b"));
        assert!(svg.contains("12-02"));
    }

    #[test]
    fn a_chart_without_values_says_so() {
        let svg = line_chart("c", "T", &[], &[], count);
        assert!(svg.contains("data-points=\"0\""));
        assert!(svg.contains("No data yet"));
    }
}
