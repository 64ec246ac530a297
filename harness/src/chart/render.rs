//! Draws a [`Plot`] (axes, series, legend, notes: a description with no
//! plotters types in it) to SVG text or PNG bytes, in memory, so the caller
//! writes each file whole or not at all.
//!
//! Every chart kind builds a `Plot` from the results document and this
//! module alone talks to plotters. Axes carry their own scale and ticks:
//! plotters only ever sees linear `f64` ranges with explicit key points,
//! so log and tail-stretched axes get exactly the ticks and labels chosen
//! here. The legend sits in a row above the plot area, never over data.

use std::ops::Range;

use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use strategies::Strategy;

use super::font;
use super::text::{self, Recorded, TextLayer};

/// The family name plotters' text styles carry; only [`TextLayer`] reads
/// the styles, and it always draws the bundled face.
const FAMILY: &str = "DejaVu Sans";

/// Pixel size of every chart (SVG user units and PNG pixels).
pub const SIZE: (u32, u32) = (1200, 800);

const TITLE_PX: f64 = 28.0;
const SUBTITLE_PX: f64 = 18.0;
const LEGEND_PX: f64 = 19.0;
const AXIS_DESC_PX: f64 = 20.0;
const TICK_PX: f64 = 17.0;
const NOTE_PX: f64 = 15.0;
/// Outer margin, pixels.
const MARGIN: u32 = 18;
/// Width of a legend entry's line sample, pixels.
const LEGEND_SWATCH: i32 = 44;

/// What one chart shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Plot {
    /// First line, large.
    pub title: String,
    /// Second line: what is plotted and how (threads, statistic).
    pub subtitle: String,
    /// Horizontal axis.
    pub x: Axis,
    /// Vertical axis.
    pub y: Axis,
    /// One per design, in legend order.
    pub series: Vec<Series>,
    /// Footnotes under the plot (caveats, sample counts), one line each
    /// before wrapping.
    pub notes: Vec<String>,
}

/// How data values map to positions along an axis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scale {
    /// Position = value.
    Linear,
    /// Position = log10(value); values below `floor` are drawn at `floor`.
    Log10 {
        /// Smallest value drawn (a log axis has no zero).
        floor: f64,
    },
    /// Quantile axis stretched towards the tail: position =
    /// -log10(1 - q), so 90%, 99%, 99.9% ... are equally spaced.
    Nines,
}

impl Scale {
    /// The plot position of data value `v`.
    pub fn pos(self, v: f64) -> f64 {
        match self {
            Scale::Linear => v,
            Scale::Log10 { floor } => v.max(floor).log10(),
            // 1 - q can round to 0 for q a hair below 1: cap at 12 nines.
            Scale::Nines => -(1.0 - v).max(1e-12).log10(),
        }
    }
}

/// One axis: description, scale, extent and ticks, all in data units.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    /// Description with units, e.g. `latency (ns, log scale)`.
    pub label: String,
    /// Value-to-position mapping.
    pub scale: Scale,
    /// Extent, data units, `lo < hi` after scaling.
    pub lo: f64,
    /// Upper end, data units.
    pub hi: f64,
    /// Labelled ticks (with grid lines), data units.
    pub ticks: Vec<(f64, String)>,
    /// Unlabelled minor grid lines, data units.
    pub minor: Vec<f64>,
}

impl Axis {
    /// A linear axis over `[min, max]` of the data with about six "nice"
    /// ticks (1, 2, 5 times a power of ten); from zero when `from_zero`.
    /// Tick labels come from `fmt`.
    pub fn linear(
        label: impl Into<String>,
        min: f64,
        max: f64,
        from_zero: bool,
        fmt: impl Fn(f64) -> String,
    ) -> Axis {
        let (mut lo, mut hi) = if from_zero {
            (min.min(0.0), max.max(0.0))
        } else {
            (min, max)
        };
        if !(lo.is_finite() && hi.is_finite()) {
            (lo, hi) = (0.0, 1.0);
        }
        if hi - lo <= f64::EPSILON * hi.abs().max(1.0) {
            // One value: give it room on both sides (or above zero).
            let pad = if hi == 0.0 { 1.0 } else { hi.abs() * 0.1 };
            if from_zero && lo >= 0.0 {
                hi += pad;
            } else {
                lo -= pad;
                hi += pad;
            }
        }
        let step = nice_step((hi - lo) / 6.0);
        // Snap the ends out to whole steps so the frame ends on a tick.
        let lo = (lo / step).floor() * step;
        let hi = (hi / step).ceil() * step;
        let n = ((hi - lo) / step).round() as i64;
        let ticks = (0..=n)
            .map(|i| {
                let v = lo + i as f64 * step;
                // Print 0, not -0 or 1e-17.
                let v = if v.abs() < step * 1e-9 { 0.0 } else { v };
                (v, fmt(v))
            })
            .collect();
        Axis {
            label: label.into(),
            scale: Scale::Linear,
            lo,
            hi,
            ticks,
            minor: Vec::new(),
        }
    }

