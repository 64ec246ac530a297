//! `pfntrack kernel-check`: replay traces on real kernels in QEMU and
//! compare every op with the model of each kernel's family; or check a
//! model against recorded transcripts without a VM; optionally time forks
//! in the guests. docs/kernel-check.md is the guide.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use clap::Args;

use crate::kernel::express::{DeviceRange, plan};
use crate::kernel::forktime::{self, KernelForkTiming, ModelForkTiming};
use crate::kernel::lockstep::{self, LoadedTrace, MsgSource, Verdict};
use crate::kernel::model::ModelChoice;
use crate::kernel::protocol::{
    ForkTimingReport, ForkTimingSpec, GUEST_DIR, GuestMsg, Hello, Job, JobTrace, PROTOCOL_VERSION,
};
use crate::kernel::series::{Family, Series};
use crate::kernel::transcript::{
    Recording, TRANSCRIPT_VERSION, TranscriptHeader, TranscriptTrace, TranscriptWriter,
    open_transcript,
};
use crate::kernel::vm::{
    KernelImage, QemuConfig, QemuDevice, Vm, cache_dir, choose_devices, find_kernel,
};
use crate::kernel::{initramfs, vm};
use crate::measure::memory::MemoryModel;
use crate::with_model;
use crate::workload::parse_trace;

/// Options of `pfntrack kernel-check`.
#[derive(Debug, Args)]
pub struct KernelCheckArgs {
    /// Trace files to replay: only ops a process can make with system
    /// calls (`pfntrack gen --scenario sysfs-bars` makes such traces).
    #[arg(value_name = "TRACE")]
    pub traces: Vec<PathBuf>,
    /// Kernel series to boot, MAJOR.MINOR, comma separated or repeated
    /// (set them up first with `scripts/kernel-vm.sh SERIES...`).
    #[arg(long = "kernel", value_name = "SERIES", value_delimiter = ',')]
    pub kernels: Vec<Series>,
    /// The model to compare with [default: the kernel family's, `legacy`
    /// before 6.16, `per-vma` from 6.16; `mutant:NAME` for a model broken
    /// on purpose].
    #[arg(long, value_name = "DESIGN")]
    pub model: Option<ModelChoice>,
    /// Also time fork and exit in each guest, with N pfnmap VMAs mapping
    /// one range, and print the ratios beside the models' (the guests then
    /// run on QEMU's instruction counter: their times count instructions).
    #[arg(long)]
    pub fork_timing: bool,
    /// The N of `--fork-timing`, ascending.
    #[arg(
        long,
        value_name = "N,...",
        value_delimiter = ',',
        default_value = "16,64,256,1024"
    )]
    pub fork_vmas: Vec<u32>,
    /// Forks timed per N (medians are over these).
    #[arg(long, default_value_t = 15, value_name = "N")]
    pub repeat: u32,
    /// Give up when a guest says nothing for this long.
    #[arg(long, default_value_t = 600, value_name = "SECS")]
    pub timeout: u64,
    /// Also save each kernel's transcript as DIR/SERIES.jsonl, to check
    /// models against later with `--transcript` (no VM needed).
    #[arg(long, value_name = "DIR")]
    pub record: Option<PathBuf>,
    /// Check recorded transcripts instead of booting (no VM needed).
    #[arg(
        long,
        value_name = "FILE",
        num_args = 1..,
        conflicts_with_all = ["kernels", "record", "fork_timing", "traces"]
    )]
    pub transcript: Vec<PathBuf>,
    /// Where `scripts/kernel-vm.sh` put the kernels [default:
    /// $PFNTRACK_CACHE, else ~/.cache/pfntrack].
    #[arg(long, value_name = "DIR")]
    pub cache: Option<PathBuf>,
    /// QEMU accelerator: `tcg` works everywhere; `kvm` only where nested
    /// virtualization does (not on the development VMs).
    #[arg(long, default_value = "tcg", value_parser = ["tcg", "kvm"])]
    pub accel: String,
    /// The QEMU binary.
    #[arg(long, default_value = "qemu-system-x86_64", value_name = "PATH")]
    pub qemu: PathBuf,
    /// A statically linked busybox [default: `busybox` on PATH].
    #[arg(long, value_name = "PATH")]
    pub busybox: Option<PathBuf>,
}

