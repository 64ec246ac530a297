//! The one typeface every chart uses, DejaVu Sans, bundled in the binary
//! (harness/assets/fonts/, Bitstream Vera + Arev licence in LICENSE
//! there), and the line layout both outputs share: each glyph at its
//! fractional pen position (advance widths plus the font's `kern` pairs),
//! never snapped to whole pixels. SVG draws those glyphs as outlines and
//! PNG rasterizes the same outlines at the same positions (`super::text`),
//! so a chart looks the same in both and on every machine, and no system
//! font or font library (fontconfig, freetype) is consulted.
//!
//! Sizes are in plotters' sense: the pixel height from the font's
//! descender to its ascender (ab_glyph's `PxScale`), about 1.16 times the
//! em size for this font.

use std::sync::OnceLock;

use ab_glyph::{Font, FontRef, GlyphId, OutlineCurve};

/// DejaVu Sans Book 2.37 (Debian `fonts-dejavu-core` 2.37-6).
pub const DEJAVU_SANS: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// The bundled font could not be parsed (a corrupt asset).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the bundled chart font (DejaVu Sans) is not a valid TrueType font")]
pub struct FontError;

/// The parsed font, once per process; later calls return the first
/// outcome.
pub fn face() -> Result<&'static FontRef<'static>, FontError> {
    static FACE: OnceLock<Result<FontRef<'static>, FontError>> = OnceLock::new();
    FACE.get_or_init(|| FontRef::try_from_slice(DEJAVU_SANS).map_err(|_| FontError))
        .as_ref()
        .map_err(|e| *e)
}

/// One glyph of a laid-out line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placed {
    /// The glyph (0, the box, for a character the font lacks).
    pub id: GlyphId,
    /// Pen position of its origin from the line's start, pixels.
    pub x: f32,
}

/// A line of text laid out at one size, in pixels from its start on the
/// baseline (y grows downwards, as on screen).
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// Its glyphs, in order.
    pub glyphs: Vec<Placed>,
    /// Advance of the whole line, kerning included.
    pub width: f32,
    /// Height of the ascender above the baseline (positive).
    pub ascent: f32,
    /// Depth of the descender below the baseline (negative, as fonts
    /// state it).
    pub descent: f32,
    /// Pixels per font unit.
    pub scale: f32,
}

/// Lay `text` out on one line at `size` (see the module header).
pub fn layout(face: &FontRef<'_>, text: &str, size: f32) -> Line {
    let scale = size / face.height_unscaled();
    let mut glyphs = Vec::with_capacity(text.len());
    let mut pen = 0.0f32;
    let mut prev: Option<GlyphId> = None;
    for c in text.chars() {
        let id = face.glyph_id(c);
        if let Some(p) = prev {
            pen += face.kern_unscaled(p, id) * scale;
        }
        glyphs.push(Placed { id, x: pen });
        pen += face.h_advance_unscaled(id) * scale;
        prev = Some(id);
    }
    Line {
        glyphs,
        width: pen,
        ascent: face.ascent_unscaled() * scale,
        descent: face.descent_unscaled() * scale,
        scale,
    }
}

/// The outline of glyph `id` as SVG path data in font units (y up, as the
/// font has it), or `None` for a glyph with no ink (a space).
pub fn outline_path(face: &FontRef<'_>, id: GlyphId) -> Option<String> {
    use std::fmt::Write as _;
    let outline = face.outline(id)?;
    let mut d = String::new();
    let mut at: Option<ab_glyph::Point> = None;
    let num = |v: f32| {
        // TrueType points are whole units; implied on-curve points fall
        // on halves.
        let r = (v * 2.0).round() / 2.0;
        if r.fract() == 0.0 {
            format!("{}", r as i64)
        } else {
            format!("{r}")
        }
    };
    for curve in &outline.curves {
        let (start, end) = match *curve {
            OutlineCurve::Line(a, b) => (a, b),
            OutlineCurve::Quad(a, _, b) => (a, b),
            OutlineCurve::Cubic(a, _, _, b) => (a, b),
        };
        if at != Some(start) {
            if at.is_some() {
                d.push('Z');
            }
            let _ = write!(d, "M{} {}", num(start.x), num(start.y));
        }
        let _ = match *curve {
            OutlineCurve::Line(_, b) => write!(d, "L{} {}", num(b.x), num(b.y)),
            OutlineCurve::Quad(_, c, b) => {
                write!(d, "Q{} {} {} {}", num(c.x), num(c.y), num(b.x), num(b.y))
            }
            OutlineCurve::Cubic(_, c1, c2, b) => write!(
                d,
                "C{} {} {} {} {} {}",
                num(c1.x),
                num(c1.y),
                num(c2.x),
                num(c2.y),
                num(b.x),
                num(b.y)
            ),
        };
        at = Some(end);
    }
    if d.is_empty() {
        return None;
    }
    d.push('Z');
    Some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_font_parses_and_measures_text() {
        let face = face().expect("bundled font is valid");
        let line = layout(face, "per-vma", 20.0);
        assert_eq!(line.glyphs.len(), 7);
        assert!(line.width > 20.0, "text has a width: {}", line.width);
        // The size is the descender-to-ascender height.
        assert!((line.ascent - line.descent - 20.0).abs() < 1e-3, "{line:?}");
    }

    #[test]
    fn layout_keeps_fractional_advances_and_applies_kerning() {
        let face = face().unwrap();
        let size = 17.0;
        let line = layout(face, "AV", size);
        let a = face.glyph_id('A');
        let v = face.glyph_id('V');
        let s = size / face.height_unscaled();
        let kern = face.kern_unscaled(a, v);
        // DejaVu Sans kerns "AV" tighter; the second glyph moves by it.
        assert!(kern < 0.0, "AV is a kerning pair: {kern}");
        let expect = (face.h_advance_unscaled(a) + kern) * s;
        assert!((line.glyphs[1].x - expect).abs() < 1e-4, "{line:?}");
        // Not rounded to whole pixels.
        let i = layout(face, "iiii", size);
        let step = i.glyphs[1].x;
        assert!(step.fract() != 0.0, "advance {step}");
        assert!((i.glyphs[3].x - 3.0 * step).abs() < 1e-4);
    }

    #[test]
    fn outlines_are_closed_paths_and_spaces_have_none() {
        let face = face().unwrap();
        let o = outline_path(face, face.glyph_id('o')).expect("o has ink");
        // Two contours (outer and counter), each closed.
        assert_eq!(o.matches('M').count(), 2, "{o}");
        assert_eq!(o.matches('Z').count(), 2, "{o}");
        assert!(outline_path(face, face.glyph_id(' ')).is_none());
    }
}
