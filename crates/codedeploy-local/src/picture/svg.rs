//! A small SVG writer: elements with escaped text and attributes, and the time axis they
//! share. Every mark carries a `<title>` (a tooltip, and what a screen reader says) and
//! `data-*` attributes naming what it shows.

use std::fmt::Write as _;

use crate::markup::escape;

/// Width of the drawing, and the margins of the plot area inside it.
pub(crate) const WIDTH: f64 = 1000.0;
pub(crate) const LEFT: f64 = 190.0;
const RIGHT: f64 = 24.0;

/// A time on the deployment's clock, as people read it: `45s`, `5m`, `5m30s`, `1h2m`.
pub(crate) fn clock(seconds: f64) -> String {
    let total = seconds.max(0.0).round() as u64;
    let (h, m, s) = (total / 3600, total / 60 % 60, total % 60);
    match (h, m, s) {
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, m, _) => format!("{h}h{m}m"),
    }
}

/// About how wide a label is drawn (12 px sans-serif), to keep it inside the plot.
pub(crate) fn text_width(text: &str) -> f64 {
    7.0 * text.chars().count() as f64
}

/// Maps the deployment's clock onto the plot's width.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TimeAxis {
    pub(crate) end: f64,
}

impl TimeAxis {
    pub(crate) fn x(&self, t: f64) -> f64 {
        let span = self.end.max(1.0);
        LEFT + (t.clamp(0.0, span) / span) * (WIDTH - LEFT - RIGHT)
    }

    pub(crate) fn right(&self) -> f64 {
        WIDTH - RIGHT
    }

    /// Tick times: a round step giving at most ten ticks.
    pub(crate) fn ticks(&self) -> Vec<f64> {
        const STEPS: [f64; 14] = [
            1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0,
            7200.0,
        ];
        let span = self.end.max(1.0);
        let step = STEPS
            .into_iter()
            .find(|s| span / s <= 10.0)
            .unwrap_or(span / 10.0);
        (0..=(span / step) as usize)
            .map(|i| i as f64 * step)
            .collect()
    }
}

/// An SVG document being written.
#[derive(Debug, Default)]
pub(crate) struct Svg {
    out: String,
}

impl Svg {
    /// `<g>` with attributes `(name, value)` (values escaped) and a title; close with `end`.
    pub(crate) fn group(&mut self, attributes: &[(&str, String)], title: &str) {
        self.out.push_str("<g");
        for (name, value) in attributes {
            let _ = write!(self.out, " {name}=\"{}\"", escape(value));
        }
        let _ = write!(self.out, "><title>{}</title>", escape(title));
    }

    pub(crate) fn end(&mut self) {
        self.out.push_str("</g>");
    }

    pub(crate) fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, class: &str) {
        let _ = write!(
            self.out,
            r#"<rect x="{x:.1}" y="{y:.1}" width="{:.1}" height="{h:.1}" class="{class}"/>"#,
            w.max(0.0)
        );
    }

    pub(crate) fn line(&mut self, (x1, y1): (f64, f64), (x2, y2): (f64, f64), class: &str) {
        let _ = write!(
            self.out,
            r#"<line x1="{x1:.1}" y1="{y1:.1}" x2="{x2:.1}" y2="{y2:.1}" class="{class}"/>"#
        );
    }

    /// Text at `(x, y)`, anchored `start`, `middle` or `end`.
    pub(crate) fn text(&mut self, (x, y): (f64, f64), anchor: &str, class: &str, text: &str) {
        let _ = write!(
            self.out,
            r#"<text x="{x:.1}" y="{y:.1}" text-anchor="{anchor}" class="{class}">{}</text>"#,
            escape(text)
        );
    }

    /// A polyline through points.
    pub(crate) fn polyline(&mut self, points: &[(f64, f64)], class: &str) {
        let points: Vec<String> = points
            .iter()
            .map(|(x, y)| format!("{x:.1},{y:.1}"))
            .collect();
        let _ = write!(
            self.out,
            r#"<polyline points="{}" class="{class}"/>"#,
            points.join(" ")
        );
    }

    /// A marker: a circle for the current version, a square for the new one.
    pub(crate) fn marker(&mut self, (x, y): (f64, f64), square: bool, class: &str) {
        let _ = match square {
            true => write!(
                self.out,
                r#"<rect x="{:.1}" y="{:.1}" width="7" height="7" class="{class}"/>"#,
                x - 3.5,
                y - 3.5
            ),
            false => write!(
                self.out,
                r#"<circle cx="{x:.1}" cy="{y:.1}" r="3.8" class="{class}"/>"#
            ),
        };
    }

    pub(crate) fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_reads_as_people_read_it() {
        assert_eq!(clock(0.0), "0s");
        assert_eq!(clock(45.2), "45s");
        assert_eq!(clock(300.0), "5m");
        assert_eq!(clock(330.0), "5m30s");
        assert_eq!(clock(3720.0), "1h2m");
    }

    #[test]
    fn ticks_are_round_and_at_most_ten() {
        let axis = TimeAxis { end: 620.0 };
        assert_eq!(axis.ticks(), [0.0, 120.0, 240.0, 360.0, 480.0, 600.0]);
        let short = TimeAxis { end: 7.0 };
        assert_eq!(short.ticks().len(), 8);
        assert_eq!(axis.x(0.0), LEFT);
        assert_eq!(axis.x(620.0), axis.right());
        assert_eq!(axis.x(9999.0), axis.right(), "clamped");
    }
}