    /// A log10 axis covering `[min, max]` of the data, widened to whole
    /// decades; ticks on decades (and at 2 and 5 times them when the axis
    /// spans under two decades), grid lines at every integer multiple.
    /// Values at or below zero are drawn at `floor`.
    pub fn log10(
        label: impl Into<String>,
        min: f64,
        max: f64,
        floor: f64,
        fmt: impl Fn(f64) -> String,
    ) -> Axis {
        let min = if min.is_finite() {
            min.max(floor)
        } else {
            floor
        };
        let max = if max.is_finite() { max.max(min) } else { min };
        let lo_exp = min.log10().floor() as i32;
        let mut hi_exp = max.log10().ceil() as i32;
        if hi_exp <= lo_exp {
            hi_exp = lo_exp + 1;
        }
        let decades = hi_exp - lo_exp;
        let mut ticks = Vec::new();
        let mut minor = Vec::new();
        for e in lo_exp..=hi_exp {
            let d = 10f64.powi(e);
            ticks.push((d, fmt(d)));
            if e == hi_exp {
                break;
            }
            for m in 2..=9 {
                let v = f64::from(m) * d;
                if decades < 2 && (m == 2 || m == 5) {
                    ticks.push((v, fmt(v)));
                } else {
                    minor.push(v);
                }
            }
        }
        Axis {
            label: label.into(),
            scale: Scale::Log10 { floor },
            lo: 10f64.powi(lo_exp),
            hi: 10f64.powi(hi_exp),
            ticks,
            minor,
        }
    }

    /// A quantile axis from 0 to `1 - 10^-nines`, tail-stretched
    /// ([`Scale::Nines`]): ticks at 0%, 50%, 90%, 99%, 99.9% ...
    pub fn nines(label: impl Into<String>, nines: f64) -> Axis {
        let nines = if nines.is_finite() {
            nines.clamp(1.0, 12.0)
        } else {
            1.0
        };
        let mut ticks = vec![(0.0, "0%".to_string()), (0.5, "50%".to_string())];
        let mut k = 1;
        while f64::from(k) <= nines + 1e-9 {
            let q = 1.0 - 10f64.powi(-k);
            ticks.push((q, percent_label(k)));
            k += 1;
        }
        Axis {
            label: label.into(),
            scale: Scale::Nines,
            lo: 0.0,
            hi: 1.0 - 10f64.powf(-nines),
            ticks,
            minor: Vec::new(),
        }
    }

    /// Plot position of data value `v`.
    pub fn pos(&self, v: f64) -> f64 {
        self.scale.pos(v)
    }

    /// The plotted range with a little air at both ends (2% of the span),
    /// so points on the frame stay visible.
    fn plot_range(&self) -> Range<f64> {
        let (a, b) = (self.pos(self.lo), self.pos(self.hi));
        let pad = (b - a).abs() * 0.02;
        (a - pad)..(b + pad)
    }

    /// The ticks' label at plot position `p` (plotters hands back the key
    /// points it was given, so an exact match is expected).
    fn label_at(&self, p: f64) -> String {
        let tol = 1e-9 * (self.pos(self.hi) - self.pos(self.lo)).abs().max(1e-12);
        self.ticks
            .iter()
            .find(|(v, _)| (self.pos(*v) - p).abs() <= tol)
            .map(|(_, s)| s.clone())
            .unwrap_or_default()
    }

