//! pahole-style rendering of a [`Layout`]: the same columns, hole and
//! cacheline comments and closing summary as `pahole -C NAME` prints, so
//! that output can be pasted next to the real tool's and diffed.
//!
//! Follows dwarves' dwarves_fprintf.c (`__class__fprintf()`,
//! `class_member__fprintf()`, `union__fprintf()`,
//! `class__fprintf_cacheline_boundary()`): type column 26 wide at the top
//! level and 8 narrower per nesting level, offset comment at column 49 (type
//! spacing 26 plus name spacing 23), tabs for indentation, absolute offsets for
//! members of inline aggregates. Where pahole versions differ, the fixture
//! in tests/data (pahole as posted to linux-mm, April 2025) decides: it
//! prints a type's `__aligned__` before the member name on closing braces.

use std::fmt::Write as _;

use super::engine::{AggKind, Layout, MemberBody, MemberLayout, PAHOLE_CACHELINE};

/// pahole's default type column width.
const TYPE_SPACING: i64 = 26;
/// pahole's default name column width for structs (21 for unions).
const NAME_SPACING_STRUCT: i64 = 23;
const NAME_SPACING_UNION: i64 = 21;

/// Render `layout` as pahole prints the struct (or union), ending with a
/// newline.
pub fn pahole(layout: &Layout) -> String {
    let name_spacing = match layout.kind {
        AggKind::Struct => NAME_SPACING_STRUCT,
        AggKind::Union => NAME_SPACING_UNION,
    };
    let mut r = Renderer {
        out: String::new(),
        cacheline: 0,
        name_spacing,
    };
    r.out.push_str(layout.kind.keyword());
    if let Some(name) = &layout.name {
        r.out.push(' ');
        r.out.push_str(name);
    }
    r.out.push_str(" {\n");
    r.body(layout, 0, 1, TYPE_SPACING);
    if layout.kind == AggKind::Struct {
        r.out.push_str(&summary_lines(layout, 1));
    }
    r.out.push('}');
    if layout.kind == AggKind::Struct
        && let Some(a) = layout.aligned
    {
        r.out.push_str(&aligned_attr(a));
    }
    r.out.push_str(";\n");
    r.out
}

/// The closing summary comments pahole prints for a struct, each line
/// indented by `indent` tabs and preceded by an empty line.
pub fn summary_lines(layout: &Layout, indent: usize) -> String {
    let s = layout.summary();
    let t = tabs(indent);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n{t}/* size: {}, cachelines: {}, members: {} */",
        s.size, s.cachelines, s.members
    );
    if s.sum_holes > 0 && s.sum_members > 0 {
        let _ = writeln!(
            out,
            "{t}/* sum members: {}, holes: {}, sum holes: {} */",
            s.sum_members, s.holes, s.sum_holes
        );
    }
    if s.padding > 0 {
        let _ = writeln!(out, "{t}/* padding: {} */", s.padding);
    }
    if s.paddings > 0 {
        let _ = writeln!(
            out,
            "{t}/* paddings: {}, sum paddings: {} */",
            s.paddings, s.sum_paddings
        );
    }
    if s.forced_alignments > 0 {
        let _ = write!(out, "{t}/* forced alignments: {}", s.forced_alignments);
        if s.forced_holes > 0 {
            let _ = write!(
                out,
                ", forced holes: {}, sum forced holes: {}",
                s.forced_holes, s.sum_forced_holes
            );
        }
        out.push_str(" */\n");
    }
    if s.last_cacheline != 0 {
        let _ = writeln!(out, "{t}/* last cacheline: {} bytes */", s.last_cacheline);
    }
    out
}

/// ` __attribute__((__aligned__(N)))`, with its leading space.
pub fn aligned_attr(n: u64) -> String {
    format!(" __attribute__((__aligned__({n})))")
}

fn tabs(n: usize) -> String {
    "\t".repeat(n)
}

