//! `pfntrack layout`: what the per-vma design's `pfnmap_track_ctx` pointer
//! costs in `struct vm_area_struct` and its slab cache (issue 5).
//!
//! Three modes: one configuration (`--config`/`--set`), the whole option
//! matrix (`--matrix`), or real pahole output with fields added
//! (`--pahole FILE --add-field ...`). The models live in
//! `strategies::layout` and `strategies::slab`; this module only formats.
//! Output is ASCII and kept to 80 columns, except the pahole listings,
//! which are printed exactly as pahole would.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use clap::{Arg, ArgAction, ArgMatches, Args, FromArgMatches};
use strategies::layout::pahole::{self, FieldEdit};
use strategies::layout::vm_area_struct::FieldCost;
use strategies::layout::{Layout, VmaConfig, VmaOption, cache_for, render};
use strategies::slab::{KmemCache, SlabGeometry};

/// Arguments of `pfntrack layout`.
#[derive(Debug, Args)]
pub struct LayoutArgs {
    /// Start from a named configuration: default (docs/design.md section 7),
    /// userfaultfd, debug (lockdep), lockstat, minimal (allnoconfig-like).
    #[arg(long, value_name = "NAME", conflicts_with_all = ["matrix", "pahole"])]
    pub config: Option<String>,

    /// Turn an option on or off on top of --config, e.g. --set USERFAULTFD=y.
    /// Options: PER_VMA_LOCK SWAP NUMA NUMA_BALANCING ANON_VMA_NAME
    /// USERFAULTFD DEBUG_LOCK_ALLOC LOCK_STAT.
    #[arg(long = "set", value_name = "OPTION=y|n", conflicts_with_all = ["matrix", "pahole"])]
    pub set: Vec<String>,

    /// Every combination of the options as a table.
    #[arg(long, conflicts_with = "pahole")]
    pub matrix: bool,

    /// Read pahole output for one struct from FILE instead of using the
    /// built-in vm_area_struct.
    #[arg(long, value_name = "FILE")]
    pub pahole: Option<PathBuf>,

    /// Fields to add to the --pahole struct.
    #[command(flatten)]
    pub edits: FieldEditArgs,

    /// CPU count SLUB sizes its slabs for (calculate_order()).
    #[arg(long, value_name = "N", default_value_t = 4,
          value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub cpus: u32,

    /// Also show the system-wide cost at N VMAs, slab rounding included.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1_000_000_000_000))]
    pub vmas: Option<u64>,
}

/// `--add-field SPEC [--after MEMBER]`, repeatable; each `--after` belongs
/// to the `--add-field` before it, which clap's derive cannot express, so
/// this reads the argument positions itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldEditArgs {
    /// `(spec, after)` in command-line order.
    pub edits: Vec<(String, Option<String>)>,
}

const ADD_FIELD: &str = "add_field";
const AFTER: &str = "after";