/// `println!` that reports a closed or full stdout as an error instead of
/// panicking (the caller returns it; QEMU is killed on the way out).
macro_rules! say {
    ($($arg:tt)*) => {
        writeln!(std::io::stdout().lock(), $($arg)*).context("writing to stdout")?
    };
}

/// Largest `--fork-vmas` value: far below `max_map_count`.
const MAX_FORK_VMAS: u32 = 16_384;

/// `name` on `$PATH` (or `name` itself if it has a slash).
fn which(name: &Path) -> Option<PathBuf> {
    if name.components().count() > 1 {
        return name.is_file().then(|| name.to_path_buf());
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

/// Read, parse and plan every trace; refusals name the file and line.
fn load_traces(paths: &[PathBuf]) -> anyhow::Result<Vec<LoadedTrace>> {
    paths
        .iter()
        .map(|p| {
            let text = fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            load_trace(&p.display().to_string(), text)
        })
        .collect()
}

fn load_trace(name: &str, text: String) -> anyhow::Result<LoadedTrace> {
    let path = Path::new(name);
    let trace = parse_trace(text.as_bytes(), path)?;
    let plan = plan(&trace, path, &text)?;
    Ok(LoadedTrace {
        name: name.to_string(),
        text,
        trace,
        plan,
    })
}

/// The model for a kernel of `series`: `--model`, else the family's.
fn model_for(flag: Option<ModelChoice>, series: Series) -> ModelChoice {
    flag.unwrap_or_else(|| series.family().default_model())
}

/// Run `pfntrack kernel-check`. Exit status 0 when every kernel agrees
/// with its model, 1 at a divergence.
pub fn run(args: KernelCheckArgs) -> anyhow::Result<ExitCode> {
    if !args.transcript.is_empty() {
        return check_transcripts(&args);
    }
    ensure!(
        !args.kernels.is_empty(),
        "name the kernels to boot with --kernel SERIES (e.g. --kernel 6.1,7.3), or check \
         recorded --transcript files"
    );
    ensure!(
        !args.traces.is_empty() || args.fork_timing,
        "name a trace to replay, or ask for --fork-timing"
    );
    for (i, s) in args.kernels.iter().enumerate() {
        ensure!(!args.kernels[..i].contains(s), "--kernel names {s} twice");
    }
    ensure!(
        (1..=1000).contains(&args.repeat),
        "--repeat must be in 1..=1000"
    );
    ensure!(
        (10..=86_400).contains(&args.timeout),
        "--timeout must be in 10..=86400 seconds"
    );
    if args.fork_timing {
        ensure!(
            !args.fork_vmas.is_empty()
                && args.fork_vmas.windows(2).all(|w| w[0] < w[1])
                && args.fork_vmas[0] >= 1
                && *args.fork_vmas.last().expect("non-empty") <= MAX_FORK_VMAS,
            "--fork-vmas must be ascending numbers in 1..={MAX_FORK_VMAS}"
        );
    }
    // Everything that can be checked is checked before anything boots.
    let traces = load_traces(&args.traces)?;
    let cache = cache_dir(args.cache.as_deref())?;
    let images: Vec<KernelImage> = args
        .kernels
        .iter()
        .map(|&s| find_kernel(&cache, s))
        .collect::<anyhow::Result<_>>()?;
    let models: Vec<ModelChoice> = args
        .kernels
        .iter()
        .map(|&s| model_for(args.model, s))
        .collect();
    let qemu = which(&args.qemu).with_context(|| {
        format!(
            "{} not found: run scripts/kernel-vm.sh (it installs qemu-system-x86)",
            args.qemu.display()
        )
    })?;
    let busybox = match &args.busybox {
        Some(p) => p.clone(),
        None => which(Path::new("busybox")).context(
            "busybox not found: install busybox-static (scripts/kernel-vm.sh does), or pass --busybox",
        )?,
    };
    let qemu_cfg = QemuConfig {
        qemu,
        accel: args.accel.clone(),
        timeout: Duration::from_secs(args.timeout),
        // Guest fork times count instructions, whatever the host does.
        icount: args.fork_timing,
    };

    // One PCI device per device index, big enough for every trace.
    let mut needs: Vec<DeviceRange> = Vec::new();
    for t in &traces {
        for (k, d) in t.plan.devices.iter().enumerate() {
            let bytes = d.bytes();
            match needs.get_mut(k) {
                Some(n) => {
                    n.end = n.start + n.bytes().max(bytes);
                    n.wc |= d.wc;
                }
                None => needs.push(DeviceRange {
                    start: 0,
                    end: bytes,
                    wc: d.wc,
                }),
            }
        }
    }
    if needs.is_empty() {
        // The fork probe and the timing map a page of device 0.
        needs.push(DeviceRange {
            start: 0,
            end: vm::EDU_BAR_BYTES,
            wc: false,
        });
    }
    let (qemu_devices, job_devices) = choose_devices(&needs);
    let spec = args.fork_timing.then(|| ForkTimingSpec {
        vmas: args.fork_vmas.clone(),
        repeat: args.repeat,
    });
    let job = Job {
        version: PROTOCOL_VERSION,
        devices: job_devices,
        traces: traces
            .iter()
            .enumerate()
            .map(|(i, t)| JobTrace {
                name: t.name.clone(),
                guest_path: format!("{GUEST_DIR}/trace-{i}"),
            })
            .collect(),
        fork_timing: spec.clone(),
    };
    let work = WorkDir::new()?;
    let initrd = work.path.join("initrd.cpio");
    write_initrd(&initrd, &busybox, &job, &traces)?;
    let geo = MemoryModel::new("default", 4)
        .context("the default layout model")?
        .vma_slab_geometry(false);

    let mut diverged = false;
    let mut timings: Vec<KernelForkTiming> = Vec::new();
    // A kernel that cannot be checked (it does not boot, its guest fails)
    // does not stop the others; it makes the command fail at the end.
    let mut failed: Vec<Series> = Vec::new();
    for (img, model) in images.iter().zip(&models) {
        let run = match run_kernel(&KernelRun {
            img,
            model: *model,
            traces: &traces,
            job: &job,
            initrd: &initrd,
            qemu: &qemu_cfg,
            devices: &qemu_devices,
            work: &work.path,
            record: args.record.as_deref(),
            geo,
        }) {
            Ok(run) => run,
            Err(e) => {
                eprintln!("Error: {e:#}");
                failed.push(img.series);
                continue;
            }
        };
        diverged |= run.diverged;
        if let Some(r) = run.timing {
            timings.push(KernelForkTiming {
                series: img.series,
                family: img.series.family(),
                model: Some(*model),
                report: r,
            });
        }
    }
    if let Some(spec) = &spec {
        let mut model_timings: Vec<ModelForkTiming> = Vec::new();
        for m in &models {
            if model_timings.iter().all(|t| t.model != *m) {
                let t = with_model!(*m, T => forktime::time_model::<T>(*m, &spec.vmas, spec.repeat, geo));
                model_timings.push(t);
            }
        }
        say!();
        say!("{}", forktime::render(&timings, &model_timings).trim_end());
    }
    if !failed.is_empty() {
        let names: Vec<String> = failed.iter().map(Series::to_string).collect();
        bail!("could not check kernel(s) {}", names.join(", "));
    }
    work.done();
    Ok(if diverged {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The initramfs for `job` and `traces`, written to `path`.
fn write_initrd(
    path: &Path,
    busybox: &Path,
    job: &Job,
    traces: &[LoadedTrace],
) -> anyhow::Result<()> {
    let mut extra = vec![(
        "job.json".to_string(),
        serde_json::to_vec_pretty(job).expect("jobs serialize"),
    )];
    for (i, t) in traces.iter().enumerate() {
        extra.push((format!("trace-{i}"), t.text.as_bytes().to_vec()));
    }
    let archive = initramfs::build(busybox, &extra)?;
    let bytes = archive
        .write(Vec::new())
        .context("building the initramfs")?;
    crate::results::write_atomic(path, &bytes)
        .with_context(|| format!("writing {}", path.display()))
}

/// A scratch directory for initramfs images and console logs: removed
/// after a clean run, kept (and named) after a failure.
struct WorkDir {
    path: PathBuf,
    keep: bool,
}

impl WorkDir {
    fn new() -> anyhow::Result<WorkDir> {
        let base = std::env::temp_dir();
        for i in 0..1000 {
            let path = base.join(format!("pfntrack-kernel-check-{}-{i}", std::process::id()));
            match fs::create_dir(&path) {
                Ok(()) => return Ok(WorkDir { path, keep: true }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e).with_context(|| format!("creating {}", path.display())),
            }
        }
        bail!("no free scratch directory name in {}", base.display())
    }

    fn done(mut self) {
        self.keep = false;
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if self.keep {
            eprintln!("kernel-check: console logs kept in {}", self.path.display());
        } else {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// Everything one boot needs.
struct KernelRun<'a> {
    img: &'a KernelImage,
    model: ModelChoice,
    traces: &'a [LoadedTrace],
    job: &'a Job,
    initrd: &'a Path,
    qemu: &'a QemuConfig,
    devices: &'a [QemuDevice],
    work: &'a Path,
    record: Option<&'a Path>,
    geo: strategies::slab::SlabGeometry,
}

/// What one boot found.
struct KernelOutcome {
    diverged: bool,
    timing: Option<ForkTimingReport>,
}

/// Read the hello and check that the guest is the kernel asked for and
/// behaves like its family.
fn read_hello(src: &mut dyn MsgSource, series: Series) -> anyhow::Result<Hello> {
    let hello = match src.next_msg()? {
        Some(GuestMsg::Hello(h)) => h,
        Some(GuestMsg::Error { message }) => bail!("the guest failed: {message}"),
        Some(other) => bail!("expected the guest's hello, got {other:?}"),
        None => bail!("the guest said nothing"),
    };
    ensure!(
        hello.version == PROTOCOL_VERSION,
        "the guest speaks protocol v{}, the host v{PROTOCOL_VERSION}",
        hello.version
    );
    ensure!(
        Series::of_release(&hello.release) == Some(series),
        "asked for kernel {series}, but the guest runs {}",
        hello.release
    );
    let by_version = series.family();
    match hello.family {
        Some(f) if f == by_version => {}
        Some(f) => bail!(
            "kernel {}: its fork probe left {} memtype entries for one mapped page, which is \
             how {f} behaves, but {series} is {by_version} by version",
            hello.release,
            hello.fork_probe_entries
        ),
        None => bail!(
            "kernel {}: the fork probe left {} memtype entries for one mapped page (1 or 2 \
             expected): PAT off, or no debugfs?",
            hello.release,
            hello.fork_probe_entries
        ),
    }
    Ok(hello)
}

/// Read to `Done`: the fork timing, if any. Ops of a trace cut short by
/// a divergence are skipped.
fn read_rest(src: &mut dyn MsgSource) -> anyhow::Result<Option<ForkTimingReport>> {
    let mut timing = None;
    loop {
        match src.next_msg()? {
            Some(GuestMsg::ForkTiming(r)) => timing = Some(r),
            Some(GuestMsg::Done) => return Ok(timing),
            Some(GuestMsg::Error { message }) => bail!("the guest failed: {message}"),
            Some(_) => {}
            None => bail!("the guest's messages ended before it was done"),
        }
    }
}

fn run_kernel(r: &KernelRun<'_>) -> anyhow::Result<KernelOutcome> {
    let series = r.img.series;
    let console = r.work.join(format!("console-{series}.log"));
    let started = Instant::now();
    let mut vm = Vm::boot(r.qemu, &r.img.vmlinuz, r.initrd, r.devices, &console)
        .with_context(|| format!("kernel {series}"))?;
    let mut writer = match r.record {
        Some(dir) => Some(TranscriptWriter::create(
            &dir.join(format!("{series}.jsonl")),
            &TranscriptHeader {
                transcript: TRANSCRIPT_VERSION,
                series,
                package: r.img.info("package").to_string(),
                version: r.img.info("version").to_string(),
                devices: r.job.devices.clone(),
                traces: r
                    .traces
                    .iter()
                    .map(|t| TranscriptTrace {
                        name: t.name.clone(),
                        text: t.text.clone(),
                    })
                    .collect(),
            },
        )?),
        None => None,
    };
    let result = (|| -> anyhow::Result<KernelOutcome> {
        let mut rec;
        let src: &mut dyn MsgSource = match writer.as_mut() {
            Some(out) => {
                rec = Recording {
                    inner: &mut vm,
                    out,
                };
                &mut rec
            }
            None => &mut vm,
        };
        let hello = read_hello(src, series)?;
        let booted = started.elapsed();
        say!(
            "kernel {series}: {} ({} {}), {} by version and by fork probe ({} entr{} for one \
             page after a fork); booted in {:.1} s",
            hello.release,
            r.img.info("package"),
            r.img.info("version"),
            series.family(),
            hello.fork_probe_entries,
            if hello.fork_probe_entries == 1 {
                "y"
            } else {
                "ies"
            },
            booted.as_secs_f64()
        );
        let mut diverged = false;
        if !r.traces.is_empty() {
            let t0 = Instant::now();
            let m = r.model;
            let v = with_model!(m, T => lockstep::compare::<T>(m, &hello, r.traces, src, r.geo))?;
            diverged = report_verdict(&v, m, r.traces.len(), t0.elapsed())?;
        }
        // Without a transcript or timing to finish, a divergence ends the
        // boot here.
        let timing = if diverged && r.record.is_none() && r.job.fork_timing.is_none() {
            None
        } else {
            read_rest(src)?
        };
        Ok(KernelOutcome { diverged, timing })
    })();
    vm.kill();
    let outcome = result.with_context(|| format!("kernel {series}"))?;
    if let Some(w) = writer {
        let path = w.finish()?;
        say!("  transcript: {}", path.display());
    }
    Ok(outcome)
}

/// Print a verdict. Return: whether it is a divergence.
fn report_verdict(
    v: &Verdict,
    model: ModelChoice,
    nr_traces: usize,
    took: Duration,
) -> anyhow::Result<bool> {
    match v {
        Verdict::Agree(a) => {
            say!(
                "  {} trace(s), {} ops ({} system calls) agree with model {model}: up to {} \
                 memtype entries overlapping the BARs, {} \"freeing invalid memtype\" messages \
                 matched; checked in {:.1} s",
                nr_traces.min(a.traces.max(nr_traces)),
                a.ops,
                a.syscalls,
                a.peak_entries,
                a.invalid_frees,
                took.as_secs_f64()
            );
            Ok(false)
        }
        Verdict::Diverge(d) => {
            say!("  {}", d.to_string().trim_end());
            Ok(true)
        }
    }
}

/// `--transcript`: check models against recorded runs.
fn check_transcripts(args: &KernelCheckArgs) -> anyhow::Result<ExitCode> {
    let geo = MemoryModel::new("default", 4)
        .context("the default layout model")?
        .vma_slab_geometry(false);
    let mut diverged = false;
    for path in &args.transcript {
        let (header, mut reader) = open_transcript(path)?;
        let traces: Vec<LoadedTrace> = header
            .traces
            .iter()
            .map(|t| load_trace(&t.name, t.text.clone()))
            .collect::<anyhow::Result<_>>()
            .with_context(|| format!("{}: a recorded trace", path.display()))?;
        let model = model_for(args.model, header.series);
        let hello = read_hello(&mut reader, header.series)
            .with_context(|| format!("{}", path.display()))?;
        say!(
            "{}: kernel {} ({} {}), {}",
            path.display(),
            hello.release,
            header.package,
            header.version,
            Family::name(header.series.family())
        );
        let t0 = Instant::now();
        let v = with_model!(model, T => lockstep::compare::<T>(model, &hello, &traces, &mut reader, geo))
            .with_context(|| format!("{}", path.display()))?;
        diverged |= report_verdict(&v, model, traces.len(), t0.elapsed())?;
    }
    Ok(if diverged {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
