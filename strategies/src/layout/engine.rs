//! The C struct layout engine: a struct description ([`StructDef`]) with
//! per-member Kconfig conditions, laid out as gcc lays it out on x86_64
//! (System V psABI) into a [`Layout`] with offsets, holes and padding.
//!
//! Rules (psABI 3.1.2, gcc's "aligned" attribute): each member starts at the
//! next multiple of its alignment, which is the larger of its type's natural
//! alignment and its own `__aligned__(N)` (without `packed`, the attribute
//! only raises alignment); union members all start at 0; an aggregate's
//! alignment is the largest member alignment, raised by a struct-level
//! `__aligned__(N)`; its size is rounded up to that alignment (tail padding).
//! Zero-size members (GNU C empty structs such as `struct vm_userfaultfd_ctx
//! {}` without `CONFIG_USERFAULTFD`) take no space and align to 1.
//! `__randomize_layout` is treated as a no-op (`CONFIG_RANDSTRUCT` off).
//!
//! Descriptions are plain data; laying out is a pure function. Invariant of
//! a [`Layout`]: struct members never overlap and appear in declaration
//! order, every offset is a multiple of the member's alignment, and
//! `size` is a multiple of `align` and at least the members' end.

use std::collections::BTreeSet;
use std::fmt;

use crate::slab::align_up;

/// Whether an aggregate is a `struct` or a `union`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AggKind {
    /// Members one after the other.
    Struct,
    /// Members overlaid at offset 0.
    Union,
}

impl AggKind {
    /// The C keyword.
    pub const fn keyword(self) -> &'static str {
        match self {
            AggKind::Struct => "struct",
            AggKind::Union => "union",
        }
    }
}

/// A kernel configuration: the set of enabled symbols (without the
/// `CONFIG_` prefix). Conditions name symbols; anything not in the set is
/// off.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Kconfig {
    enabled: BTreeSet<String>,
}

impl Kconfig {
    /// Everything off.
    pub fn new() -> Self {
        Kconfig::default()
    }

    /// Turn `symbol` on or off.
    pub fn set(&mut self, symbol: &str, on: bool) {
        if on {
            self.enabled.insert(symbol.to_owned());
        } else {
            self.enabled.remove(symbol);
        }
    }

    /// The same configuration with `symbol` on.
    pub fn with(mut self, symbol: &str) -> Self {
        self.set(symbol, true);
        self
    }

    /// Whether `symbol` is on.
    pub fn is_enabled(&self, symbol: &str) -> bool {
        self.enabled.contains(symbol)
    }

    /// The enabled symbols, sorted.
    pub fn enabled(&self) -> impl Iterator<Item = &str> {
        self.enabled.iter().map(String::as_str)
    }
}

/// When a member exists: a conjunction of `#ifdef`/`#ifndef` tests, as
/// nested preprocessor conditionals read. Empty means always.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Cond {
    /// `(symbol, wanted)` pairs that must all hold.
    all: Vec<(String, bool)>,
}

impl Cond {
    /// Always present.
    pub fn always() -> Self {
        Cond::default()
    }

    /// Present when `symbol` is on (`#ifdef CONFIG_symbol`).
    pub fn on(symbol: &str) -> Self {
        Cond::always().and_on(symbol)
    }

    /// Present when `symbol` is off (`#ifndef`).
    pub fn off(symbol: &str) -> Self {
        Cond::always().and_off(symbol)
    }

    /// Also require `symbol` on.
    pub fn and_on(mut self, symbol: &str) -> Self {
        self.all.push((symbol.to_owned(), true));
        self
    }

    /// Also require `symbol` off.
    pub fn and_off(mut self, symbol: &str) -> Self {
        self.all.push((symbol.to_owned(), false));
        self
    }

    /// Whether the member exists under `cfg`.
    pub fn holds(&self, cfg: &Kconfig) -> bool {
        self.all.iter().all(|(s, want)| cfg.is_enabled(s) == *want)
    }

    /// Whether there is no condition.
    pub fn is_always(&self) -> bool {
        self.all.is_empty()
    }
}

