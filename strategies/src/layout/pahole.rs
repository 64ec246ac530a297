//! Reading pahole output for one struct back into a [`StructDef`], checking
//! that the offsets it shows are what the layout engine computes, and
//! editing it (`--add-field 'DECL:SIZE[:ALIGN]' [--after MEMBER]`).
//!
//! Input is what `pahole -C NAME vmlinux` prints (dwarves'
//! dwarves_fprintf.c), possibly pasted from a mail: tabs or spaces, inline
//! anonymous structs and unions, `__attribute__((__aligned__(N)))` on
//! members and closing braces, zero-size members, the hole, padding and
//! cacheline comments, the closing summary, and lines wrapped by a mailer.
//!
//! Sizes and offsets come from the `/* offset size */` comments. Natural
//! alignments are not in the output, so they are inferred: from the size
//! for scalars and pointers (largest power of two dividing it, at most 8),
//! from the members for inline aggregates, and corrected by the offsets
//! where those prove the size guess wrong (a hole before a member means a
//! larger alignment; a struct member at a 4-byte offset means a smaller
//! one). Every inference that departs from the size guess is reported in
//! [`PaholeStruct::notes`]. The result is then laid out again and every
//! offset, size, hole and summary number must come out as pahole printed
//! them; if not, the input is rejected.
//!
//! Every error carries the 1-based line number it concerns; no input makes
//! the parser panic (fuzzed in tests/layout_pahole.rs).

use super::engine::{
    AggKind, DeclError, Kconfig, Layout, MAX_ALIGN, Member, MemberBody, MemberType, Opaque,
    StructDef, layout, natural_align_for_size, split_decl, valid_align,
};
use crate::slab::align_up;

/// Why pahole output was rejected. Every variant but
/// [`PaholeError::BadFieldSpec`] names the 1-based line it concerns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaholeError {
    /// The input stops before the struct does.
    #[error("line {line}: truncated: {what}")]
    Truncated {
        /// Where the input ran out (or the cut-off line started).
        line: usize,
        /// What was missing.
        what: String,
    },
    /// A line that is not pahole output.
    #[error("line {line}: cannot parse `{text}`: {why}")]
    Garbled {
        /// The line.
        line: usize,
        /// The start of its text, escaped.
        text: String,
        /// What is wrong with it.
        why: String,
    },
    /// A `}` without its `{`, or the other way round.
    #[error("line {line}: unbalanced braces: {why}")]
    UnbalancedBraces {
        /// The line.
        line: usize,
        /// What does not match.
        why: String,
    },
    /// Offsets, sizes, holes or summary numbers that no C layout explains.
    #[error("line {line}: offsets don't add up: {why}")]
    OffsetsDontAddUp {
        /// The member or comment concerned.
        line: usize,
        /// The disagreement.
        why: String,
    },
    /// Valid pahole output the model does not cover (bitfields, packed).
    #[error("line {line}: not supported: {what}")]
    Unsupported {
        /// The line.
        line: usize,
        /// What is not modelled.
        what: String,
    },
    /// `--after MEMBER` names no member of the struct.
    // No line: the mistake is on the command line, not in the file.
    #[error("--after {member}: struct {strukt} has no member `{member}` (members: {known})")]
    UnknownMember {
        /// The struct's opening line.
        line: usize,
        /// The struct.
        strukt: String,
        /// The name asked for.
        member: String,
        /// The top-level members.
        known: String,
    },
    /// A malformed `--add-field` argument.
    #[error("--add-field `{spec}`: {why}")]
    BadFieldSpec {
        /// The argument.
        spec: String,
        /// What is wrong.
        why: String,
    },
}

impl PaholeError {
    /// The line number the error concerns, if it concerns the input.
    pub fn line(&self) -> Option<usize> {
        match self {
            PaholeError::Truncated { line, .. }
            | PaholeError::Garbled { line, .. }
            | PaholeError::UnbalancedBraces { line, .. }
            | PaholeError::OffsetsDontAddUp { line, .. }
            | PaholeError::Unsupported { line, .. } => Some(*line),
            // Command-line mistakes (`--after`, `--add-field`).
            PaholeError::UnknownMember { .. } | PaholeError::BadFieldSpec { .. } => None,
        }
    }
}

/// One struct read from pahole output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaholeStruct {
    /// The description, with inferred alignments; conditions are all
    /// "always" (pahole shows one configuration).
    pub def: StructDef,
    /// Its layout, equal to what pahole printed.
    pub layout: Layout,
    /// The line of `struct NAME {`.
    pub line: usize,
    /// Inferences worth telling the user about.
    pub notes: Vec<String>,
}

impl PaholeStruct {
    /// The struct's name.
    pub fn name(&self) -> &str {
        self.def.name.as_deref().unwrap_or("<anonymous>")
    }

    /// Apply `edits` in order and lay the result out again.
    pub fn apply(&mut self, edits: &[FieldEdit]) -> Result<(), PaholeError> {
        for e in edits {
            e.apply(&mut self.def, self.line)?;
        }
        self.layout = layout(&self.def, &Kconfig::new());
        Ok(())
    }
}

/// Deepest nesting of inline aggregates accepted.
pub const MAX_DEPTH: usize = 32;
/// Most physical lines one wrapped logical line may span.
const MAX_WRAP: usize = 8;

/// Parse pahole output given as bytes; invalid UTF-8 is an error on the line
/// where it occurs.
pub fn parse_bytes(bytes: &[u8]) -> Result<PaholeStruct, PaholeError> {
    match std::str::from_utf8(bytes) {
        Ok(text) => parse(text),
        Err(e) => {
            let good = &bytes[..e.valid_up_to()];
            let line = 1 + good.iter().filter(|&&b| b == b'\n').count();
            let start = good.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
            Err(PaholeError::Garbled {
                line,
                text: clip(&String::from_utf8_lossy(&bytes[start..])),
                why: "not valid UTF-8".into(),
            })
        }
    }
}