/// `"%*s"` with `" "` as printf does it: a negative width left-justifies,
/// and the single space is always printed.
fn printf_pad(width: i64) -> String {
    " ".repeat(width.unsigned_abs().max(1) as usize)
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

struct Renderer {
    out: String,
    /// The cache line of the last boundary comment (pahole's `*cachelinep`).
    cacheline: u64,
    name_spacing: i64,
}

impl Renderer {
    /// The members of `l`, which starts `base` bytes into the outermost
    /// struct, at `indent` tabs with a type column `type_spacing` wide.
    fn body(&mut self, l: &Layout, base: u64, indent: usize, type_spacing: i64) {
        let t = tabs(indent);
        match l.kind {
            AggKind::Struct => {
                let mut newline = false;
                for m in &l.members {
                    if newline {
                        self.out.push('\n');
                        newline = false;
                    }
                    self.out.push_str(&t);
                    self.member(m, base, indent, type_spacing);
                    let padding = m.struct_padding();
                    if padding > 0 {
                        if !newline {
                            self.out.push('\n');
                            newline = true;
                        }
                        let _ = write!(
                            self.out,
                            "\n{t}/* XXX last struct has {padding} byte{} of padding */",
                            plural(padding)
                        );
                    }
                    if m.hole > 0 {
                        if !newline {
                            self.out.push('\n');
                            newline = true;
                        }
                        let _ = write!(
                            self.out,
                            "\n{t}/* XXX {} byte{} hole, try to pack */",
                            m.hole,
                            plural(m.hole)
                        );
                    }
                    self.out.push('\n');
                }
            }
            AggKind::Union => {
                let initial = self.cacheline;
                for m in &l.members {
                    self.out.push_str(&t);
                    self.member(m, base, indent, type_spacing);
                    self.out.push('\n');
                    self.cacheline = initial;
                }
            }
        }
    }

    fn cacheline_boundary(&mut self, offset: u64, indent: usize) {
        let line = offset / PAHOLE_CACHELINE;
        if line > self.cacheline {
            let pos = offset % PAHOLE_CACHELINE;
            let start = offset - pos;
            if pos == 0 {
                let _ = writeln!(
                    self.out,
                    "/* --- cacheline {line} boundary ({start} bytes) --- */"
                );
            } else {
                let _ = writeln!(
                    self.out,
                    "/* --- cacheline {line} boundary ({start} bytes) was {pos} bytes ago --- */"
                );
            }
            self.out.push_str(&tabs(indent));
            self.cacheline = line;
        }
    }

    /// One member (the caller printed the indentation).
    fn member(&mut self, m: &MemberLayout, base: u64, indent: usize, type_spacing: i64) {
        let offset = base + m.offset;
        self.cacheline_boundary(offset, indent);
        let comment = format!("/* {offset:5} {:5} */", m.size);
        match &m.body {
            MemberBody::Opaque {
                type_text,
                declarator,
                ..
            } => {
                let width = type_spacing.unsigned_abs() as usize;
                let mut text = format!("{type_text:<width$} {declarator}");
                if let Some(a) = m.aligned {
                    text.push_str(&aligned_attr(a));
                }
                text.push(';');
                let spacing = type_spacing + self.name_spacing - text.len() as i64;
                self.out.push_str(&text);
                self.out.push_str(&" ".repeat(spacing.max(1) as usize));
                self.out.push_str(&comment);
            }
            MemberBody::Aggregate(l) => {
                self.out.push_str(l.kind.keyword());
                if let Some(tag) = &l.name {
                    self.out.push(' ');
                    self.out.push_str(tag);
                }
                self.out.push_str(" {\n");
                self.body(l, offset, indent + 1, type_spacing - 8);
                self.out.push_str(&tabs(indent));
                self.out.push('}');
                // pahole reserves room for the type's attribute whether or
                // not it prints it (unions never do).
                let mut slen = m.name.as_ref().map_or(-1, |n| n.len() as i64);
                if let Some(a) = l.aligned {
                    let attr = aligned_attr(a);
                    slen += attr.len() as i64;
                    if l.kind == AggKind::Struct {
                        self.out.push_str(&attr);
                    }
                }
                if let Some(name) = &m.name {
                    self.out.push(' ');
                    self.out.push_str(name);
                }
                if let Some(a) = m.aligned {
                    self.out.push_str(&aligned_attr(a));
                }
                self.out.push(';');
                self.out
                    .push_str(&printf_pad(type_spacing + self.name_spacing - slen - 3));
                self.out.push_str(&comment);
            }
        }
    }
}