impl fmt::Display for Cond {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.all.is_empty() {
            return f.write_str("always");
        }
        for (i, (sym, want)) in self.all.iter().enumerate() {
            if i > 0 {
                f.write_str(" && ")?;
            }
            let bang = if *want { "" } else { "!" };
            // Symbols the headers test directly (`__HAVE_PFNMAP_TRACKING`)
            // are not Kconfig options.
            if sym.starts_with("__") {
                write!(f, "{bang}{sym}")?;
            } else {
                write!(f, "{bang}CONFIG_{sym}")?;
            }
        }
        Ok(())
    }
}

/// A member whose type the engine knows only by size and alignment: a
/// scalar, a pointer, an array or a named struct/union.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opaque {
    /// The type as pahole prints it (`struct mm_struct *`, `long unsigned int`).
    pub type_text: String,
    /// What follows the type: the name, with any array suffix (`slots[64]`).
    pub declarator: String,
    /// `sizeof`.
    pub size: u64,
    /// The type's natural alignment (a power of two).
    pub align: u64,
    /// Tail padding inside the member's own (named) struct type, which pahole
    /// reports as "XXX last struct has N bytes of padding"; 0 otherwise.
    pub inner_padding: u64,
}

/// What a member is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberType {
    /// A type known by size and alignment.
    Opaque(Opaque),
    /// An inline (usually anonymous) struct or union, laid out recursively.
    Aggregate(StructDef),
}

/// One member of a struct or union.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The member's name; `None` for an anonymous struct/union member.
    pub name: Option<String>,
    /// Its type.
    pub ty: MemberType,
    /// The member's own `__attribute__((__aligned__(N)))`.
    pub aligned: Option<u64>,
    /// When the member exists.
    pub cond: Cond,
}

/// A struct or union description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StructDef {
    /// Struct or union.
    pub kind: AggKind,
    /// The type's tag (`vm_area_struct`); `None` when anonymous.
    pub name: Option<String>,
    /// A type-level `__attribute__((__aligned__(N)))`.
    pub aligned: Option<u64>,
    /// Alignment the type has for reasons its members do not show, e.g.
    /// inferred from offsets in pahole output; never printed. 1 if none.
    pub min_align: u64,
    /// Members in declaration order.
    pub members: Vec<Member>,
}

/// A declaration that cannot be split into type and name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeclError {
    /// Nothing to parse.
    #[error("empty declaration")]
    Empty,
    /// No identifier at the end of the declaration.
    #[error("`{0}` does not end in a member name")]
    NoName(String),
    /// Only a name, no type.
    #[error("`{0}` has no type before the member name")]
    NoType(String),
    /// Bitfields are not modelled.
    #[error("`{0}`: bitfields are not supported")]
    Bitfield(String),
    /// An alignment that is not a power of two (or absurdly large).
    #[error("alignment {0} is not a power of two up to 2^20")]
    BadAlign(u64),
}

/// Largest alignment accepted anywhere (1 MiB): beyond any real kernel use,
/// small enough that no arithmetic on sizes can overflow.
pub const MAX_ALIGN: u64 = 1 << 20;

/// Whether `a` is an acceptable alignment.
pub fn valid_align(a: u64) -> bool {
    a.is_power_of_two() && a <= MAX_ALIGN
}

