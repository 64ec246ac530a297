//! The layout engine, the pahole reader and the `vm_area_struct` model
//! checked against real pahole output (tests/data, see its README), plus
//! property tests: round trips through the renderer and a fuzzer that
//! mutates the fixture and must never make the parser panic.

use proptest::prelude::*;
use strategies::layout::engine::{AggKind, Kconfig, Member, StructDef};
use strategies::layout::pahole::{self, FieldEdit, PaholeError};
use strategies::layout::{VmaConfig, render};

const FIXTURE: &str = include_str!("data/pahole-vm_area_struct-x86_64.txt");

fn ctx_edit() -> FieldEdit {
    FieldEdit::parse(
        "struct pfnmap_track_ctx *pfnmap_track_ctx:8",
        Some("vm_userfaultfd_ctx"),
    )
    .unwrap()
}

#[test]
fn fixture_parses_and_reproduces_byte_for_byte() {
    let p = pahole::parse(FIXTURE).unwrap();
    assert_eq!(p.name(), "vm_area_struct");
    assert_eq!(
        (p.layout.size, p.layout.align, p.layout.padding),
        (192, 64, 16)
    );
    assert!(p.notes.is_empty(), "{:?}", p.notes);
    assert_eq!(render::pahole(&p.layout), FIXTURE);
}

#[test]
fn builtin_default_config_renders_as_the_fixture() {
    let l = VmaConfig::DEFAULT.layout(false);
    assert_eq!(render::pahole(&l), FIXTURE);
    let parsed = pahole::parse(FIXTURE).unwrap();
    assert_eq!(l.flatten(), parsed.layout.flatten());
}

#[test]
fn the_ctx_field_lands_in_the_tail_padding() {
    let mut p = pahole::parse(FIXTURE).unwrap();
    p.apply(&[ctx_edit()]).unwrap();
    let f = p.layout.find("pfnmap_track_ctx").unwrap();
    assert_eq!((f.offset, f.member.size), (176, 8));
    assert_eq!((p.layout.size, p.layout.padding), (192, 8));
    let s = p.layout.summary();
    assert_eq!((s.cachelines, s.members, s.sum_members), (3, 19, 176));
    // Same as the built-in description with the field.
    assert_eq!(
        p.layout.flatten(),
        VmaConfig::DEFAULT.layout(true).flatten()
    );
    let text = render::pahole(&p.layout);
    assert!(
        text.contains("\tstruct pfnmap_track_ctx *  pfnmap_track_ctx;     /*   176     8 */\n")
    );
    assert!(text.contains("\t/* size: 192, cachelines: 3, members: 19 */\n"));
    assert!(text.contains("\t/* padding: 8 */\n"));
    // And the rendering reads back.
    assert_eq!(pahole::parse(&text).unwrap().layout, p.layout);
}

#[test]
fn two_more_pointers_make_it_four_cachelines() {
    let mut p = pahole::parse(FIXTURE).unwrap();
    let more = [
        ctx_edit(),
        FieldEdit::parse("void *a:8", None).unwrap(),
        FieldEdit::parse("void *b:8", None).unwrap(),
    ];
    p.apply(&more).unwrap();
    assert_eq!(p.layout.find("b").unwrap().offset, 192);
    let s = p.layout.summary();
    assert_eq!((s.size, s.cachelines, s.padding), (256, 4, 56));
}

#[test]
fn after_can_reach_into_nested_members() {
    let mut p = pahole::parse(FIXTURE).unwrap();
    p.apply(&[FieldEdit::parse("long unsigned int extra:8", Some("rb_subtree_last")).unwrap()])
        .unwrap();
    // `shared` grows to 40 bytes, everything after it moves by 8.
    assert_eq!(p.layout.find("extra").unwrap().offset, 168);
    assert_eq!(p.layout.find("anon_name").unwrap().offset, 176);
    assert_eq!(p.layout.size, 192);
}

#[test]
fn unknown_after_member_is_an_error_with_the_struct_line() {
    let mut p = pahole::parse(FIXTURE).unwrap();
    let e = p
        .apply(&[FieldEdit::parse("void *x:8", Some("no_such")).unwrap()])
        .unwrap_err();
    assert!(
        matches!(&e, PaholeError::UnknownMember { line: 1, member, .. } if member == "no_such")
    );
    assert!(e.to_string().starts_with("--after no_such"), "{e}");
    assert_eq!(e.line(), None, "the file is not at fault");
    let dup = p.apply(&[FieldEdit::parse("void *vm_mm:8", None).unwrap()]);
    assert!(matches!(dup, Err(PaholeError::BadFieldSpec { .. })));
}