/// Parse pahole output for one struct (see the module header).
pub fn parse(text: &str) -> Result<PaholeStruct, PaholeError> {
    let lines = logical_lines(text)?;
    let last_line = text.lines().count().max(1);
    let tree = build_tree(&lines, last_line)?;
    let mut notes = Vec::new();
    let size = tree.summary.iter().find_map(|(_, s)| match s {
        SummaryItem::Size { size, .. } => Some(*size),
        _ => None,
    });
    if size.is_none() {
        notes.push("no `size:` summary: the size was computed, not checked".into());
    }
    let def = infer(
        &tree.root,
        0,
        size,
        tree.root_aligned,
        tree.close_line,
        MAX_ALIGN,
        &mut notes,
    )?;
    let l = layout(&def, &Kconfig::new());
    verify(&tree.root, &l, 0)?;
    verify_summary(&tree.summary, &l)?;
    Ok(PaholeStruct {
        def,
        layout: l,
        line: tree.root.open_line,
        notes,
    })
}

// ---------------------------------------------------------------------------
// Physical lines to logical lines.

struct Logical {
    line: usize,
    text: String,
}

/// Printable, ASCII, at most 60 characters: safe to put in a message.
fn clip(s: &str) -> String {
    let mut out = String::new();
    for (n, c) in s.chars().enumerate() {
        if n == 60 {
            out.push_str("...");
            break;
        }
        if c == '\t' {
            out.push(' ');
        } else if c.is_ascii() && !c.is_ascii_control() {
            out.push(c);
        } else {
            out.extend(c.escape_default());
        }
    }
    out
}

fn garbled(line: usize, text: &str, why: impl Into<String>) -> PaholeError {
    PaholeError::Garbled {
        line,
        text: clip(text),
        why: why.into(),
    }
}

/// Whether `t` is a complete pahole line rather than the start of one a
/// mailer wrapped.
fn complete(t: &str) -> bool {
    if t.starts_with("/*") {
        return t.len() >= 4 && t.ends_with("*/");
    }
    if let Some(open) = t.rfind("/*") {
        return t[open..].len() >= 4 && t.ends_with("*/");
    }
    t.ends_with('{') || t.ends_with(';')
}

fn is_offset_comment(t: &str) -> bool {
    let Some(inner) = t.strip_prefix("/*").and_then(|s| s.strip_suffix("*/")) else {
        return false;
    };
    let words: Vec<&str> = inner.split_whitespace().collect();
    words.len() == 2
        && words.iter().all(|w| {
            w.split(':')
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        })
}

