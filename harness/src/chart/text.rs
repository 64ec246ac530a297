//! Chart text, drawn by us rather than by plotters: [`TextLayer`] wraps
//! a plotters backend, passes every shape through, measures strings with
//! the bundled font's layout (`super::font`) and records each string
//! plotters asks it to draw (size, colour, anchor, rotation) instead of
//! drawing it. Once the chart is drawn, the recorded strings go into the
//! output on top of it: as glyph outlines in SVG ([`svg`]: each glyph
//! used is defined once and placed with `<use>`), as the same outlines
//! rasterized at the same fractional positions in PNG ([`raster`]).
//!
//! Why not plotters' own text: its SVG backend names a font family and
//! leaves the glyphs to the viewer (whatever `sans-serif` is there), and
//! its bitmap text truncates each glyph's pen position to a whole pixel
//! and drops its side bearing, so letters sit unevenly ("ol dest").

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::rc::Rc;

use ab_glyph::{Font, FontRef, PxScale, point};
use plotters_backend::FontTransform;
use plotters_backend::text_anchor::{HPos, VPos};
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingBackend, DrawingErrorKind,
};

use super::font::{self, Line};

/// One string to draw, as plotters asked for it.
#[derive(Clone)]
pub struct TextItem {
    /// The string.
    pub text: String,
    /// Size (descender-to-ascender height), pixels.
    pub size: f32,
    /// Fill colour.
    pub rgb: (u8, u8, u8),
    /// Opacity, 0 to 1.
    pub alpha: f64,
    /// Horizontal anchor: which part of the line sits at `pos`.
    pub h: HPos,
    /// Vertical anchor.
    pub v: VPos,
    /// Rotation about `pos`.
    pub rotation: FontTransform,
    /// Anchor point, pixels.
    pub pos: (i32, i32),
}

/// A rotation by a multiple of 90 degrees as a matrix on screen
/// coordinates (y down): `(x, y) -> (m[0] x + m[1] y, m[2] x + m[3] y)`,
/// the same mapping as plotters' `FontTransform::transform`.
fn rotation(t: &FontTransform) -> [f32; 4] {
    match t {
        FontTransform::None => [1.0, 0.0, 0.0, 1.0],
        FontTransform::Rotate90 => [0.0, -1.0, 1.0, 0.0],
        FontTransform::Rotate180 => [-1.0, 0.0, 0.0, -1.0],
        FontTransform::Rotate270 => [0.0, 1.0, -1.0, 0.0],
    }
}

impl TextItem {
    /// The laid-out line and the baseline origin of its first glyph,
    /// relative to `pos` before rotation.
    fn placed(&self, face: &FontRef<'_>) -> (Line, (f32, f32)) {
        let line = font::layout(face, &self.text, self.size);
        let ox = match self.h {
            HPos::Left => 0.0,
            HPos::Center => -line.width / 2.0,
            HPos::Right => -line.width,
        };
        let oy = match self.v {
            VPos::Top => line.ascent,
            VPos::Center => (line.ascent + line.descent) / 2.0,
            VPos::Bottom => line.descent,
        };
        (line, (ox, oy))
    }
}

/// The recorded strings of one chart, shared between the backend that
/// records them and the code that draws them afterwards.
pub type Recorded = Rc<RefCell<Vec<TextItem>>>;

/// A plotters backend that draws shapes with `inner` and records text.
pub struct TextLayer<B> {
    inner: B,
    texts: Recorded,
}

impl<B> TextLayer<B> {
    /// Wrap `inner`; strings go to `texts`.
    pub fn new(inner: B, texts: Recorded) -> TextLayer<B> {
        TextLayer { inner, texts }
    }
}

fn font_error<E: std::error::Error + Send + Sync>(e: font::FontError) -> DrawingErrorKind<E> {
    DrawingErrorKind::FontError(Box::new(e))
}

