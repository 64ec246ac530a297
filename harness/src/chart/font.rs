//! The one typeface every chart uses: DejaVu Sans, bundled in the binary
//! (harness/assets/fonts/, Bitstream Vera + Arev licence in LICENSE there)
//! and registered with plotters' ab_glyph text backend, so charts render the
//! same on every machine and no system font library (fontconfig, freetype)
//! is linked or consulted.
//!
//! SVG output names the family `sans-serif` and leaves glyphs to the
//! viewer; the bundled font only sizes the text there (legend and label
//! layout), while PNG output rasterizes it.

use std::sync::OnceLock;

use plotters::style::FontStyle;

/// DejaVu Sans Book 2.37 (Debian `fonts-dejavu-core` 2.37-6).
pub const DEJAVU_SANS: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// The family name charts ask for; plotters' `FontFamily::SansSerif`.
pub const FAMILY: &str = "sans-serif";

/// The bundled font could not be registered (a corrupt asset).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the bundled chart font (DejaVu Sans) is not a valid TrueType font")]
pub struct FontError;

/// Register the bundled font as [`FAMILY`] once per process; later calls
/// return the first outcome. Every style (bold titles included) falls back
/// to the one regular face.
pub fn register() -> Result<(), FontError> {
    static REGISTERED: OnceLock<Result<(), FontError>> = OnceLock::new();
    *REGISTERED.get_or_init(|| {
        plotters::style::register_font(FAMILY, FontStyle::Normal, DEJAVU_SANS)
            .map_err(|_| FontError)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_font_registers_and_measures_text() {
        register().expect("bundled font is valid");
        let font = plotters::style::FontDesc::new(
            plotters::style::FontFamily::SansSerif,
            20.0,
            FontStyle::Normal,
        );
        let (w, h) = font.box_size("per-vma").expect("font found");
        assert!(w > 20 && h > 5, "text has a size: {w}x{h}");
    }
}