fn logical_lines(text: &str) -> Result<Vec<Logical>, PaholeError> {
    let phys: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < phys.len() {
        let (line, first) = phys[i];
        i += 1;
        if first.is_empty() {
            continue;
        }
        let mut acc = first.to_owned();
        let mut joined = 1;
        while !complete(&acc) {
            match phys.get(i) {
                None => {
                    return Err(PaholeError::Truncated {
                        line,
                        what: format!("the input ends inside `{}`", clip(&acc)),
                    });
                }
                Some((_, "")) => {
                    return Err(garbled(
                        line,
                        &acc,
                        "does not end in `;`, `{` or `*/` (an unfinished line)",
                    ));
                }
                Some((_, next)) => {
                    if joined == MAX_WRAP {
                        return Err(garbled(
                            line,
                            &acc,
                            format!("no `;`, `{{` or `*/` within {MAX_WRAP} lines"),
                        ));
                    }
                    acc.push(' ');
                    acc.push_str(next);
                    joined += 1;
                    i += 1;
                }
            }
        }
        // A mailer may also push the offset comment onto the next line.
        if acc.ends_with(';')
            && !acc.contains("/*")
            && !acc.starts_with("};")
            && let Some((_, next)) = phys.get(i)
            && is_offset_comment(next)
        {
            acc.push(' ');
            acc.push_str(next);
            i += 1;
        }
        out.push(Logical { line, text: acc });
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Logical lines to a tree of aggregates.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SummaryItem {
    Size {
        size: u64,
        cachelines: u64,
        members: u64,
    },
    Sum {
        sum_members: u64,
        holes: Option<(u64, u64)>,
    },
    Padding(u64),
    Paddings(u64, u64),
    Forced {
        n: u64,
        holes: Option<(u64, u64)>,
    },
    LastCacheline(u64),
}

enum CommentKind {
    Hole(u64),
    StructPadding(u64),
    Cacheline,
    Summary(SummaryItem),
}

#[derive(Debug)]
enum Body {
    Opaque {
        type_text: String,
        declarator: String,
    },
    Agg {
        frame: Frame,
        type_aligned: Option<u64>,
    },
}

#[derive(Debug)]
struct PMember {
    name: Option<String>,
    /// The member line (for an aggregate, its closing line).
    line: usize,
    aligned: Option<u64>,
    /// Offset from the outermost struct, as printed.
    offset: u64,
    size: u64,
    body: Body,
    hole: Option<(usize, u64)>,
    padding: Option<(usize, u64)>,
}

#[derive(Debug)]
struct Frame {
    kind: AggKind,
    tag: Option<String>,
    open_line: usize,
    members: Vec<PMember>,
}

struct Tree {
    root: Frame,
    root_aligned: Option<u64>,
    close_line: usize,
    summary: Vec<(usize, SummaryItem)>,
}

fn parse_number(line: usize, text: &str, s: &str) -> Result<u64, PaholeError> {
    let s = s.trim();
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(garbled(
            line,
            text,
            format!("`{}` is not a number", clip(s)),
        ));
    }
    match s.parse::<u64>() {
        Ok(n) if n <= u64::from(u32::MAX) => Ok(n),
        _ => Err(garbled(line, text, format!("`{}` is too large", clip(s)))),
    }
}

/// "key: N, key: N" with exactly these keys in this order.
fn parse_fields(line: usize, text: &str, s: &str, keys: &[&str]) -> Result<Vec<u64>, PaholeError> {
    let parts: Vec<&str> = s.split(',').map(str::trim).collect();
    if parts.len() != keys.len() {
        return Err(garbled(line, text, format!("expected {}", keys.join(", "))));
    }
    parts
        .iter()
        .zip(keys)
        .map(|(part, key)| {
            let value = part
                .strip_prefix(key)
                .and_then(|r| r.strip_prefix(':'))
                .ok_or_else(|| garbled(line, text, format!("expected `{key}: N`")))?;
            parse_number(line, text, value)
        })
        .collect()
}

fn bitfields(line: usize) -> PaholeError {
    PaholeError::Unsupported {
        line,
        what: "bitfields".into(),
    }
}

fn classify_comment(line: usize, text: &str) -> Result<CommentKind, PaholeError> {
    let inner = text[2..text.len() - 2].trim();
    if let Some(rest) = inner.strip_prefix("XXX last struct has ") {
        let n = rest
            .strip_suffix(" bytes of padding")
            .or_else(|| rest.strip_suffix(" byte of padding"))
            .ok_or_else(|| {
                garbled(
                    line,
                    text,
                    "expected `XXX last struct has N bytes of padding`",
                )
            })?;
        return Ok(CommentKind::StructPadding(parse_number(line, text, n)?));
    }
    if let Some(rest) = inner.strip_prefix("XXX ") {
        if rest.contains(" bit hole") || rest.contains(" bits hole") {
            return Err(bitfields(line));
        }
        let n = rest
            .strip_suffix(" bytes hole, try to pack")
            .or_else(|| rest.strip_suffix(" byte hole, try to pack"))
            .ok_or_else(|| garbled(line, text, "expected `XXX N bytes hole, try to pack`"))?;
        return Ok(CommentKind::Hole(parse_number(line, text, n)?));
    }
    if let Some(rest) = inner
        .strip_prefix("--- cacheline ")
        .and_then(|r| r.strip_suffix(" ---"))
    {
        let (n, rest) = rest.split_once(" boundary (").ok_or_else(|| {
            garbled(
                line,
                text,
                "expected `--- cacheline N boundary (M bytes) ---`",
            )
        })?;
        let (m, _) = rest
            .split_once(" bytes)")
            .ok_or_else(|| garbled(line, text, "expected `(M bytes)`"))?;
        let (n, m) = (parse_number(line, text, n)?, parse_number(line, text, m)?);
        if n.checked_mul(64) != Some(m) {
            return Err(PaholeError::OffsetsDontAddUp {
                line,
                why: format!("cacheline {n} does not start at {m} bytes"),
            });
        }
        return Ok(CommentKind::Cacheline);
    }
    if inner.starts_with("sum bitfield members") || inner.starts_with("bit_padding") {
        return Err(bitfields(line));
    }
    if inner.starts_with("BRAIN FART ALERT") {
        return Err(PaholeError::OffsetsDontAddUp {
            line,
            why: "pahole itself could not account for every byte".into(),
        });
    }
    let item = if let Some(rest) = inner.strip_prefix("size: ") {
        let rest = format!("size: {rest}");
        let rest = match rest.split_once(", static members") {
            Some((head, _)) => head.to_owned(),
            None => rest,
        };
        let v = parse_fields(line, text, &rest, &["size", "cachelines", "members"])?;
        SummaryItem::Size {
            size: v[0],
            cachelines: v[1],
            members: v[2],
        }
    } else if inner.starts_with("sum members: ") {
        if inner.contains(',') {
            let v = parse_fields(line, text, inner, &["sum members", "holes", "sum holes"])?;
            SummaryItem::Sum {
                sum_members: v[0],
                holes: Some((v[1], v[2])),
            }
        } else {
            let v = parse_fields(line, text, inner, &["sum members"])?;
            SummaryItem::Sum {
                sum_members: v[0],
                holes: None,
            }
        }
    } else if inner.starts_with("padding: ") {
        SummaryItem::Padding(parse_fields(line, text, inner, &["padding"])?[0])
    } else if inner.starts_with("paddings: ") {
        let v = parse_fields(line, text, inner, &["paddings", "sum paddings"])?;
        SummaryItem::Paddings(v[0], v[1])
    } else if inner.starts_with("forced alignments: ") {
        if inner.contains(',') {
            let keys = ["forced alignments", "forced holes", "sum forced holes"];
            let v = parse_fields(line, text, inner, &keys)?;
            SummaryItem::Forced {
                n: v[0],
                holes: Some((v[1], v[2])),
            }
        } else {
            let v = parse_fields(line, text, inner, &["forced alignments"])?;
            SummaryItem::Forced {
                n: v[0],
                holes: None,
            }
        }
    } else if let Some(rest) = inner.strip_prefix("last cacheline: ") {
        let n = rest
            .strip_suffix(" bytes")
            .ok_or_else(|| garbled(line, text, "expected `last cacheline: N bytes`"))?;
        SummaryItem::LastCacheline(parse_number(line, text, n)?)
    } else {
        return Err(garbled(line, text, "not a comment pahole prints"));
    };
    Ok(CommentKind::Summary(item))
}

/// Split `decl; /* off size */` into the part before `;` and the numbers.
fn split_offset_comment(
    line: usize,
    text: &str,
) -> Result<(String, Option<(u64, u64)>), PaholeError> {
    let (decl, comment) = match text.rfind("/*") {
        Some(at) => (text[..at].trim_end(), Some(&text[at..])),
        None => (text, None),
    };
    let Some(decl) = decl.strip_suffix(';') else {
        return Err(garbled(
            line,
            text,
            "expected `;` before the offset comment",
        ));
    };
    let numbers = match comment {
        None => None,
        Some(c) => {
            let inner = c
                .strip_prefix("/*")
                .and_then(|c| c.strip_suffix("*/"))
                .ok_or_else(|| garbled(line, text, "unterminated comment"))?;
            if inner.contains(':') {
                return Err(bitfields(line));
            }
            let words: Vec<&str> = inner.split_whitespace().collect();
            if words.len() != 2 {
                return Err(garbled(line, text, "expected `/* offset size */`"));
            }
            Some((
                parse_number(line, text, words[0])?,
                parse_number(line, text, words[1])?,
            ))
        }
    };
    Ok((decl.trim_end().to_owned(), numbers))
}

enum Attr {
    Aligned(u64),
}

/// Parse one `__attribute__((...))` at the start of `s`; return it and the
/// rest.
fn parse_attribute<'a>(
    line: usize,
    text: &str,
    s: &'a str,
) -> Result<(Attr, &'a str), PaholeError> {
    let rest = s
        .strip_prefix("__attribute__")
        .map(str::trim_start)
        .and_then(|r| r.strip_prefix("(("))
        .ok_or_else(|| garbled(line, text, "malformed __attribute__"))?;
    // The attribute ends at the first `))` outside inner parentheses.
    let bytes = rest.as_bytes();
    let mut depth = 0u32;
    let mut end = None;
    for (i, &c) in bytes.iter().enumerate() {
        match c {
            b'(' => depth += 1,
            b')' if depth > 0 => depth -= 1,
            b')' if bytes.get(i + 1) == Some(&b')') => {
                end = Some(i);
                break;
            }
            b')' => {
                return Err(garbled(
                    line,
                    text,
                    "unbalanced parentheses in __attribute__",
                ));
            }
            _ => {}
        }
    }
    let end = end.ok_or_else(|| garbled(line, text, "unterminated __attribute__"))?;
    let content: String = rest[..end].chars().filter(|c| !c.is_whitespace()).collect();
    let tail = rest.get(end + 2..).unwrap_or("");
    if content == "__packed__" || content == "packed" {
        return Err(PaholeError::Unsupported {
            line,
            what: "packed structs".into(),
        });
    }
    let n = content
        .strip_prefix("__aligned__(")
        .or_else(|| content.strip_prefix("aligned("))
        .and_then(|c| c.strip_suffix(')'))
        .ok_or_else(|| PaholeError::Unsupported {
            line,
            what: format!("attribute `{}`", clip(&content)),
        })?;
    let n = parse_number(line, text, n)?;
    if !valid_align(n) {
        return Err(garbled(
            line,
            text,
            format!("alignment {n} is not a power of two up to 2^20"),
        ));
    }
    Ok((Attr::Aligned(n), tail))
}