fn lines_of(text: &str) -> Vec<&str> {
    text.split_inclusive('\n').collect()
}

#[test]
fn truncated_file_is_rejected_with_its_line_number() {
    let lines = lines_of(FIXTURE);
    // Cut after the vm_refcnt member (line 28): the struct never closes.
    let cut: String = lines[..28].concat();
    let e = pahole::parse(&cut).unwrap_err();
    assert!(matches!(e, PaholeError::Truncated { line: 28, .. }), "{e}");
    // Cut in the middle of a line: the last line is unfinished.
    let half = &FIXTURE[..FIXTURE.find("swap_readahead_info").unwrap() + 5];
    let e = pahole::parse(half).unwrap_err();
    assert_eq!(e.line(), Some(26), "{e}");
    assert!(matches!(
        pahole::parse(""),
        Err(PaholeError::Truncated { line: 1, .. })
    ));
}

#[test]
fn garbled_lines_are_rejected_with_their_line_number() {
    let mut lines: Vec<String> = lines_of(FIXTURE).iter().map(|s| s.to_string()).collect();
    lines[16] = "\tthis is not pahole output\n".into();
    let e = pahole::parse(&lines.concat()).unwrap_err();
    assert_eq!(e.line(), Some(17), "{e}");
    assert!(e.to_string().starts_with("line 17: "), "{e}");

    // An offset that does not add up.
    let bad = FIXTURE.replace(
        "vm_pgoff;             /*    80",
        "vm_pgoff;             /*    84",
    );
    let e = pahole::parse(&bad).unwrap_err();
    assert!(
        matches!(e, PaholeError::OffsetsDontAddUp { line: 23, .. }),
        "{e}"
    );

    // A summary that disagrees with the members.
    let bad = FIXTURE.replace("sum holes: 8", "sum holes: 12");
    let e = pahole::parse(&bad).unwrap_err();
    assert!(
        matches!(e, PaholeError::OffsetsDontAddUp { line: 42, .. }),
        "{e}"
    );

    // A hole comment that disagrees.
    let bad = FIXTURE.replacen("XXX 4 bytes hole", "XXX 8 bytes hole", 1);
    assert!(matches!(
        pahole::parse(&bad),
        Err(PaholeError::OffsetsDontAddUp { line: 17, .. })
    ));

    // Unbalanced braces: drop the `struct {` that opens `shared`.
    let mut lines: Vec<String> = lines_of(FIXTURE).iter().map(|s| s.to_string()).collect();
    lines.remove(33);
    let e = pahole::parse(&lines.concat()).unwrap_err();
    assert!(matches!(e, PaholeError::UnbalancedBraces { .. }), "{e}");

    // Not UTF-8, on line 3.
    let mut bytes = FIXTURE.as_bytes().to_vec();
    let at = FIXTURE.find("vm_start").unwrap();
    bytes[at] = 0xff;
    assert_eq!(pahole::parse_bytes(&bytes).unwrap_err().line(), Some(4));
}

/// Any single line replaced by junk is reported at that very line, even a
/// comment line (whose junk a wrapped-line join would otherwise swallow).
#[test]
fn every_garbled_line_is_reported_at_its_own_number() {
    let lines: Vec<String> = lines_of(FIXTURE).iter().map(|s| s.to_string()).collect();
    for i in 0..lines.len() {
        let mut bad = lines.clone();
        bad[i] = "\tgarbled line here !!\n".into();
        let e = pahole::parse(&bad.concat()).expect_err("junk must not parse");
        assert_eq!(e.line(), Some(i + 1), "junk on line {}: {e}", i + 1);
    }
}

#[test]
fn mail_wrapped_lines_are_joined() {
    let wrapped = FIXTURE
        .replace(
            "\trefcount_t                 vm_refcnt __attribute__((__aligned__(64))); /*   128     4 */",
            "\trefcount_t                 vm_refcnt\n\t\t__attribute__((__aligned__(64)));\n\t/*   128     4 */",
        )
        .replace("struct mm_struct *         vm_mm;", "struct mm_struct *\n vm_mm;");
    let p = pahole::parse(&wrapped).unwrap();
    assert_eq!(p.layout, pahole::parse(FIXTURE).unwrap().layout);
    // Errors after the wrap still name the right physical line.
    let e = pahole::parse(&wrapped.replace("vm_file;", "vm_file")).unwrap_err();
    assert_eq!(e.line(), Some(25), "{e}");
}