impl FromArgMatches for FieldEditArgs {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        let values = |id: &str| -> Vec<(usize, String)> {
            match (m.indices_of(id), m.get_many::<String>(id)) {
                (Some(idx), Some(vals)) => idx.zip(vals.cloned()).collect(),
                _ => Vec::new(),
            }
        };
        let fields = values(ADD_FIELD);
        let mut edits: Vec<(String, Option<String>)> =
            fields.iter().map(|(_, f)| (f.clone(), None)).collect();
        for (at, member) in values(AFTER) {
            let Some(owner) = fields.iter().rposition(|(i, _)| *i < at) else {
                return Err(clap::Error::raw(
                    clap::error::ErrorKind::ArgumentConflict,
                    format!("--after {member} must follow the --add-field it positions\n"),
                ));
            };
            if edits[owner].1.is_some() {
                return Err(clap::Error::raw(
                    clap::error::ErrorKind::ArgumentConflict,
                    format!("--add-field '{}' has two --after\n", edits[owner].0),
                ));
            }
            edits[owner].1 = Some(member);
        }
        Ok(FieldEditArgs { edits })
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl Args for FieldEditArgs {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        cmd.arg(
            Arg::new(ADD_FIELD)
                .long("add-field")
                .value_name("DECL:SIZE[:ALIGN]")
                .action(ArgAction::Append)
                .requires("pahole")
                .help(
                    "Add a member to the --pahole struct, e.g. \
                     'struct pfnmap_track_ctx *pfnmap_track_ctx:8' (repeatable)",
                ),
        )
        .arg(
            Arg::new(AFTER)
                .long("after")
                .value_name("MEMBER")
                .action(ArgAction::Append)
                .requires(ADD_FIELD)
                .help("Place the preceding --add-field after MEMBER (default: at the end)"),
        )
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

/// Run `pfntrack layout`.
pub fn run(args: LayoutArgs) -> anyhow::Result<ExitCode> {
    let out = if args.matrix {
        matrix(args.cpus, args.vmas)?
    } else if let Some(path) = &args.pahole {
        pahole_report(path, &args.edits, args.cpus, args.vmas)?
    } else {
        config_report(args.config.as_deref(), &args.set, args.cpus, args.vmas)?
    };
    crate::output::print(&out)?;
    Ok(ExitCode::SUCCESS)
}

/// The configuration `--config` and `--set` describe.
pub fn resolve_config(name: Option<&str>, set: &[String]) -> anyhow::Result<VmaConfig> {
    let mut cfg = VmaConfig::named(name.unwrap_or("default"))?;
    for s in set {
        cfg.apply(s).with_context(|| format!("--set {s}"))?;
    }
    cfg.validate()?;
    Ok(cfg)
}

fn config_lines(cfg: VmaConfig) -> String {
    let words: Vec<String> = VmaOption::ALL
        .iter()
        .map(|&o| format!("{o}={}", if cfg.has(o) { 'y' } else { 'n' }))
        .collect();
    format!("  {}\n  {}\n", words[..4].join(" "), words[4..].join(" "))
}

/// One configuration: both layouts and the slab effect.
pub fn config_report(
    name: Option<&str>,
    set: &[String],
    cpus: u32,
    vmas: Option<u64>,
) -> anyhow::Result<String> {
    let cfg = resolve_config(name, set)?;
    let cost = cfg
        .field_cost(cpus)
        .map_err(|e| anyhow!("slab model: {e}"))?;
    let mut out = String::new();
    let label = match cfg.name() {
        Some(n) => format!("config `{n}`"),
        None => "custom config".to_owned(),
    };
    let _ = writeln!(
        out,
        "struct vm_area_struct, x86_64, Linux v6.15/v6.16, {label}:"
    );
    out.push_str(&config_lines(cfg));
    let _ = writeln!(out, "\n=== without pfnmap_track_ctx ===\n");
    out.push_str(&render::pahole(&cfg.layout(false)));
    let _ = writeln!(
        out,
        "\n=== with pfnmap_track_ctx (the per-vma design) ===\n"
    );
    out.push_str(&render::pahole(&cfg.layout(true)));
    out.push('\n');
    let cache = KmemCache::vm_area_struct(cost.without.slab_object_size(), 0);
    out.push_str(&slab_table(
        &cache,
        cpus,
        (cost.without.struct_size, cost.without.geometry),
        (cost.with.struct_size, cost.with.geometry),
        "VMA",
        ("without", "with"),
    ));
    if let Some(n) = vmas {
        out.push_str(&vmas_table(
            n,
            (cost.without.struct_size, cost.without.geometry),
            (cost.with.struct_size, cost.with.geometry),
            ("without", "with"),
            "VMAs",
        ));
    }
    Ok(out)
}

fn pct(delta: f64, base: f64) -> String {
    if base == 0.0 {
        "n/a".into()
    } else {
        format!("{:+.1}%", 100.0 * delta / base)
    }
}

/// The slab effect of a size change: `(struct size, geometry)` before and
/// after.
fn slab_table(
    cache: &KmemCache,
    cpus: u32,
    before: (u64, SlabGeometry),
    after: (u64, SlabGeometry),
    per: &str,
    cols: (&str, &str),
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "slab cache {} ({}), nr_cpus={cpus}:",
        cache.name, cache.flags
    );
    let (b, a) = (before.1, after.1);
    let _ = writeln!(out, "  {:<26}{:>12}{:>12}", "", cols.0, cols.1);
    let rows: [(&str, String, String); 5] = [
        ("sizeof", before.0.to_string(), after.0.to_string()),
        ("slab object size", b.size.to_string(), a.size.to_string()),
        ("slab order", b.order.to_string(), a.order.to_string()),
        (
            "objects per slab",
            b.objects.to_string(),
            a.objects.to_string(),
        ),
        (
            &format!("bytes per {per}"),
            format!("{:.2}", b.bytes_per_object()),
            format!("{:.2}", a.bytes_per_object()),
        ),
    ];
    for (name, x, y) in rows {
        let _ = writeln!(out, "  {name:<26}{x:>12}{y:>12}");
    }
    let delta = a.bytes_per_object() - b.bytes_per_object();
    let _ = writeln!(
        out,
        "  delta per {per}: {delta:+.2} bytes ({}){}",
        pct(delta, b.bytes_per_object()),
        if a.size > b.size {
            "  <- crosses a slab stride boundary"
        } else {
            ""
        }
    );
    out
}

/// System-wide cost at `n` objects.
fn vmas_table(
    n: u64,
    before: (u64, SlabGeometry),
    after: (u64, SlabGeometry),
    cols: (&str, &str),
    what: &str,
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "\nat {n} {what}, every slab full:");
    let _ = writeln!(out, "  {:<26}{:>14}{:>14}", "", cols.0, cols.1);
    let row = |(size, g): (u64, SlabGeometry)| {
        let bytes = g.bytes_for(n);
        let data = n.saturating_mul(size);
        (g.slabs_for(n), bytes, data, bytes.saturating_sub(data))
    };
    let (b, a) = (row(before), row(after));
    let lines = [
        ("slabs", b.0, a.0),
        ("kernel bytes", b.1, a.1),
        ("  of which struct data", b.2, a.2),
        ("  of which slab waste", b.3, a.3),
    ];
    for (name, x, y) in lines {
        let _ = writeln!(out, "  {name:<26}{x:>14}{y:>14}");
    }
    let delta = i128::from(a.1) - i128::from(b.1);
    let _ = writeln!(
        out,
        "  difference: {delta:+} bytes ({:+.1} MiB, {})",
        delta as f64 / (1024.0 * 1024.0),
        pct(delta as f64, b.1 as f64)
    );
    out
}