/// Natural alignment guessed from a size, as for scalars and pointers on
/// x86_64: the largest power of two dividing the size, at most 8; 1 for an
/// empty type.
pub fn natural_align_for_size(size: u64) -> u64 {
    if size == 0 {
        1
    } else {
        (1u64 << size.trailing_zeros()).min(8)
    }
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Split a C declaration (`struct pfnmap_track_ctx *pfnmap_track_ctx`,
/// `void *slots[64]`, `void (*fn)(int)`) into the type text, the declarator
/// and the member name. Attributes must already be stripped.
pub fn split_decl(decl: &str) -> Result<(String, String, String), DeclError> {
    let decl = decl.trim();
    if decl.is_empty() {
        return Err(DeclError::Empty);
    }
    if let Some(paren) = decl.find("(*") {
        // Function pointer: the name sits inside the first parentheses.
        let ty = decl[..paren].trim_end();
        let rest = &decl[paren + 2..];
        let name: String = rest.chars().take_while(|&c| is_ident_char(c)).collect();
        if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(DeclError::NoName(decl.to_owned()));
        }
        if ty.is_empty() {
            return Err(DeclError::NoType(decl.to_owned()));
        }
        return Ok((ty.to_owned(), decl[paren..].to_owned(), name));
    }
    // Peel array suffixes ("[64]", "[3][1]") off the end.
    let mut base = decl;
    while let Some(stripped) = base.strip_suffix(']') {
        match stripped.rfind('[') {
            Some(open) => base = stripped[..open].trim_end(),
            None => return Err(DeclError::NoName(decl.to_owned())),
        }
    }
    let name_start = base
        .char_indices()
        .rev()
        .take_while(|&(_, c)| is_ident_char(c))
        .last()
        .map(|(i, _)| i);
    let Some(name_start) = name_start else {
        if base.contains(':') {
            return Err(DeclError::Bitfield(decl.to_owned()));
        }
        return Err(DeclError::NoName(decl.to_owned()));
    };
    let name = &base[name_start..];
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        if base[..name_start].trim_end().ends_with(':') {
            return Err(DeclError::Bitfield(decl.to_owned()));
        }
        return Err(DeclError::NoName(decl.to_owned()));
    }
    let ty = base[..name_start].trim_end();
    if ty.is_empty() {
        return Err(DeclError::NoType(decl.to_owned()));
    }
    if ty.contains(':') {
        return Err(DeclError::Bitfield(decl.to_owned()));
    }
    Ok((
        ty.to_owned(),
        decl[name_start..].to_owned(),
        name.to_owned(),
    ))
}

impl Member {
    /// A member from its C declaration, size and natural alignment:
    /// `Member::field("struct pfnmap_track_ctx *pfnmap_track_ctx", 8, 8)`.
    pub fn field(decl: &str, size: u64, align: u64) -> Result<Member, DeclError> {
        if !valid_align(align) {
            return Err(DeclError::BadAlign(align));
        }
        let (type_text, declarator, name) = split_decl(decl)?;
        Ok(Member {
            name: Some(name),
            ty: MemberType::Opaque(Opaque {
                type_text,
                declarator,
                size,
                align,
                inner_padding: 0,
            }),
            aligned: None,
            cond: Cond::always(),
        })
    }

    /// A member of a named type, given as pahole prints it.
    pub fn opaque(type_text: &str, name: &str, size: u64, align: u64) -> Member {
        debug_assert!(valid_align(align), "alignment {align}");
        Member {
            name: Some(name.to_owned()),
            ty: MemberType::Opaque(Opaque {
                type_text: type_text.to_owned(),
                declarator: name.to_owned(),
                size,
                align,
                inner_padding: 0,
            }),
            aligned: None,
            cond: Cond::always(),
        }
    }

    /// An inline struct/union member; `name` is `None` for an anonymous one.
    pub fn aggregate(def: StructDef, name: Option<&str>) -> Member {
        Member {
            name: name.map(str::to_owned),
            ty: MemberType::Aggregate(def),
            aligned: None,
            cond: Cond::always(),
        }
    }

    /// With a member `__attribute__((__aligned__(n)))`.
    pub fn aligned(mut self, n: u64) -> Member {
        debug_assert!(valid_align(n), "alignment {n}");
        self.aligned = Some(n);
        self
    }

    /// Present only when `cond` holds.
    pub fn when(mut self, cond: Cond) -> Member {
        self.cond = cond;
        self
    }

    /// Record the tail padding of the member's own struct type.
    pub fn inner_padding(mut self, padding: u64) -> Member {
        if let MemberType::Opaque(o) = &mut self.ty {
            o.inner_padding = padding;
        }
        self
    }
}

impl StructDef {
    /// An empty struct named `name` (`None`: anonymous).
    pub fn new_struct(name: Option<&str>) -> StructDef {
        StructDef {
            kind: AggKind::Struct,
            name: name.map(str::to_owned),
            aligned: None,
            min_align: 1,
            members: Vec::new(),
        }
    }

    /// An empty union.
    pub fn new_union(name: Option<&str>) -> StructDef {
        StructDef {
            kind: AggKind::Union,
            ..StructDef::new_struct(name)
        }
    }

    /// Append a member.
    pub fn member(mut self, m: Member) -> StructDef {
        self.members.push(m);
        self
    }

    /// With a type-level `__attribute__((__aligned__(n)))`.
    pub fn aligned(mut self, n: u64) -> StructDef {
        debug_assert!(valid_align(n), "alignment {n}");
        self.aligned = Some(n);
        self
    }