#[test]
fn bitfields_and_packed_are_reported_as_unsupported() {
    let bf = "struct t {\n\tunsigned int a:3; /* 0: 0 4 */\n};\n";
    assert!(matches!(
        pahole::parse(bf),
        Err(PaholeError::Unsupported { line: 2, .. })
    ));
    let packed = "struct t {\n\tint a; /* 0 4 */\n} __attribute__((__packed__));\n";
    assert!(matches!(
        pahole::parse(packed),
        Err(PaholeError::Unsupported { line: 3, .. })
    ));
}

// ---------------------------------------------------------------------------
// Property tests.

/// One fixture mutation; printed on failure so the case can be replayed.
#[derive(Debug, Clone)]
enum Mutation {
    DeleteLine(usize),
    DuplicateLine(usize),
    SwapLines(usize, usize),
    TruncateAt(usize),
    SetByte(usize, u8),
    InsertByte(usize, u8),
    ReplaceDigit(usize, u8),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (0usize..64).prop_map(Mutation::DeleteLine),
        (0usize..64).prop_map(Mutation::DuplicateLine),
        (0usize..64, 0usize..64).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        (0usize..4000).prop_map(Mutation::TruncateAt),
        (0usize..4000, any::<u8>()).prop_map(|(i, b)| Mutation::SetByte(i, b)),
        (0usize..4000, any::<u8>()).prop_map(|(i, b)| Mutation::InsertByte(i, b)),
        (0usize..4000, 0u8..10).prop_map(|(i, d)| Mutation::ReplaceDigit(i, d)),
    ]
}