impl<B: DrawingBackend> DrawingBackend for TextLayer<B> {
    type ErrorType = B::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.inner.get_size()
    }

    fn ensure_prepared(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.ensure_prepared()
    }

    fn present(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.present()
    }

    fn draw_pixel(
        &mut self,
        point: BackendCoord,
        color: BackendColor,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_pixel(point, color)
    }

    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_line(from, to, style)
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_rect(upper_left, bottom_right, style, fill)
    }

    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_path(path, style)
    }

    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_circle(center, radius, style, fill)
    }

    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.fill_polygon(vert, style)
    }

    fn draw_text<S: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &S,
        pos: BackendCoord,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        let color = style.color();
        if color.alpha == 0.0 || text.is_empty() {
            return Ok(());
        }
        let anchor = style.anchor();
        self.texts.borrow_mut().push(TextItem {
            text: text.to_string(),
            size: style.size() as f32,
            rgb: color.rgb,
            alpha: color.alpha,
            h: anchor.h_pos,
            v: anchor.v_pos,
            rotation: style.transform(),
            pos,
        });
        Ok(())
    }

    fn estimate_text_size<S: BackendTextStyle>(
        &self,
        text: &str,
        style: &S,
    ) -> Result<(u32, u32), DrawingErrorKind<Self::ErrorType>> {
        let face = font::face().map_err(font_error)?;
        let line = font::layout(face, text, style.size() as f32);
        Ok((line.width.ceil() as u32, style.size().round() as u32))
    }

    fn blit_bitmap(
        &mut self,
        pos: BackendCoord,
        size: (u32, u32),
        src: &[u8],
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.blit_bitmap(pos, size, src)
    }
}