/// Strip trailing `__attribute__((...))`s from a member declaration.
fn strip_member_attrs(
    line: usize,
    text: &str,
    decl: &str,
) -> Result<(String, Option<u64>), PaholeError> {
    let mut decl = decl.trim_end();
    let mut aligned = None;
    while decl.ends_with("))") {
        let Some(at) = decl.rfind("__attribute__") else {
            break;
        };
        let (Attr::Aligned(n), tail) = parse_attribute(line, text, &decl[at..])?;
        if !tail.trim().is_empty() {
            return Err(garbled(line, text, "text after __attribute__"));
        }
        aligned = Some(aligned.map_or(n, |a: u64| a.max(n)));
        decl = decl[..at].trim_end();
    }
    // A C declaration is identifiers, `*`, array bounds and function
    // pointer parentheses; anything else is a mangled line (or mangled
    // text a wrapped line picked up), not a type pahole would print.
    if let Some(bad) = decl
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || " \t_*[](),".contains(*c)))
    {
        return Err(garbled(
            line,
            text,
            format!("`{bad}` cannot appear in a C member declaration"),
        ));
    }
    Ok((decl.to_owned(), aligned))
}

fn decl_error(line: usize, text: &str, e: DeclError) -> PaholeError {
    match e {
        DeclError::Bitfield(_) => bitfields(line),
        other => garbled(line, text, other.to_string()),
    }
}

/// `} [attr] [name] [attr];`: type alignment, name, member alignment.
type Closing = (Option<u64>, Option<String>, Option<u64>);

fn parse_closing(line: usize, text: &str, between: &str) -> Result<Closing, PaholeError> {
    let mut rest = between.trim();
    let (mut before, mut name, mut after) = (None, None, None);
    while !rest.is_empty() {
        if rest.starts_with("__attribute__") {
            let (Attr::Aligned(n), tail) = parse_attribute(line, text, rest)?;
            if name.is_none() && before.is_none() {
                before = Some(n);
            } else {
                after = Some(after.map_or(n, |a: u64| a.max(n)));
            }
            rest = tail.trim_start();
        } else {
            let ident: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if ident.is_empty() || name.is_some() || ident.starts_with(|c: char| c.is_ascii_digit())
            {
                return Err(garbled(line, text, "expected `} [attributes] [name];`"));
            }
            rest = rest[ident.len()..].trim_start();
            name = Some(ident);
        }
    }
    Ok((before, name, after))
}