fn mutate(mut bytes: Vec<u8>, m: &Mutation) -> Vec<u8> {
    let mut lines: Vec<Vec<u8>> = bytes
        .split_inclusive(|&b| b == b'\n')
        .map(<[u8]>::to_vec)
        .collect();
    let n = lines.len().max(1);
    match *m {
        Mutation::DeleteLine(i) if !lines.is_empty() => {
            lines.remove(i % n);
        }
        Mutation::DuplicateLine(i) if !lines.is_empty() => {
            let l = lines[i % n].clone();
            lines.insert(i % n, l);
        }
        Mutation::SwapLines(a, b) if !lines.is_empty() => lines.swap(a % n, b % n),
        Mutation::TruncateAt(i) => {
            bytes.truncate(i % (bytes.len() + 1));
            return bytes;
        }
        Mutation::SetByte(i, b) if !bytes.is_empty() => {
            let len = bytes.len();
            bytes[i % len] = b;
            return bytes;
        }
        Mutation::InsertByte(i, b) => {
            let len = bytes.len();
            bytes.insert(i % (len + 1), b);
            return bytes;
        }
        Mutation::ReplaceDigit(i, d) => {
            let digits: Vec<usize> = (0..bytes.len())
                .filter(|&j| bytes[j].is_ascii_digit())
                .collect();
            if !digits.is_empty() {
                bytes[digits[i % digits.len()]] = b'0' + d;
            }
            return bytes;
        }
        _ => {}
    }
    lines.concat()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Any mutation of the fixture parses or fails with an error that names
    /// a line inside the input; it never panics.
    #[test]
    fn mutated_fixture_never_panics(muts in prop::collection::vec(mutation(), 1..6)) {
        let mut bytes = FIXTURE.as_bytes().to_vec();
        for m in &muts {
            bytes = mutate(bytes, m);
        }
        let nlines = bytes.split(|&b| b == b'\n').count().max(1);
        match pahole::parse_bytes(&bytes) {
            Ok(p) => {
                // Whatever parsed must render and read back to the same layout.
                let again = pahole::parse(&render::pahole(&p.layout)).unwrap();
                prop_assert_eq!(again.layout, p.layout);
            }
            Err(e) => {
                let line = e.line().unwrap();
                prop_assert!(line >= 1 && line <= nlines, "{} (lines: {})", e, nlines);
            }
        }
    }

    /// Random bytes and random line soup never panic either.
    #[test]
    fn random_input_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = pahole::parse_bytes(&bytes);
    }

    #[test]
    fn random_pahole_like_lines_never_panic(
        lines in prop::collection::vec(prop_oneof![
            Just("struct x {".to_string()),
            Just("union {".to_string()),
            Just("struct {".to_string()),
            Just("};".to_string()),
            Just("} y; /* 0 8 */".to_string()),
            Just("} __attribute__((__aligned__(8))) z __attribute__((__aligned__(8))); /* 8 16 */".to_string()),
            "[a-z ]{1,12}\\*? [a-z_]{1,8}; /\\* {1,4}[0-9]{1,4} {1,4}[0-9]{1,3} \\*/",
            "int [a-z]{1,3} __attribute__\\(\\(__aligned__\\([0-9]{1,3}\\)\\)\\); /\\* [0-9]{1,3} [0-9] \\*/",
            Just("/* XXX 4 bytes hole, try to pack */".to_string()),
            Just("/* size: 192, cachelines: 3, members: 18 */".to_string()),
            Just("/* padding: 16 */".to_string()),
            Just("".to_string()),
        ], 0..40)
    ) {
        let _ = pahole::parse(&lines.join("\n"));
    }

    /// Random struct descriptions survive layout -> render -> parse with the
    /// same offsets and the same text.
    #[test]
    fn render_parse_round_trip(def in struct_def(3, 8)) {
        let l = def.layout(&Kconfig::new());
        let text = render::pahole(&l);
        let parsed = pahole::parse(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(parsed.layout.flatten(), l.flatten(), "{}", text);
        prop_assert_eq!(parsed.layout.size, l.size);
        prop_assert_eq!(render::pahole(&parsed.layout), text);
    }

    /// With 16-byte aligned types (`__int128`) as well, offsets and sizes
    /// still round trip. The text may not: a union's own alignment is not
    /// in pahole's output, only the room pahole leaves for it.
    #[test]
    fn render_parse_round_trip_offsets(def in struct_def(3, 16)) {
        let l = def.layout(&Kconfig::new());
        let text = render::pahole(&l);
        let parsed = pahole::parse(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(parsed.layout.flatten(), l.flatten(), "{}", text);
        prop_assert_eq!(parsed.layout.size, l.size);
    }
}

/// A member of an arbitrary C-like type: scalars, pointers, arrays, named
/// structs with alignments other than their size suggests, attributes.
fn opaque(i: usize, max_align: u64) -> impl Strategy<Value = Member> {
    (
        prop_oneof![Just(1u64), Just(2), Just(4), Just(8), Just(16)]
            .prop_filter("natural alignment", move |&a| a <= max_align),
        1u64..=6,
        prop::option::weighted(0.15, prop_oneof![Just(8u64), Just(16), Just(32), Just(64)]),
        any::<bool>(),
    )
        .prop_map(move |(align, mult, attr, zero)| {
            let size = if zero && align == 1 { 0 } else { align * mult };
            let mut m = Member::opaque(&format!("struct t{align}"), &format!("m{i}"), size, align);
            m.aligned = attr;
            m
        })
}

fn struct_def(depth: u32, max_align: u64) -> BoxedStrategy<StructDef> {
    let leaf = (0usize..1000)
        .prop_flat_map(move |i| opaque(i, max_align))
        .boxed();
    let member = if depth == 0 {
        leaf
    } else {
        prop_oneof![
            4 => leaf,
            1 => (struct_def(depth - 1, max_align), any::<bool>(), 0usize..1000).prop_map(|(d, named, i)| {
                let name = format!("n{i}");
                Member::aggregate(d, named.then_some(name.as_str()))
            }),
        ]
        .boxed()
    };
    (
        prop::collection::vec(member, 1..8),
        any::<bool>(),
        prop::option::weighted(0.2, prop_oneof![Just(16u64), Just(64)]),
    )
        .prop_map(move |(members, union, aligned)| {
            let mut def = if union && depth < 3 {
                StructDef::new_union(None)
            } else {
                StructDef::new_struct(if depth == 3 { Some("top") } else { None })
            };
            // Member names must be unique for the round trip's flatten().
            for (i, mut m) in members.into_iter().enumerate() {
                if let Some(n) = &mut m.name {
                    *n = format!("{n}_{depth}_{i}");
                    if let strategies::layout::engine::MemberType::Opaque(o) = &mut m.ty {
                        o.declarator = n.clone();
                    }
                }
                def.members.push(m);
            }
            // pahole never prints a union's own __aligned__ (it only leaves
            // room for it), so that cannot round-trip: structs only.
            if def.kind == AggKind::Struct {
                def.aligned = aligned;
            }
            if depth == 3 {
                def.kind = AggKind::Struct;
            }
            def
        })
        .boxed()
}