/// Escape text for an XML attribute value.
pub(crate) fn xml_attr(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// `texts` as SVG elements to put last in the document: a `<defs>` with
/// the outline of every glyph used (font units, y up), then one group
/// per string that scales, flips and places its glyphs. Each group's
/// `aria-label` is the string, so screen readers (and searches of the
/// file) still find the words.
pub fn svg(texts: &[TextItem]) -> Result<String, font::FontError> {
    let face = font::face()?;
    let mut defs: BTreeMap<u16, Option<String>> = BTreeMap::new();
    let mut groups = String::new();
    for t in texts {
        let (line, (ox, oy)) = t.placed(face);
        let [r00, r01, r10, r11] = rotation(&t.rotation);
        let s = line.scale;
        // Font units (u, v) -> screen: pos + R (ox + s u, oy - s v).
        let (a, b, c, d) = (s * r00, s * r10, -s * r01, -s * r11);
        let e = t.pos.0 as f32 + r00 * ox + r01 * oy;
        let f = t.pos.1 as f32 + r10 * ox + r11 * oy;
        let mut uses = String::new();
        for g in &line.glyphs {
            let path = defs
                .entry(g.id.0)
                .or_insert_with(|| font::outline_path(face, g.id));
            if path.is_some() {
                let _ = write!(uses, "<use href=\"#g{}\" x=\"{:.1}\"/>", g.id.0, g.x / s);
            }
        }
        let opacity = if t.alpha < 1.0 {
            format!(" fill-opacity=\"{:.3}\"", t.alpha)
        } else {
            String::new()
        };
        let _ = writeln!(
            groups,
            "<g role=\"img\" aria-label=\"{}\" fill=\"#{:02x}{:02x}{:02x}\"{opacity} \
             transform=\"matrix({a:.7} {b:.7} {c:.7} {d:.7} {e:.2} {f:.2})\">{uses}</g>",
            xml_attr(&t.text),
            t.rgb.0,
            t.rgb.1,
            t.rgb.2,
        );
    }
    let mut out = String::from("<defs>\n");
    for (id, path) in &defs {
        if let Some(p) = path {
            let _ = writeln!(out, "<path id=\"g{id}\" d=\"{p}\"/>");
        }
    }
    out.push_str("</defs>\n");
    out.push_str(&groups);
    Ok(out)
}

/// Put `svg_text` (from [`svg`]) and a `<title>` into the SVG document
/// `doc` that plotters wrote: the title first, the text last, so it sits
/// above every shape.
pub fn into_svg_document(doc: &mut String, title: &str, svg_text: &str) {
    if let Some(open_end) = doc
        .find("<svg")
        .and_then(|i| doc[i..].find('>').map(|j| i + j + 1))
    {
        doc.insert_str(open_end, &format!("\n<title>{}</title>", xml_attr(title)));
    }
    let close = doc.rfind("</svg>").unwrap_or(doc.len());
    doc.insert_str(close, svg_text);
}

/// Draw `texts` into the 8-bit RGB image `rgb` of `width` x `height`
/// pixels: each glyph rasterized at its fractional position and blended
/// by its coverage. Rotations are by quarter turns, so a glyph is
/// rasterized upright and its pixels moved exactly.
pub fn raster(
    rgb: &mut [u8],
    (width, height): (u32, u32),
    texts: &[TextItem],
) -> Result<(), font::FontError> {
    let face = font::face()?;
    let (w, h) = (width as i32, height as i32);
    let mut blend = |x: i32, y: i32, cover: f32, t: &TextItem| {
        if x < 0 || y < 0 || x >= w || y >= h || cover <= 0.0 {
            return;
        }
        let a = (cover.min(1.0) as f64 * t.alpha) as f32;
        let i = (y as usize * width as usize + x as usize) * 3;
        for (k, fg) in [t.rgb.0, t.rgb.1, t.rgb.2].into_iter().enumerate() {
            let bg = f32::from(rgb[i + k]);
            rgb[i + k] = (bg + (f32::from(fg) - bg) * a).round() as u8;
        }
    };
    for t in texts {
        let (line, (ox, oy)) = t.placed(face);
        let m = rotation(&t.rotation);
        let upright = matches!(t.rotation, FontTransform::None);
        for g in &line.glyphs {
            // Upright text is rasterized where it lands, so the anchor's
            // own position keeps its fraction; rotated text around the
            // anchor, then moved.
            let (base_x, base_y) = if upright {
                (t.pos.0 as f32, t.pos.1 as f32)
            } else {
                (0.0, 0.0)
            };
            let glyph = g.id.with_scale_and_position(
                PxScale::from(t.size),
                point(base_x + ox + g.x, base_y + oy),
            );
            let Some(outlined) = face.outline_glyph(glyph) else {
                continue;
            };
            let bounds = outlined.px_bounds();
            let (bx, by) = (bounds.min.x as i32, bounds.min.y as i32);
            outlined.draw(|px, py, cover| {
                let (tx, ty) = (bx + px as i32, by + py as i32);
                if upright {
                    blend(tx, ty, cover, t);
                } else {
                    // Move the pixel's centre, then take the pixel it
                    // falls in.
                    let (cx, cy) = (tx as f32 + 0.5, ty as f32 + 0.5);
                    let rx = m[0] * cx + m[1] * cy;
                    let ry = m[2] * cx + m[3] * cy;
                    blend(
                        t.pos.0 + rx.floor() as i32,
                        t.pos.1 + ry.floor() as i32,
                        cover,
                        t,
                    );
                }
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(text: &str, size: f32, rotation: FontTransform) -> TextItem {
        TextItem {
            text: text.to_string(),
            size,
            rgb: (0, 0, 0),
            alpha: 1.0,
            h: HPos::Left,
            v: VPos::Top,
            rotation,
            pos: (10, 10),
        }
    }

    /// Ink (1 - brightness) of every column of a white RGB image.
    fn column_ink(rgb: &[u8], (w, h): (u32, u32)) -> Vec<f64> {
        (0..w as usize)
            .map(|x| {
                (0..h as usize)
                    .map(|y| 1.0 - f64::from(rgb[(y * w as usize + x) * 3]) / 255.0)
                    .sum()
            })
            .collect()
    }

    /// Centre of ink of each run of inked columns (one per glyph when
    /// the glyphs do not touch).
    fn glyph_centres(ink: &[f64]) -> Vec<f64> {
        let mut out = Vec::new();
        let (mut mass, mut moment) = (0.0, 0.0);
        for (x, &v) in ink.iter().enumerate() {
            if v > 1e-3 {
                mass += v;
                moment += v * (x as f64 + 0.5);
            } else if mass > 0.0 {
                out.push(moment / mass);
                (mass, moment) = (0.0, 0.0);
            }
        }
        if mass > 0.0 {
            out.push(moment / mass);
        }
        out
    }

    #[test]
    fn raster_spaces_identical_glyphs_by_their_exact_advance() {
        // Plotters' bitmap text snapped every glyph to a whole pixel,
        // so gaps between equal letters differed by up to a pixel. Here
        // the centre of ink of each "l" must follow the fractional
        // advance to within a fifth of a pixel.
        let size = (400, 40);
        let mut rgb = vec![255u8; 400 * 40 * 3];
        let text = item("l l l l l l l l l l", 17.0, FontTransform::None);
        raster(&mut rgb, size, std::slice::from_ref(&text)).unwrap();
        let centres = glyph_centres(&column_ink(&rgb, size));
        assert_eq!(centres.len(), 10, "{centres:?}");
        let face = font::face().unwrap();
        let line = font::layout(face, &text.text, text.size);
        let step = f64::from(line.glyphs[2].x - line.glyphs[0].x);
        assert!(step.fract().abs() > 0.05, "a fractional advance: {step}");
        for w in centres.windows(2) {
            let gap = w[1] - w[0];
            assert!((gap - step).abs() < 0.2, "gap {gap} vs advance {step}");
        }
    }

    #[test]
    fn rotated_text_lands_where_plotters_would_put_it() {
        // Rotate270 (a y-axis description) reads bottom to top: its ink
        // lies above and right of the anchor, a column, not a row.
        let size = (100, 200);
        let mut rgb = vec![255u8; 100 * 200 * 3];
        let mut t = item("latency", 17.0, FontTransform::Rotate270);
        t.pos = (20, 150);
        raster(&mut rgb, size, std::slice::from_ref(&t)).unwrap();
        let (mut xs, mut ys) = (Vec::new(), Vec::new());
        for y in 0..200 {
            for x in 0..100 {
                if rgb[(y * 100 + x) * 3] < 128 {
                    xs.push(x as i32);
                    ys.push(y as i32);
                }
            }
        }
        let span = |v: &[i32]| v.iter().max().unwrap() - v.iter().min().unwrap();
        assert!(span(&ys) > 2 * span(&xs), "vertical text");
        assert!(*ys.iter().max().unwrap() <= 150 && *xs.iter().min().unwrap() >= 20);
    }

    #[test]
    fn svg_defines_each_glyph_once_and_labels_each_string() {
        let texts = vec![
            item("per-vma", 19.0, FontTransform::None),
            item("per-vma & <xarray>", 17.0, FontTransform::Rotate270),
        ];
        let out = svg(&texts).unwrap();
        let face = font::face().unwrap();
        let p = face.glyph_id('p').0;
        assert_eq!(out.matches(&format!("<path id=\"g{p}\"")).count(), 1);
        assert!(out.contains("aria-label=\"per-vma\""));
        assert!(out.contains("aria-label=\"per-vma &amp; &lt;xarray&gt;\""));
        // A space has no outline, so nothing refers to one.
        let space = face.glyph_id(' ').0;
        assert!(!out.contains(&format!("href=\"#g{space}\"")));
        let mut doc = "<svg width=\"1\">\n<rect/>\n</svg>\n".to_string();
        into_svg_document(&mut doc, "a & b", &out);
        assert!(doc.starts_with("<svg width=\"1\">\n<title>a &amp; b</title>"));
        assert!(doc.ends_with("</g>\n</svg>\n"), "{doc}");
    }
}