/// `--matrix`: every distinct configuration.
pub fn matrix(cpus: u32, vmas: Option<u64>) -> anyhow::Result<String> {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "struct vm_area_struct without (-) and with (+) pfnmap_track_ctx,\n\
         x86_64, vm_area_struct slab cache, nr_cpus={cpus}"
    );
    let legend: Vec<String> = VmaOption::ALL
        .iter()
        .map(|o| format!("{}={}", o.letter(), o.symbol()))
        .collect();
    let _ = writeln!(out, "options: {}", legend[..4].join(" "));
    let _ = writeln!(out, "         {}", legend[4..].join(" "));
    let _ = writeln!(
        out,
        "         config: a letter per option on, '-' per option off;\n\
         \x20        '*': the field moves the VMA into a bigger slab stride\n"
    );
    let (tail1, tail2) = if vmas.is_some() {
        (" +KiB@N", "  (N)")
    } else {
        ("", "")
    };
    let _ = writeln!(
        out,
        "{:<10}{:^9} {:^9} {:^7}  {:^3} {:^15} {:>8}{tail1}",
        "config", "sizeof", "object", "objects", "ord", "bytes/VMA", "delta"
    );
    let _ = writeln!(
        out,
        "{:<10}{:>4} {:>4} {:>4} {:>4} {:>3} {:>3}  - + {:>7} {:>7} {:>8}{tail2}",
        "", "-", "+", "-", "+", "-", "+", "-", "+", "B/VMA"
    );
    let configs = VmaConfig::all_distinct();
    let mut paying = Vec::new();
    for cfg in &configs {
        let c: FieldCost = cfg
            .field_cost(cpus)
            .map_err(|e| anyhow!("slab model: {e}"))?;
        let mark = if c.crosses_stride() { '*' } else { ' ' };
        let _ = write!(
            out,
            "{}{mark} {:>4} {:>4} {:>4} {:>4} {:>3} {:>3}  {} {} {:>7.2} {:>7.2} {:>+8.2}",
            cfg.letters(),
            c.without.struct_size,
            c.with.struct_size,
            c.without.slab_object_size(),
            c.with.slab_object_size(),
            c.without.geometry.objects,
            c.with.geometry.objects,
            c.without.geometry.order,
            c.with.geometry.order,
            c.without.bytes_per_vma(),
            c.with.bytes_per_vma(),
            c.delta_bytes_per_vma(),
        );
        if let Some(n) = vmas {
            let _ = write!(out, " {:>+6}", c.delta_for(n) / 1024);
        }
        if let Some(name) = cfg.name() {
            let _ = write!(out, " {name}");
        }
        out.push('\n');
        if c.crosses_stride() {
            paying.push(cfg.letters());
        }
    }
    let _ = writeln!(
        out,
        "\n{} of {} configurations pay for the field (marked *){}",
        paying.len(),
        configs.len(),
        if paying.is_empty() || paying.len() > 8 {
            ".".to_owned()
        } else {
            format!(": {}", paying.join(" "))
        }
    );
    if let Some(n) = vmas {
        let _ = writeln!(
            out,
            "+KiB@N: extra kernel KiB at N={n} VMAs, slab rounding included."
        );
    }
    Ok(out)
}