fn build_tree(lines: &[Logical], last_line: usize) -> Result<Tree, PaholeError> {
    let mut stack: Vec<Frame> = Vec::new();
    let mut done: Option<Tree> = None;
    let mut summary = Vec::new();
    for Logical { line, text } in lines {
        let (line, text) = (*line, text.as_str());
        if let Some(tree) = &done {
            if text.starts_with('}') {
                return Err(PaholeError::UnbalancedBraces {
                    line,
                    why: format!(
                        "`}}` after struct {} ended at line {}",
                        tree_name(&tree.root),
                        tree.close_line
                    ),
                });
            }
            return Err(garbled(
                line,
                text,
                format!(
                    "text after struct {} ended at line {} (give one struct)",
                    tree_name(&tree.root),
                    tree.close_line
                ),
            ));
        }
        if text.starts_with("/*") {
            let kind = classify_comment(line, text)?;
            let Some(frame) = stack.last_mut() else {
                return Err(garbled(line, text, "expected `struct NAME {` first"));
            };
            match kind {
                CommentKind::Cacheline => {}
                CommentKind::Hole(n) | CommentKind::StructPadding(n) => {
                    let is_hole = matches!(kind, CommentKind::Hole(_));
                    let Some(m) = frame.members.last_mut() else {
                        return Err(garbled(line, text, "comment before the first member"));
                    };
                    let slot = if is_hole { &mut m.hole } else { &mut m.padding };
                    if slot.is_some() {
                        return Err(garbled(line, text, "second such comment for one member"));
                    }
                    *slot = Some((line, n));
                }
                CommentKind::Summary(item) => {
                    if stack.len() != 1 {
                        return Err(garbled(
                            line,
                            text,
                            "summary comment inside a nested struct/union",
                        ));
                    }
                    summary.push((line, item));
                }
            }
        } else if text.starts_with('}') {
            let Some(frame) = stack.pop() else {
                return Err(PaholeError::UnbalancedBraces {
                    line,
                    why: "`}` before any `{`".into(),
                });
            };
            let (decl, numbers) = split_offset_comment(line, text)?;
            let (type_aligned, name, member_aligned) = parse_closing(line, text, &decl[1..])?;
            match stack.last_mut() {
                None => {
                    if numbers.is_some() || name.is_some() || member_aligned.is_some() {
                        return Err(PaholeError::UnbalancedBraces {
                            line,
                            why: format!(
                                "this closes a nested member, but only struct {} (line {}) is open",
                                tree_name(&frame),
                                frame.open_line
                            ),
                        });
                    }
                    done = Some(Tree {
                        root: frame,
                        root_aligned: type_aligned,
                        close_line: line,
                        summary: std::mem::take(&mut summary),
                    });
                }
                Some(parent) => {
                    let Some((offset, size)) = numbers else {
                        return Err(garbled(
                            line,
                            text,
                            "a nested struct/union needs `/* offset size */`",
                        ));
                    };
                    parent.members.push(PMember {
                        name,
                        line,
                        aligned: member_aligned,
                        offset,
                        size,
                        body: Body::Agg {
                            frame,
                            type_aligned,
                        },
                        hole: None,
                        padding: None,
                    });
                }
            }
        } else if let Some(head) = text.strip_suffix('{') {
            let words: Vec<&str> = head.split_whitespace().collect();
            let kind = match words.first() {
                Some(&"struct") => AggKind::Struct,
                Some(&"union") => AggKind::Union,
                _ => {
                    return Err(garbled(
                        line,
                        text,
                        "expected `struct [NAME] {` or `union [NAME] {`",
                    ));
                }
            };
            let tag = match words.len() {
                1 => None,
                2 if words[1]
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_') =>
                {
                    Some(words[1].to_owned())
                }
                _ => {
                    return Err(garbled(
                        line,
                        text,
                        "expected `struct [NAME] {` or `union [NAME] {`",
                    ));
                }
            };
            if stack.is_empty() && tag.is_none() {
                return Err(garbled(line, text, "the outermost struct needs a name"));
            }
            if stack.len() > MAX_DEPTH {
                return Err(PaholeError::Unsupported {
                    line,
                    what: format!("nesting deeper than {MAX_DEPTH}"),
                });
            }
            stack.push(Frame {
                kind,
                tag,
                open_line: line,
                members: Vec::new(),
            });
        } else {
            let Some(frame) = stack.last_mut() else {
                return Err(garbled(line, text, "expected `struct NAME {` first"));
            };
            let (decl, numbers) = split_offset_comment(line, text)?;
            let Some((offset, size)) = numbers else {
                return Err(garbled(line, text, "a member needs `/* offset size */`"));
            };
            if decl.starts_with("static ") {
                return Err(PaholeError::Unsupported {
                    line,
                    what: "static members".into(),
                });
            }
            let (decl, aligned) = strip_member_attrs(line, text, &decl)?;
            let (type_text, declarator, name) =
                split_decl(&decl).map_err(|e| decl_error(line, text, e))?;
            frame.members.push(PMember {
                name: Some(name),
                line,
                aligned,
                offset,
                size,
                body: Body::Opaque {
                    type_text,
                    declarator,
                },
                hole: None,
                padding: None,
            });
        }
    }
    if let Some(tree) = done {
        return Ok(tree);
    }
    match stack.first() {
        None => Err(PaholeError::Truncated {
            line: last_line,
            what: "no `struct NAME {` found".into(),
        }),
        Some(root) => {
            let open = stack.last().map_or(root.open_line, |f| f.open_line);
            Err(PaholeError::Truncated {
                line: last_line,
                what: format!(
                    "the input ends inside struct {} (the `{{` at line {open} is never closed)",
                    tree_name(root)
                ),
            })
        }
    }
}

fn tree_name(f: &Frame) -> &str {
    f.tag.as_deref().unwrap_or("<anonymous>")
}

// ---------------------------------------------------------------------------
// Alignment inference.

/// The powers of two `p` (up to [`MAX_ALIGN`]) with `align_up(from, p) ==
/// to`, as `(smallest, largest)`; `None` if there are none.
fn reachable(from: u64, to: u64) -> Option<(u64, u64)> {
    if to < from {
        return None;
    }
    let hi = if to == 0 {
        MAX_ALIGN
    } else {
        (1u64 << to.trailing_zeros()).min(MAX_ALIGN)
    };
    let lo = if to == from {
        1
    } else {
        (to - from + 1).checked_next_power_of_two()?
    };
    (lo <= hi).then_some((lo, hi))
}

fn bad(line: usize, why: String) -> PaholeError {
    PaholeError::OffsetsDontAddUp { line, why }
}

struct Slot<'a> {
    member: Member,
    /// The alignment the offsets allow, `(lo, hi)`.
    range: (u64, u64),
    /// Effective alignment chosen.
    eff: u64,
    /// Natural alignment guessed from the size (opaque members only).
    guess: Option<u64>,
    /// For an inline aggregate: its frame, to infer it again under a cap.
    /// `(frame, type alignment, cap, offset, size)`.
    agg: Option<(&'a Frame, Option<u64>, u64, u64, u64)>,
    line: usize,
}

fn member_name(m: &Member) -> String {
    m.name.clone().unwrap_or_else(|| "<anonymous>".into())
}