    /// Lay the description out for `cfg`.
    pub fn layout(&self, cfg: &Kconfig) -> Layout {
        layout(self, cfg)
    }

    /// Find a member by name anywhere in the description (depth first):
    /// the containing aggregate and the index in it.
    pub fn find_member_mut(&mut self, name: &str) -> Option<(&mut StructDef, usize)> {
        if let Some(i) = self
            .members
            .iter()
            .position(|m| m.name.as_deref() == Some(name))
        {
            return Some((self, i));
        }
        for m in &mut self.members {
            if let MemberType::Aggregate(d) = &mut m.ty
                && let Some(found) = d.find_member_mut(name)
            {
                return Some(found);
            }
        }
        None
    }

    /// Whether a member called `name` exists anywhere in the description.
    pub fn has_member(&self, name: &str) -> bool {
        self.members.iter().any(|m| {
            m.name.as_deref() == Some(name)
                || matches!(&m.ty, MemberType::Aggregate(d) if d.has_member(name))
        })
    }
}

/// What a laid-out member is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberBody {
    /// A type known by size and alignment.
    Opaque {
        /// The type as pahole prints it.
        type_text: String,
        /// Name with array/function suffixes.
        declarator: String,
        /// Tail padding inside the member's own struct type.
        inner_padding: u64,
    },
    /// An inline struct or union.
    Aggregate(Layout),
}

/// A member with its place in the containing aggregate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberLayout {
    /// Name; `None` for anonymous aggregates.
    pub name: Option<String>,
    /// Offset from the start of the containing aggregate.
    pub offset: u64,
    /// `sizeof`.
    pub size: u64,
    /// Effective alignment: the larger of natural and attribute.
    pub align: u64,
    /// The member's `__aligned__(N)` as pahole shows it: its own attribute,
    /// or its inline type's alignment when that type is user-aligned.
    pub aligned: Option<u64>,
    /// Bytes between this member's end and the next member (pahole's hole);
    /// 0 for the last member (that is [`Layout::padding`]).
    pub hole: u64,
    /// What it is.
    pub body: MemberBody,
}

/// A laid-out struct or union.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Struct or union.
    pub kind: AggKind,
    /// Type tag.
    pub name: Option<String>,
    /// `sizeof`.
    pub size: u64,
    /// `__alignof__`.
    pub align: u64,
    /// The type-level `__aligned__(N)` as pahole shows it: the type's
    /// alignment when it has an explicit alignment anywhere inside (gcc's
    /// `TYPE_USER_ALIGN`, recorded as `DW_AT_alignment`), else `None`.
    pub aligned: Option<u64>,
    /// Members present in this configuration.
    pub members: Vec<MemberLayout>,
    /// Tail padding.
    pub padding: u64,
}

/// Lay `def` out for `cfg` (see the module header for the rules).
pub fn layout(def: &StructDef, cfg: &Kconfig) -> Layout {
    let mut align = def.aligned.unwrap_or(1).max(def.min_align).max(1);
    // gcc's TYPE_USER_ALIGN: an explicit alignment anywhere inside makes
    // the aggregate user-aligned, and DWARF (hence pahole) then shows
    // `__aligned__(its alignment)` on the type and on members of that type.
    let mut user_aligned = def.aligned.is_some();
    let mut members = Vec::new();
    let mut end = 0u64;
    for m in def.members.iter().filter(|m| m.cond.holds(cfg)) {
        let (body, size, natural, shown) = match &m.ty {
            MemberType::Opaque(o) => (
                MemberBody::Opaque {
                    type_text: o.type_text.clone(),
                    declarator: o.declarator.clone(),
                    inner_padding: o.inner_padding,
                },
                o.size,
                o.align.max(1),
                m.aligned,
            ),
            MemberType::Aggregate(d) => {
                let l = layout(d, cfg);
                let (size, align) = (l.size, l.align);
                let shown = m.aligned.or(l.aligned.map(|_| align));
                (MemberBody::Aggregate(l), size, align, shown)
            }
        };
        user_aligned |= shown.is_some();
        let a = natural.max(m.aligned.unwrap_or(1));
        let offset = match def.kind {
            AggKind::Struct => align_up(end, a),
            AggKind::Union => 0,
        };
        align = align.max(a);
        end = end.max(offset.saturating_add(size));
        members.push(MemberLayout {
            name: m.name.clone(),
            offset,
            size,
            align: a,
            aligned: shown,
            hole: 0,
            body,
        });
    }
    // pahole's class__find_holes(): a hole is the gap between the furthest
    // end seen so far and the next member's start.
    if def.kind == AggKind::Struct {
        let mut seen_end = 0u64;
        for i in 0..members.len() {
            if i > 0 && members[i].offset > seen_end {
                members[i - 1].hole = members[i].offset - seen_end;
            }
            seen_end = seen_end.max(members[i].offset.saturating_add(members[i].size));
        }
    }
    let size = align_up(end, align);
    let l = Layout {
        kind: def.kind,
        name: def.name.clone(),
        size,
        align,
        aligned: user_aligned.then_some(align),
        members,
        padding: size - end,
    };
    debug_assert!(l.size.is_multiple_of(l.align));
    l
}