    fn coord(&self) -> Ticked {
        let r = self.plot_range();
        let inside = |p: &f64| r.start <= *p && *p <= r.end;
        Ticked {
            lo: r.start,
            hi: r.end,
            major: self
                .ticks
                .iter()
                .map(|(v, _)| self.pos(*v))
                .filter(inside)
                .collect(),
            minor: self
                .minor
                .iter()
                .map(|v| self.pos(*v))
                .filter(inside)
                .collect(),
        }
    }
}

/// A linear plotters coordinate whose grid lines are exactly the given
/// positions (plotters' own `WithKeyPoints` loses label formatting on
/// `f64` ranges).
#[derive(Debug, Clone)]
struct Ticked {
    lo: f64,
    hi: f64,
    major: Vec<f64>,
    minor: Vec<f64>,
}

impl Ranged for Ticked {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        if self.hi <= self.lo {
            return (limit.0 + limit.1) / 2;
        }
        let frac = (*v - self.lo) / (self.hi - self.lo);
        let px = f64::from(limit.0) + f64::from(limit.1 - limit.0) * frac;
        // Far outside points (clipped anyway) must not overflow i32.
        px.round().clamp(-1e6, 1e6) as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            self.minor.clone()
        } else {
            self.major.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.lo..self.hi
    }
}

/// `99.9%` for k = 3 nines.
fn percent_label(k: i32) -> String {
    if k == 1 {
        "90%".to_string()
    } else {
        format!("99.{}%", "9".repeat((k - 2) as usize)).replace(".%", "%")
    }
}

/// The smallest of 1, 2, 5 times a power of ten at or above `raw`.
fn nice_step(raw: f64) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let mag = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * mag)
}

/// One line (and/or points, error bars) for one design.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// Colour, marker and dash pattern.
    pub look: Look,
    /// Connected runs of `(x, y)` data points; a gap (missing value)
    /// starts a new segment. A one-point segment shows as its marker.
    pub segments: Vec<Vec<(f64, f64)>>,
    /// Draw the marker at every point (for sparse series).
    pub markers: bool,
    /// Vertical bars `(x, low, high)`, data units.
    pub error_bars: Vec<(f64, f64, f64)>,
}

/// How a design is drawn: the same in every chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Look {
    /// Line and marker colour.
    pub rgb: (u8, u8, u8),
    /// Point marker.
    pub marker: Marker,
    /// Dash pattern (so lines stay apart in greyscale and for colour-blind
    /// readers).
    pub dash: Dash,
}

/// Point marker shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    /// Filled circle.
    Circle,
    /// Filled triangle.
    Triangle,
    /// Filled square.
    Square,
    /// Diagonal cross.
    Cross,
}

/// Line pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dash {
    /// Continuous.
    Solid,
    /// Long dashes.
    Dashed,
    /// Short dashes.
    Dotted,
}

impl Look {
    /// The look of a design, from the Okabe-Ito palette (distinct under
    /// the common colour-vision deficiencies).
    pub fn of(strategy: Strategy) -> Look {
        let (rgb, marker, dash) = match strategy {
            Strategy::PerVma => ((0, 114, 178), Marker::Circle, Dash::Solid),
            Strategy::Xarray => ((213, 94, 0), Marker::Triangle, Dash::Dashed),
            Strategy::MemtypeExt => ((0, 158, 115), Marker::Square, Dash::Dotted),
            Strategy::Legacy => ((230, 159, 0), Marker::Square, Dash::Solid),
            Strategy::Null => ((110, 110, 110), Marker::Cross, Dash::Dashed),
            Strategy::Reference | Strategy::LegacyReference => {
                ((204, 121, 167), Marker::Cross, Dash::Dotted)
            }
        };
        Look { rgb, marker, dash }
    }

    fn color(self) -> RGBColor {
        RGBColor(self.rgb.0, self.rgb.1, self.rgb.2)
    }
}

/// One legend row: `(x offset, series index)` per entry.
type LegendRow = Vec<(i32, usize)>;

/// Drawing failed inside plotters (an I/O-free, in-memory backend, so in
/// practice a font problem).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("drawing `{title}` failed: {message}")]
pub struct DrawError {
    /// The chart's title.
    pub title: String,
    /// plotters' message.
    pub message: String,
}