/// Rebuild the description of `frame`, which starts at `base` and is
/// `size` bytes (if known), inferring alignments (see the module header).
/// No alignment that was guessed rather than printed may exceed `cap`.
fn infer(
    frame: &Frame,
    base: u64,
    size: Option<u64>,
    type_aligned: Option<u64>,
    close_line: usize,
    cap: u64,
    notes: &mut Vec<String>,
) -> Result<StructDef, PaholeError> {
    let mut slots: Vec<Slot<'_>> = Vec::new();
    let mut end = 0u64;
    for pm in &frame.members {
        let rel = pm.offset.checked_sub(base).ok_or_else(|| {
            bad(
                pm.line,
                format!("offset {} is before its struct/union at {base}", pm.offset),
            )
        })?;
        let label = pm.name.as_deref().unwrap_or("<anonymous>");
        let range = match frame.kind {
            AggKind::Union => {
                if rel != 0 {
                    return Err(bad(
                        pm.line,
                        format!(
                            "union member at {} but the union starts at {base}",
                            pm.offset
                        ),
                    ));
                }
                (1, MAX_ALIGN)
            }
            AggKind::Struct => {
                if rel < end {
                    return Err(bad(
                        pm.line,
                        format!(
                            "`{label}` at {} overlaps the member before, which ends at {}",
                            pm.offset,
                            base + end
                        ),
                    ));
                }
                reachable(end, rel).ok_or_else(|| {
                    bad(
                        pm.line,
                        format!(
                            "no alignment puts `{label}` at {} after the member ending at {}",
                            pm.offset,
                            base + end
                        ),
                    )
                })?
            }
        };
        end = match frame.kind {
            AggKind::Struct => rel.saturating_add(pm.size),
            AggKind::Union => end.max(pm.size),
        };
        let attr = pm.aligned.unwrap_or(1);
        if attr > range.1 {
            return Err(bad(
                pm.line,
                format!(
                    "`{label}` is __aligned__({attr}) but sits at offset {}",
                    pm.offset
                ),
            ));
        }
        let limit = cap.min(range.1);
        let slot = match &pm.body {
            Body::Opaque {
                type_text,
                declarator,
            } => {
                let guess = natural_align_for_size(pm.size);
                let member = Member {
                    name: pm.name.clone(),
                    ty: MemberType::Opaque(Opaque {
                        type_text: type_text.clone(),
                        declarator: declarator.clone(),
                        size: pm.size,
                        align: guess,
                        inner_padding: pm.padding.map_or(0, |p| p.1),
                    }),
                    aligned: pm.aligned,
                    cond: Default::default(),
                };
                let mut eff = guess.max(attr).min(limit.max(attr));
                if eff < range.0 {
                    eff = range.0;
                    notes.push(format!(
                        "line {}: `{label}` must be {eff}-byte aligned to sit at offset {}",
                        pm.line, pm.offset
                    ));
                }
                Slot {
                    member,
                    range,
                    eff,
                    guess: Some(guess),
                    agg: None,
                    line: pm.line,
                }
            }
            Body::Agg {
                frame,
                type_aligned,
            } => {
                let (child, eff) = infer_member_agg(frame, *type_aligned, pm, limit, range, notes)?;
                let mut member = Member::aggregate(child, pm.name.as_deref());
                member.aligned = pm.aligned;
                Slot {
                    member,
                    range,
                    eff,
                    guess: None,
                    agg: Some((frame, *type_aligned, limit, pm.offset, pm.size)),
                    line: pm.line,
                }
            }
        };
        if slot.eff > cap.max(attr) || slot.eff < range.0 || slot.eff > range.1 {
            return Err(bad(
                pm.line,
                format!(
                    "`{label}` cannot be aligned to sit at offset {} (after {})",
                    pm.offset,
                    base + end
                ),
            ));
        }
        slots.push(slot);
    }

    // The tail: size must be the members' end rounded up to the alignment.
    let type_attr = type_aligned.unwrap_or(1);
    let size = size.unwrap_or_else(|| {
        let a = slots
            .iter()
            .map(|s| s.eff)
            .max()
            .unwrap_or(1)
            .max(type_attr);
        align_up(end, a)
    });
    if size < end {
        return Err(bad(
            close_line,
            format!("members end at {} but the size is {size}", base + end),
        ));
    }
    let (lo, hi) = reachable(end, size).ok_or_else(|| {
        bad(
            close_line,
            format!("size {size} is not the members' end {end} rounded up to an alignment"),
        )
    })?;
    if type_attr > hi {
        return Err(bad(
            close_line,
            format!("`__aligned__({type_attr})` contradicts size {size}"),
        ));
    }
    for s in slots.iter_mut().filter(|s| s.eff > hi) {
        let attr = s.member.aligned.unwrap_or(1);
        if attr > hi || s.range.0 > hi {
            return Err(bad(
                s.line,
                format!(
                    "`{}` is {}-byte aligned, which contradicts size {size} (line {close_line})",
                    member_name(&s.member),
                    s.eff
                ),
            ));
        }
        if let Some((frame, ta, limit, offset, agg_size)) = s.agg {
            // Infer the inline aggregate again with its guesses capped.
            let mut scratch = Vec::new();
            let child = infer(
                frame,
                offset,
                Some(agg_size),
                ta,
                s.line,
                limit.min(hi),
                &mut scratch,
            )?;
            let a = layout(&child, &Kconfig::new()).align.max(attr);
            if a > hi {
                return Err(bad(
                    s.line,
                    format!(
                        "`{}` cannot be aligned to fit size {size}",
                        member_name(&s.member)
                    ),
                ));
            }
            notes.extend(scratch);
            s.member.ty = MemberType::Aggregate(child);
            s.eff = a;
        } else {
            s.eff = hi;
        }
    }
    let mut min_align = 1;
    let align = slots
        .iter()
        .map(|s| s.eff)
        .max()
        .unwrap_or(1)
        .max(type_attr);
    if align < lo {
        if lo > cap {
            return Err(bad(
                close_line,
                format!("size {size} needs a {lo}-byte alignment the members cannot have"),
            ));
        }
        min_align = lo;
        notes.push(format!(
            "line {close_line}: {} {} must be {lo}-byte aligned to be {size} bytes",
            frame.kind.keyword(),
            frame.tag.as_deref().unwrap_or("<anonymous>")
        ));
    }

    let mut def = match frame.kind {
        AggKind::Struct => StructDef::new_struct(frame.tag.as_deref()),
        AggKind::Union => StructDef::new_union(frame.tag.as_deref()),
    };
    def.aligned = type_aligned;
    def.min_align = min_align;
    for mut s in slots {
        let name = member_name(&s.member);
        let attr = s.member.aligned.unwrap_or(1);
        match &mut s.member.ty {
            MemberType::Opaque(o) => {
                let guess = s.guess.unwrap_or(1);
                // Store the natural alignment that, with the attribute,
                // gives the chosen effective one.
                o.align = if attr >= s.eff {
                    guess.min(s.eff)
                } else {
                    s.eff
                };
                if o.align < guess {
                    notes.push(format!(
                        "line {}: `{name}` is only {}-byte aligned (its size suggests {guess})",
                        s.line, o.align
                    ));
                }
            }
            MemberType::Aggregate(child) => {
                let natural = layout(child, &Kconfig::new()).align;
                if natural.max(attr) < s.eff {
                    child.min_align = child.min_align.max(s.eff);
                }
            }
        }
        def.members.push(s.member);
    }
    Ok(def)
}