/// The numbers in pahole's closing comments for a struct.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Summary {
    /// `size:`.
    pub size: u64,
    /// `cachelines:` (64-byte lines the size spans).
    pub cachelines: u64,
    /// `members:` (top level only).
    pub members: u64,
    /// `sum members:` bytes of top-level members.
    pub sum_members: u64,
    /// `holes:` at the top level.
    pub holes: u64,
    /// `sum holes:`.
    pub sum_holes: u64,
    /// `padding:` at the tail.
    pub padding: u64,
    /// `paddings:` top-level struct members with their own tail padding.
    pub paddings: u64,
    /// `sum paddings:`.
    pub sum_paddings: u64,
    /// `forced alignments:` top-level members with `__aligned__(N)`.
    pub forced_alignments: u64,
    /// `forced holes:` holes right before such members.
    pub forced_holes: u64,
    /// `sum forced holes:`.
    pub sum_forced_holes: u64,
    /// `last cacheline:` bytes used in the last line (0: pahole omits it).
    pub last_cacheline: u64,
}

/// pahole's cache line size (its default when the machine reports none).
pub const PAHOLE_CACHELINE: u64 = 64;

/// A member found by name, with its offset from the outermost struct.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found<'a> {
    /// Offset from the start of the outermost aggregate.
    pub offset: u64,
    /// The member.
    pub member: &'a MemberLayout,
}

impl MemberLayout {
    /// Tail padding of the member's own struct type (pahole's "last struct
    /// has N bytes of padding").
    pub fn struct_padding(&self) -> u64 {
        match &self.body {
            MemberBody::Opaque { inner_padding, .. } => *inner_padding,
            MemberBody::Aggregate(l) if l.kind == AggKind::Struct => l.padding,
            MemberBody::Aggregate(_) => 0,
        }
    }
}

impl Layout {
    /// pahole's summary numbers for this struct.
    pub fn summary(&self) -> Summary {
        let mut s = Summary {
            size: self.size,
            cachelines: self.size.div_ceil(PAHOLE_CACHELINE),
            members: self.members.len() as u64,
            padding: self.padding,
            last_cacheline: self.size % PAHOLE_CACHELINE,
            ..Summary::default()
        };
        for (i, m) in self.members.iter().enumerate() {
            s.sum_members += m.size;
            if m.hole > 0 {
                s.holes += 1;
                s.sum_holes += m.hole;
            }
            let p = m.struct_padding();
            if p > 0 {
                s.paddings += 1;
                s.sum_paddings += p;
            }
            if m.aligned.is_some() {
                s.forced_alignments += 1;
                let before = if i > 0 { self.members[i - 1].hole } else { 0 };
                if before > 0 {
                    s.forced_holes += 1;
                    s.sum_forced_holes += before;
                }
            }
        }
        s
    }