/// `--pahole FILE`: parse, apply the edits, show the result.
pub fn pahole_report(
    path: &Path,
    edit_args: &FieldEditArgs,
    cpus: u32,
    vmas: Option<u64>,
) -> anyhow::Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut parsed = pahole::parse_bytes(&bytes).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    let edits = edit_args
        .edits
        .iter()
        .map(|(spec, after)| FieldEdit::parse(spec, after.as_deref()))
        .collect::<Result<Vec<_>, _>>()?;
    let before: Layout = parsed.layout.clone();
    parsed.apply(&edits).map_err(|e| match e {
        // Command-line mistakes: the file is not at fault.
        pahole::PaholeError::UnknownMember { .. } | pahole::PaholeError::BadFieldSpec { .. } => {
            anyhow!("{e}")
        }
        e => anyhow!("{}: {e}", path.display()),
    })?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}: struct {}, {} bytes, {} members: offsets verified",
        path.display(),
        parsed.name(),
        before.size,
        before.members.len()
    );
    for note in &parsed.notes {
        let _ = writeln!(out, "  note: {note}");
    }
    for e in &edits {
        let found = parsed.layout.find(e.name());
        let (offset, size) = found.map_or((0, 0), |f| (f.offset, f.member.size));
        let _ = writeln!(
            out,
            "  added `{}` ({size} bytes){}: offset {offset}",
            e.name(),
            e.after
                .as_deref()
                .map(|a| format!(" after {a}"))
                .unwrap_or_default(),
        );
    }
    out.push('\n');
    out.push_str(&render::pahole(&parsed.layout));
    out.push('\n');
    let s = before.summary();
    let t = parsed.layout.summary();
    let _ = writeln!(
        out,
        "size {} -> {} bytes, cachelines {} -> {}, padding {} -> {}",
        s.size, t.size, s.cachelines, t.cachelines, s.padding, t.padding
    );
    match (cache_for(&before), cache_for(&parsed.layout)) {
        (Some((cache_b, why)), Some((cache_a, _))) => {
            let gb = cache_b.geometry(cpus).map_err(|e| {
                anyhow!("{}: the slab model refuses its cache: {e}", path.display())
            })?;
            let ga = cache_a.geometry(cpus).map_err(|e| {
                anyhow!(
                    "--add-field: struct {} would be {} bytes, and kmem_cache_create() \
                     refuses a cache of that object size: {e}",
                    parsed.name(),
                    parsed.layout.size
                )
            })?;
            let _ = writeln!(out, "{why}");
            out.push_str(&slab_table(
                &cache_b,
                cpus,
                (before.size, gb),
                (parsed.layout.size, ga),
                "object",
                ("before", "after"),
            ));
            if let Some(n) = vmas {
                out.push_str(&vmas_table(
                    n,
                    (before.size, gb),
                    (parsed.layout.size, ga),
                    ("before", "after"),
                    "objects",
                ));
            }
        }
        _ => bail!(
            "{}: struct {} is {} bytes: no slab cache models it",
            path.display(),
            parsed.name(),
            parsed.layout.size
        ),
    }
    Ok(out)
}