impl Plot {
    /// The chart as an SVG document; its text is drawn as the bundled
    /// font's glyph outlines (`super::text`).
    pub fn to_svg(&self) -> Result<String, DrawError> {
        font::face().map_err(|e| self.err(e))?;
        let texts = Recorded::default();
        let mut svg = String::new();
        {
            let backend = TextLayer::new(SVGBackend::with_string(&mut svg, SIZE), texts.clone());
            let root = backend.into_drawing_area();
            self.draw(&root).map_err(|e| self.err(e))?;
            root.present().map_err(|e| self.err(e))?;
        }
        let glyphs = text::svg(&texts.borrow()).map_err(|e| self.err(e))?;
        text::into_svg_document(&mut svg, &self.title, &glyphs);
        Ok(svg)
    }

    /// The chart as a PNG file (8-bit RGB); its text rasterized from the
    /// same outlines at the same positions as in the SVG.
    pub fn to_png(&self) -> Result<Vec<u8>, DrawError> {
        font::face().map_err(|e| self.err(e))?;
        let (w, h) = SIZE;
        let texts = Recorded::default();
        let mut rgb = vec![0u8; w as usize * h as usize * 3];
        {
            let backend = TextLayer::new(BitMapBackend::with_buffer(&mut rgb, SIZE), texts.clone());
            let root = backend.into_drawing_area();
            self.draw(&root).map_err(|e| self.err(e))?;
            root.present().map_err(|e| self.err(e))?;
        }
        text::raster(&mut rgb, SIZE, &texts.borrow()).map_err(|e| self.err(e))?;
        let mut png_bytes = Vec::new();
        let mut enc = png::Encoder::new(&mut png_bytes, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().map_err(|e| self.err(e))?;
        writer.write_image_data(&rgb).map_err(|e| self.err(e))?;
        writer.finish().map_err(|e| self.err(e))?;
        Ok(png_bytes)
    }

    fn err(&self, e: impl std::fmt::Display) -> DrawError {
        DrawError {
            title: self.title.clone(),
            message: e.to_string(),
        }
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        root.fill(&WHITE)?;
        let area = root.margin(MARGIN, MARGIN, MARGIN, MARGIN + 8);
        let (width, height) = area.dim_in_pixel();
        let text = |px: f64| TextStyle::from((FAMILY, px).into_font()).color(&BLACK);
        let grey = RGBColor(80, 80, 80);

        // Header: title, subtitle, legend rows.
        let legend_rows = self.legend_layout(&area, width as i32)?;
        let legend_h = legend_rows.len() as i32 * (LEGEND_PX as i32 + 10);
        let header_h = TITLE_PX as i32 + 10 + SUBTITLE_PX as i32 + 14 + legend_h + 6;
        // A long scenario name (a trace path) shrinks its line to fit.
        let fit = |line: &str, px: f64| -> Result<f64, DrawingAreaErrorKind<DB::ErrorType>> {
            let (w, _) = area.estimate_text_size(line, &text(px))?;
            Ok(if w > width {
                (px * f64::from(width) / f64::from(w)).max(8.0)
            } else {
                px
            })
        };
        area.draw_text(&self.title, &text(fit(&self.title, TITLE_PX)?), (0, 0))?;
        area.draw_text(
            &self.subtitle,
            &text(fit(&self.subtitle, SUBTITLE_PX)?).color(&grey),
            (0, TITLE_PX as i32 + 10),
        )?;
        let legend_top = TITLE_PX as i32 + 10 + SUBTITLE_PX as i32 + 14;
        for (row_i, row) in legend_rows.iter().enumerate() {
            let y = legend_top + row_i as i32 * (LEGEND_PX as i32 + 10) + LEGEND_PX as i32 / 2;
            for (x, series) in row {
                let look = self.series[*series].look;
                draw_line_sample(&area, look, (*x, y), (*x + LEGEND_SWATCH, y))?;
                draw_marker(&area, look, (*x + LEGEND_SWATCH / 2, y))?;
                area.draw_text(
                    &self.series[*series].name,
                    &text(LEGEND_PX).pos(Pos::new(HPos::Left, VPos::Center)),
                    (*x + LEGEND_SWATCH + 8, y),
                )?;
            }
        }

        // Footer: notes, wrapped to the width.
        let note_style = text(NOTE_PX).color(&grey);
        let mut note_lines = Vec::new();
        for note in &self.notes {
            note_lines.extend(wrap(note, width as i32, |s| {
                area.estimate_text_size(s, &note_style)
                    .map(|(w, _)| w as i32)
                    .unwrap_or(0)
            }));
        }
        let line_h = NOTE_PX as i32 + 5;
        let footer_h = if note_lines.is_empty() {
            0
        } else {
            note_lines.len() as i32 * line_h + 8
        };
        for (i, line) in note_lines.iter().enumerate() {
            let y = height as i32 - footer_h + 8 + i as i32 * line_h;
            area.draw_text(line, &note_style, (0, y))?;
        }

        let body = area.margin(header_h, footer_h, 0, 0);
        let mut chart = ChartBuilder::on(&body)
            .x_label_area_size(62)
            .y_label_area_size(self.y_label_area(&body)?)
            .margin_top(6)
            .margin_right(36)
            .build_cartesian_2d(self.x.coord(), self.y.coord())?;
        let xfmt = |p: &f64| self.x.label_at(*p);
        let yfmt = |p: &f64| self.y.label_at(*p);
        chart
            .configure_mesh()
            .x_desc(self.x.label.as_str())
            .y_desc(self.y.label.as_str())
            .axis_desc_style(text(AXIS_DESC_PX))
            .label_style(text(TICK_PX))
            .x_label_formatter(&xfmt)
            .y_label_formatter(&yfmt)
            .bold_line_style(BLACK.mix(0.16))
            .light_line_style(BLACK.mix(0.05))
            .axis_style(BLACK.mix(0.8))
            .draw()?;

        for s in &self.series {
            let color = s.look.color();
            let line = ShapeStyle::from(&color).stroke_width(3);
            let bar = ShapeStyle::from(&color).stroke_width(2);
            let at = |(x, y): (f64, f64)| (self.x.pos(x), self.y.pos(y));
            // Bars by hand: plotters' ErrorBar also draws a circle at its
            // middle value, which would read as a second data point.
            for &(x, lo, hi) in &s.error_bars {
                let (low, high) = (at((x, lo)), at((x, hi)));
                chart.draw_series(std::iter::once(PathElement::new(vec![low, high], bar)))?;
                for end in [low, high] {
                    chart.draw_series(std::iter::once(
                        EmptyElement::at(end) + PathElement::new(vec![(-7, 0), (7, 0)], bar),
                    ))?;
                }
            }
            for seg in &s.segments {
                let pts: Vec<(f64, f64)> = seg.iter().map(|p| at(*p)).collect();
                if pts.len() > 1 {
                    match s.look.dash {
                        Dash::Solid => {
                            chart.draw_series(LineSeries::new(pts.iter().copied(), line))?;
                        }
                        Dash::Dashed => {
                            chart.draw_series(DashedLineSeries::new(
                                pts.iter().copied(),
                                14,
                                8,
                                line,
                            ))?;
                        }
                        Dash::Dotted => {
                            chart.draw_series(DashedLineSeries::new(
                                pts.iter().copied(),
                                5,
                                6,
                                line,
                            ))?;
                        }
                    }
                }
                if s.markers || pts.len() == 1 {
                    let color = s.look.color();
                    let fill = ShapeStyle::from(&color).filled();
                    let edge = ShapeStyle::from(&color).stroke_width(3);
                    let at = pts.iter().map(|p| EmptyElement::at(*p));
                    match s.look.marker {
                        Marker::Circle => {
                            chart.draw_series(at.map(|e| e + Circle::new((0, 0), 6, fill)))?;
                        }
                        Marker::Triangle => {
                            chart.draw_series(
                                at.map(|e| e + TriangleMarker::new((0, 0), 8, fill)),
                            )?;
                        }
                        Marker::Square => {
                            chart.draw_series(
                                at.map(|e| e + Rectangle::new([(-5, -5), (5, 5)], fill)),
                            )?;
                        }
                        Marker::Cross => {
                            chart.draw_series(at.map(|e| e + Cross::new((0, 0), 6, edge)))?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Legend entries as rows of `(x, series index)`, wrapping at `width`.
    fn legend_layout<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        width: i32,
    ) -> Result<Vec<LegendRow>, DrawingAreaErrorKind<DB::ErrorType>> {
        let style = TextStyle::from((FAMILY, LEGEND_PX).into_font());
        let mut rows: Vec<LegendRow> = Vec::new();
        let mut x = 0;
        for (i, s) in self.series.iter().enumerate() {
            let (tw, _) = area.estimate_text_size(&s.name, &style)?;
            let w = LEGEND_SWATCH + 8 + tw as i32;
            if rows.is_empty() || (x > 0 && x + w > width) {
                rows.push(Vec::new());
                x = 0;
            }
            rows.last_mut().expect("a row was pushed").push((x, i));
            x += w + 36;
        }
        Ok(rows)
    }

    /// Room for the y tick labels and the rotated description.
    fn y_label_area<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
    ) -> Result<u32, DrawingAreaErrorKind<DB::ErrorType>> {
        let style = TextStyle::from((FAMILY, TICK_PX).into_font());
        let mut widest = 0;
        for (_, label) in &self.y.ticks {
            widest = widest.max(area.estimate_text_size(label, &style)?.0);
        }
        Ok(widest + AXIS_DESC_PX as u32 + 30)
    }
}

fn draw_line_sample<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    look: Look,
    from: (i32, i32),
    to: (i32, i32),
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let style = ShapeStyle::from(&look.color()).stroke_width(3);
    match look.dash {
        Dash::Solid => area.draw(&PathElement::new(vec![from, to], style)),
        Dash::Dashed => area.draw(&DashedPathElement::new(vec![from, to], 14, 8, style)),
        Dash::Dotted => area.draw(&DashedPathElement::new(vec![from, to], 5, 6, style)),
    }
}

/// The design's point marker centred on pixel `at` (legend).
fn draw_marker<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    look: Look,
    at: (i32, i32),
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let color = look.color();
    let fill = ShapeStyle::from(&color).filled();
    let edge = ShapeStyle::from(&color).stroke_width(3);
    match look.marker {
        Marker::Circle => area.draw(&Circle::new(at, 6, fill)),
        Marker::Triangle => area.draw(&TriangleMarker::new(at, 8, fill)),
        Marker::Square => area.draw(&Rectangle::new(
            [(at.0 - 5, at.1 - 5), (at.0 + 5, at.1 + 5)],
            fill,
        )),
        Marker::Cross => area.draw(&Cross::new(at, 6, edge)),
    }
}

/// Greedy word wrap of `text` to `width` pixels as measured by `measure`.
fn wrap(text: &str, width: i32, measure: impl Fn(&str) -> i32) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let candidate = if line.is_empty() {
            word.to_string()
        } else {
            format!("{line} {word}")
        };
        if !line.is_empty() && measure(&candidate) > width {
            lines.push(std::mem::take(&mut line));
            line = word.to_string();
        } else {
            line = candidate;
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// `1234` -> `1234 ns`, `12_500` -> `12.5 µs`, in 1-2-5 friendly form.
pub fn fmt_ns(ns: f64) -> String {
    let (v, unit) = if ns.abs() >= 1e9 {
        (ns / 1e9, "s")
    } else if ns.abs() >= 1e6 {
        (ns / 1e6, "ms")
    } else if ns.abs() >= 1e3 {
        (ns / 1e3, "µs")
    } else {
        (ns, "ns")
    };
    format!("{} {unit}", fmt_num(v))
}

/// A number with at most three significant digits and no trailing zeros:
/// `2`, `2.5`, `0.125`, `12300`.
pub fn fmt_num(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return if v.is_finite() {
            "0".to_string()
        } else {
            v.to_string()
        };
    }
    let digits = (3 - 1 - v.abs().log10().floor() as i32).clamp(0, 6) as usize;
    let s = format!("{v:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// A binary unit that keeps `max_bytes` between 1 and 1024 of it:
/// `(divisor, "KiB")`.
pub fn byte_unit(max_bytes: f64) -> (f64, &'static str) {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut div = 1.0;
    let mut i = 0;
    while i + 1 < UNITS.len() && max_bytes >= div * 1024.0 {
        div *= 1024.0;
        i += 1;
    }
    (div, UNITS[i])
}

/// A decimal scale for large counts: `(divisor, "M")` keeps `max` under
/// 1000 of the unit.
pub fn si_unit(max: f64) -> (f64, &'static str) {
    if max >= 1e9 {
        (1e9, "G")
    } else if max >= 1e6 {
        (1e6, "M")
    } else if max >= 1e3 {
        (1e3, "k")
    } else {
        (1.0, "")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_axis_has_nice_ticks_covering_the_data() {
        let a = Axis::linear("x", 3.0, 97.0, true, fmt_num);
        assert_eq!(a.lo, 0.0);
        assert!(a.hi >= 97.0);
        let labels: Vec<&str> = a.ticks.iter().map(|(_, s)| s.as_str()).collect();
        assert_eq!(labels, ["0", "20", "40", "60", "80", "100"]);
    }

    #[test]
    fn linear_axis_with_one_value_still_has_extent() {
        let a = Axis::linear("x", 5.0, 5.0, false, fmt_num);
        assert!(a.lo < 5.0 && a.hi > 5.0, "{a:?}");
        let z = Axis::linear("x", 0.0, 0.0, true, fmt_num);
        assert!(z.hi > z.lo, "{z:?}");
    }

    #[test]
    fn log_axis_spans_whole_decades() {
        let a = Axis::log10("ns", 37.0, 12_000.0, 1.0, fmt_ns);
        assert_eq!((a.lo, a.hi), (10.0, 100_000.0));
        let labels: Vec<&str> = a.ticks.iter().map(|(_, s)| s.as_str()).collect();
        assert_eq!(labels, ["10 ns", "100 ns", "1 µs", "10 µs", "100 µs"]);
        // A narrow range gets 2x and 5x ticks too.
        let b = Axis::log10("ns", 120.0, 180.0, 1.0, fmt_ns);
        let labels: Vec<&str> = b.ticks.iter().map(|(_, s)| s.as_str()).collect();
        assert_eq!(labels, ["100 ns", "200 ns", "500 ns", "1 µs"]);
    }

    #[test]
    fn log_axis_draws_zero_at_the_floor() {
        let a = Axis::log10("ns", 0.0, 50.0, 1.0, fmt_ns);
        assert_eq!(a.lo, 1.0);
        assert_eq!(a.pos(0.0), 0.0);
    }

    #[test]
    fn nines_axis_spaces_the_tail_evenly() {
        let a = Axis::nines("q", 3.0);
        let labels: Vec<&str> = a.ticks.iter().map(|(_, s)| s.as_str()).collect();
        assert_eq!(labels, ["0%", "50%", "90%", "99%", "99.9%"]);
        let p: Vec<f64> = a.ticks.iter().map(|(q, _)| a.pos(*q)).collect();
        assert!((p[3] - p[2] - 1.0).abs() < 1e-9 && (p[4] - p[3] - 1.0).abs() < 1e-9);
        assert!(a.pos(1.0).is_finite());
    }

    #[test]
    fn label_lookup_finds_the_tick_plotters_hands_back() {
        let a = Axis::nines("q", 4.0);
        assert_eq!(a.label_at(a.pos(0.999)), "99.9%");
        assert_eq!(a.label_at(a.pos(0.9999)), "99.99%");
        assert_eq!(a.label_at(0.123), "");
    }

    #[test]
    fn number_formats_are_short() {
        assert_eq!(fmt_num(2.0), "2");
        assert_eq!(fmt_num(2.5), "2.5");
        assert_eq!(fmt_num(0.125), "0.125");
        assert_eq!(fmt_num(12_345.0), "12345");
        assert_eq!(fmt_ns(250.0), "250 ns");
        assert_eq!(fmt_ns(1500.0), "1.5 µs");
        assert_eq!(fmt_ns(2e6), "2 ms");
        assert_eq!(byte_unit(1000.0), (1.0, "B"));
        assert_eq!(byte_unit(5e6), (1024.0 * 1024.0, "MiB"));
        assert_eq!(si_unit(2.5e6), (1e6, "M"));
    }

    #[test]
    fn wrap_breaks_at_words_within_width() {
        let lines = wrap("aa bb cc dd", 5, |s| s.len() as i32);
        assert_eq!(lines, ["aa bb", "cc dd"]);
        assert!(wrap("", 5, |s| s.len() as i32).is_empty());
    }
}