    /// Find a member by name anywhere (depth first, top level first).
    pub fn find(&self, name: &str) -> Option<Found<'_>> {
        self.find_at(name, 0)
    }

    fn find_at(&self, name: &str, base: u64) -> Option<Found<'_>> {
        if let Some(m) = self
            .members
            .iter()
            .find(|m| m.name.as_deref() == Some(name))
        {
            return Some(Found {
                offset: base + m.offset,
                member: m,
            });
        }
        self.members.iter().find_map(|m| match &m.body {
            MemberBody::Aggregate(l) => l.find_at(name, base + m.offset),
            MemberBody::Opaque { .. } => None,
        })
    }

    /// Every member as `(path, offset from the outermost struct, size)`, in
    /// order, nested members after their aggregate (`shared.rb`).
    pub fn flatten(&self) -> Vec<(String, u64, u64)> {
        let mut out = Vec::new();
        self.flatten_into("", 0, &mut out);
        out
    }

    fn flatten_into(&self, prefix: &str, base: u64, out: &mut Vec<(String, u64, u64)>) {
        for m in &self.members {
            let name = m.name.as_deref().unwrap_or("<anon>");
            let path = if prefix.is_empty() {
                name.to_owned()
            } else {
                format!("{prefix}.{name}")
            };
            out.push((path.clone(), base + m.offset, m.size));
            if let MemberBody::Aggregate(l) = &m.body {
                l.flatten_into(&path, base + m.offset, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_decl_handles_pointers_arrays_and_function_pointers() {
        let s = split_decl("struct pfnmap_track_ctx *pfnmap_track_ctx").unwrap();
        assert_eq!(s.0, "struct pfnmap_track_ctx *");
        assert_eq!(s.1, "pfnmap_track_ctx");
        let s = split_decl("void *slots[64]").unwrap();
        assert_eq!(
            (s.0.as_str(), s.1.as_str(), s.2.as_str()),
            ("void *", "slots[64]", "slots")
        );
        let s = split_decl("void (*fn)(int)").unwrap();
        assert_eq!((s.0.as_str(), s.2.as_str()), ("void", "fn"));
        assert_eq!(split_decl("  "), Err(DeclError::Empty));
        assert!(matches!(split_decl("x"), Err(DeclError::NoType(_))));
        assert!(matches!(split_decl("int x:3"), Err(DeclError::Bitfield(_))));
        assert!(matches!(split_decl("int *"), Err(DeclError::NoName(_))));
    }

    #[test]
    fn holes_padding_and_attributes() {
        // struct { char a; long b; int c __aligned(16); char d; }
        let def = StructDef::new_struct(Some("t"))
            .member(Member::opaque("char", "a", 1, 1))
            .member(Member::opaque("long int", "b", 8, 8))
            .member(Member::opaque("int", "c", 4, 4).aligned(16))
            .member(Member::opaque("char", "d", 1, 1));
        let l = def.layout(&Kconfig::new());
        let offs: Vec<u64> = l.members.iter().map(|m| m.offset).collect();
        assert_eq!(offs, [0, 8, 16, 20]);
        assert_eq!((l.size, l.align, l.padding), (32, 16, 11));
        assert_eq!(l.members[0].hole, 7);
        let s = l.summary();
        assert_eq!(
            (s.holes, s.sum_holes, s.forced_alignments, s.forced_holes),
            (1, 7, 1, 0)
        );
    }

    #[test]
    fn unions_conditions_and_struct_alignment() {
        let inner = StructDef::new_union(None)
            .member(Member::opaque("int", "i", 4, 4))
            .member(Member::opaque("long int", "l", 8, 8).when(Cond::on("WIDE")));
        let def = StructDef::new_struct(Some("t"))
            .member(Member::opaque("char", "c", 1, 1))
            .member(Member::aggregate(inner, None))
            .aligned(64);
        let narrow = def.layout(&Kconfig::new());
        assert_eq!((narrow.members[1].offset, narrow.members[1].size), (4, 4));
        assert_eq!((narrow.size, narrow.align), (64, 64));
        let wide = def.layout(&Kconfig::new().with("WIDE"));
        assert_eq!((wide.members[1].offset, wide.members[1].size), (8, 8));
        assert_eq!(wide.find("l").unwrap().offset, 8);
        assert_eq!(
            Cond::on("A").and_off("B").to_string(),
            "CONFIG_A && !CONFIG_B"
        );
    }

    #[test]
    fn zero_size_members_take_no_space() {
        let def = StructDef::new_struct(Some("t"))
            .member(Member::opaque("int", "a", 4, 4))
            .member(Member::opaque("struct empty", "e", 0, 1))
            .member(Member::opaque("char", "c", 1, 1));
        let l = def.layout(&Kconfig::new());
        assert_eq!(
            (l.members[1].offset, l.members[2].offset, l.size),
            (4, 4, 8)
        );
        assert_eq!(l.members[1].hole, 0);
    }
}