/// Infer an inline aggregate member, capping its guessed alignments so it
/// can sit where pahole shows it. Return: the description and its
/// effective alignment (attribute included).
fn infer_member_agg(
    frame: &Frame,
    type_aligned: Option<u64>,
    pm: &PMember,
    limit: u64,
    range: (u64, u64),
    notes: &mut Vec<String>,
) -> Result<(StructDef, u64), PaholeError> {
    let attr = pm.aligned.unwrap_or(1);
    let mut scratch = Vec::new();
    let mut child = infer(
        frame,
        pm.offset,
        Some(pm.size),
        type_aligned,
        pm.line,
        MAX_ALIGN,
        &mut scratch,
    )?;
    let mut eff = layout(&child, &Kconfig::new()).align.max(attr);
    if eff > limit.max(attr) {
        scratch.clear();
        child = infer(
            frame,
            pm.offset,
            Some(pm.size),
            type_aligned,
            pm.line,
            limit,
            &mut scratch,
        )?;
        eff = layout(&child, &Kconfig::new()).align.max(attr);
    }
    if eff < range.0 {
        child.min_align = child.min_align.max(range.0);
        scratch.push(format!(
            "line {}: `{}` must be {}-byte aligned to sit at offset {}",
            pm.line,
            pm.name.as_deref().unwrap_or("<anonymous>"),
            range.0,
            pm.offset
        ));
        eff = range.0;
    }
    notes.extend(scratch);
    Ok((child, eff))
}

// ---------------------------------------------------------------------------
// Verification against what pahole printed.

fn verify(frame: &Frame, l: &Layout, base: u64) -> Result<(), PaholeError> {
    if frame.members.len() != l.members.len() {
        return Err(bad(
            frame.open_line,
            "member count changed while re-laying out".into(),
        ));
    }
    for (pm, m) in frame.members.iter().zip(&l.members) {
        let offset = base + m.offset;
        if offset != pm.offset || m.size != pm.size {
            return Err(bad(
                pm.line,
                format!(
                    "pahole says offset {} size {}, the layout gives {offset} {}",
                    pm.offset, pm.size, m.size
                ),
            ));
        }
        if let Some((line, hole)) = pm.hole
            && hole != m.hole
        {
            return Err(bad(
                line,
                format!(
                    "pahole says a {hole}-byte hole, the offsets leave {}",
                    m.hole
                ),
            ));
        }
        if let (Some((line, p)), MemberBody::Aggregate(child)) = (pm.padding, &m.body)
            && child.kind == AggKind::Struct
            && p != child.padding
        {
            return Err(bad(
                line,
                format!(
                    "pahole says {p} bytes of padding, the struct has {}",
                    child.padding
                ),
            ));
        }
        if let (Body::Agg { frame, .. }, MemberBody::Aggregate(child)) = (&pm.body, &m.body) {
            verify(frame, child, offset)?;
        }
    }
    Ok(())
}

fn verify_summary(items: &[(usize, SummaryItem)], l: &Layout) -> Result<(), PaholeError> {
    let s = l.summary();
    for &(line, item) in items {
        let (said, got) = match item {
            SummaryItem::Size {
                size,
                cachelines,
                members,
            } => (
                format!("size: {size}, cachelines: {cachelines}, members: {members}"),
                format!(
                    "size: {}, cachelines: {}, members: {}",
                    s.size, s.cachelines, s.members
                ),
            ),
            SummaryItem::Sum { sum_members, holes } => (
                format!(
                    "sum members: {sum_members}, holes: {:?}",
                    holes.unwrap_or((0, 0))
                ),
                format!(
                    "sum members: {}, holes: {:?}",
                    s.sum_members,
                    (s.holes, s.sum_holes)
                ),
            ),
            SummaryItem::Padding(p) => (format!("padding: {p}"), format!("padding: {}", s.padding)),
            SummaryItem::Paddings(n, sum) => (
                format!("paddings: {n}, sum paddings: {sum}"),
                format!("paddings: {}, sum paddings: {}", s.paddings, s.sum_paddings),
            ),
            SummaryItem::Forced { n, holes } => (
                format!(
                    "forced alignments: {n}, forced holes: {:?}",
                    holes.unwrap_or((0, 0))
                ),
                format!(
                    "forced alignments: {}, forced holes: {:?}",
                    s.forced_alignments,
                    (s.forced_holes, s.sum_forced_holes)
                ),
            ),
            SummaryItem::LastCacheline(n) => (
                format!("last cacheline: {n}"),
                format!("last cacheline: {}", s.last_cacheline),
            ),
        };
        if said != got {
            return Err(bad(
                line,
                format!("pahole says `{said}`, the members give `{got}`"),
            ));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Edits.

/// An error's problem without its line number (for command-line arguments).
fn problem(e: &PaholeError) -> String {
    match e {
        PaholeError::Garbled { why, .. } => why.clone(),
        PaholeError::Unsupported { what, .. } => format!("not supported: {what}"),
        other => other.to_string(),
    }
}

/// One `--add-field 'DECL:SIZE[:ALIGN]' [--after MEMBER]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldEdit {
    /// The argument as given.
    pub spec: String,
    /// The member to add.
    pub member: Member,
    /// Insert after this member (searched at every nesting level); `None`:
    /// at the end of the struct.
    pub after: Option<String>,
}

/// Largest `--add-field` SIZE or ALIGN: `KMALLOC_MAX_SIZE` on x86_64
/// (include/linux/slab.h: `1 << (MAX_PAGE_ORDER + PAGE_SHIFT)`, 4 MiB
/// with MAX_PAGE_ORDER 10): no slab object, so no struct in a slab
/// cache, is larger.
pub const MAX_FIELD_BYTES: u64 = 4 << 20;

impl FieldEdit {
    /// Parse `DECL:SIZE[:ALIGN]`; DECL may end in `__attribute__((__aligned__(N)))`
    /// and `;`. Without ALIGN the natural alignment is guessed from SIZE as
    /// for a scalar or pointer.
    pub fn parse(spec: &str, after: Option<&str>) -> Result<FieldEdit, PaholeError> {
        let fail = |why: String| PaholeError::BadFieldSpec {
            spec: clip(spec),
            why,
        };
        let parts: Vec<&str> = spec.split(':').collect();
        let (decl, size, align) = match parts.as_slice() {
            [d, s] => (*d, *s, None),
            [d, s, a] => (*d, *s, Some(*a)),
            _ => return Err(fail("expected DECL:SIZE or DECL:SIZE:ALIGN".into())),
        };
        let number = |what: &str, s: &str| {
            let s = s.trim();
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(fail(format!("{what} `{}` is not a number", clip(s))));
            }
            s.parse::<u64>()
                .ok()
                .filter(|&n| n <= MAX_FIELD_BYTES)
                .ok_or_else(|| {
                    fail(format!(
                        "{what} {} is over the limit of {MAX_FIELD_BYTES} bytes",
                        clip(s)
                    ))
                })
        };
        let size = number("SIZE", size)?;
        let align = match align {
            Some(a) => {
                let a = number("ALIGN", a)?;
                if !valid_align(a) {
                    return Err(fail(format!("ALIGN {a} is not a power of two up to 2^20")));
                }
                a
            }
            None => natural_align_for_size(size),
        };
        let decl = decl.trim().trim_end_matches(';');
        let (decl, aligned) = strip_member_attrs(0, spec, decl).map_err(|e| fail(problem(&e)))?;
        let mut member = Member::field(&decl, size, align).map_err(|e| fail(e.to_string()))?;
        member.aligned = aligned;
        if let Some(a) = after
            && a.trim().is_empty()
        {
            return Err(fail("--after needs a member name".into()));
        }
        Ok(FieldEdit {
            spec: spec.to_owned(),
            member,
            after: after.map(|a| a.trim().to_owned()),
        })
    }

    /// The new member's name.
    pub fn name(&self) -> &str {
        self.member.name.as_deref().unwrap_or("")
    }

    /// Insert the member into `def`; `line` is the struct's opening line,
    /// for errors.
    pub fn apply(&self, def: &mut StructDef, line: usize) -> Result<(), PaholeError> {
        if def.has_member(self.name()) {
            return Err(PaholeError::BadFieldSpec {
                spec: clip(&self.spec),
                why: format!("struct already has a member `{}`", self.name()),
            });
        }
        let Some(after) = &self.after else {
            def.members.push(self.member.clone());
            return Ok(());
        };
        let known = def
            .members
            .iter()
            .filter_map(|m| m.name.as_deref())
            .collect::<Vec<_>>()
            .join(" ");
        let strukt = def.name.clone().unwrap_or_else(|| "<anonymous>".into());
        match def.find_member_mut(after) {
            Some((container, i)) => {
                container.members.insert(i + 1, self.member.clone());
                Ok(())
            }
            None => Err(PaholeError::UnknownMember {
                line,
                strukt,
                member: after.clone(),
                known,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reachable_alignments() {
        assert_eq!(reachable(44, 48), Some((8, 16)));
        assert_eq!(reachable(132, 136), Some((8, 8)));
        assert_eq!(reachable(128, 128), Some((1, 128)));
        assert_eq!(reachable(0, 0), Some((1, MAX_ALIGN)));
        assert_eq!(reachable(176, 192), Some((32, 64)));
        assert_eq!(reachable(10, 12), Some((4, 4)));
        assert_eq!(reachable(10, 14), None);
        assert_eq!(reachable(12, 10), None);
    }

    #[test]
    fn field_specs() {
        let e = FieldEdit::parse("struct pfnmap_track_ctx *pfnmap_track_ctx:8", Some("x")).unwrap();
        assert_eq!(e.name(), "pfnmap_track_ctx");
        let e = FieldEdit::parse("u64 big __attribute__((__aligned__(64))):8:8", None).unwrap();
        assert_eq!(e.member.aligned, Some(64));
        for bad in ["x", "int x:y", "int x:8:3", "int x:8:8:8", ":8", "int:4"] {
            assert!(
                matches!(
                    FieldEdit::parse(bad, None),
                    Err(PaholeError::BadFieldSpec { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn hidden_alignment_is_inferred_from_holes() {
        let text = "struct t {\n\tint a; /* 0 4 */\n\n\t/* XXX 60 bytes hole, try to pack */\n\n\
                    \tstruct cl b; /* 64 8 */\n\n\t/* size: 128, cachelines: 2, members: 2 */\n\
                    \t/* sum members: 12, holes: 1, sum holes: 60 */\n\t/* padding: 56 */\n};\n";
        let p = parse(text).unwrap();
        assert_eq!(p.layout.size, 128);
        assert_eq!(p.notes.len(), 1, "{:?}", p.notes);
    }

    #[test]
    fn small_alignment_is_inferred_from_offsets() {
        // struct two_ints after an int: 8 bytes but 4-aligned.
        let text = "struct t {\n\tint a; /* 0 4 */\n\tstruct two_ints b; /* 4 8 */\n\n\
                    \t/* size: 12, cachelines: 1, members: 2 */\n\t/* last cacheline: 12 bytes */\n};\n";
        let p = parse(text).unwrap();
        assert_eq!((p.layout.size, p.layout.align), (12, 4));
    }
}
