//! The results document: one versioned JSON file per `pfntrack run`,
//! holding the parameters, seed, environment, raw per-repeat figures,
//! histogram summaries and memory. Reports, comparisons and charts read
//! only this. The schema is documented in bench-results/README.md; bump
//! [`SCHEMA_VERSION`] on any change a reader could trip over.
//!
//! Files are written atomically (a temporary file in the same directory,
//! then `rename`), so a reader never sees half a document.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use strategies::{Footprint, Strategy};

use crate::measure::hook::Hook;

/// Version of the document layout. Version 2 added the design settings
/// `params.xa_key_shift` and `params.refcount_max`; version-1 documents are
/// still read (see [`upgrade_v1`]).
pub const SCHEMA_VERSION: u32 = 2;

/// A whole run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunResults {
    /// Layout version of this document ([`SCHEMA_VERSION`] when written).
    pub schema_version: u32,
    /// What produced it.
    pub tool: ToolInfo,
    /// Where it ran.
    pub env: EnvInfo,
    /// The command line that reproduces the run.
    pub command: String,
    /// When the run started (RFC 3339, UTC).
    pub started_at: String,
    /// Wall time of the whole run, seconds.
    pub duration_s: f64,
    /// Run-wide parameters.
    pub params: RunParams,
    /// One entry per scenario, in run order.
    pub scenarios: Vec<ScenarioResult>,
}

/// The tool that wrote the document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolInfo {
    /// Always `pfntrack`.
    pub name: String,
    /// Cargo package version.
    pub version: String,
    /// `git rev-parse HEAD` of the source tree at build time, if known.
    pub git_commit: Option<String>,
    /// Whether the tree had uncommitted changes at build time.
    pub git_dirty: Option<bool>,
}

/// The machine and software the run measured on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvInfo {
    /// CPU model name (`/proc/cpuinfo`).
    pub cpu_model: String,
    /// Online CPUs.
    pub nr_cpus: u32,
    /// Operating system (`/etc/os-release` PRETTY_NAME, or the target OS).
    pub os: String,
    /// Running kernel (`uname -r`).
    pub kernel: String,
    /// rustc that built pfntrack (`rustc -V` at build time).
    pub rustc: String,
    /// Build profile (`release` or `debug`).
    pub profile: String,
    /// The timer used for per-hook latencies.
    pub timer: TimerInfo,
}

/// The per-hook timer and its calibration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimerInfo {
    /// `tsc` (serialized rdtsc/rdtscp) or `instant` (`std::time::Instant`).
    pub kind: String,
    /// Timer ticks per nanosecond (1.0 for `instant`).
    pub ticks_per_ns: f64,
    /// Cost of an empty start/stop pair, in ticks: subtracted from every
    /// sample. The mean of the fastest 99% of 50,001 pairs, which on a
    /// coarse-stepping TSC is the pair's true cost (the median is a step).
    pub overhead_ticks: f64,
    /// The same in nanoseconds.
    pub overhead_ns: f64,
    /// How far apart two readings of the timer can be, nanoseconds (the
    /// TSC's step; absent for `instant`). Per-call percentiles are
    /// multiples of it, give or take the overhead; means are finer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution_ns: Option<f64>,
    /// Why the TSC was not used where one was expected (e.g. a CPU without
    /// `constant_tsc`); absent when the timer is the best available.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
}

/// Parameters that apply to the whole run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunParams {
    /// Repeats per scenario and design.
    pub repeats: u32,
    /// Thread counts measured (`--threads N` measures 1..=N).
    pub threads: Vec<u32>,
    /// `--quick`: the short suite.
    pub quick: bool,
    /// Base seed; each scenario's seed is derived from it (see `seed` there).
    pub seed: u64,
    /// Named RNG algorithm every random choice comes from.
    pub rng: String,
    /// Designs measured, baseline first.
    pub strategies: Vec<Strategy>,
    /// Kernel config whose `vm_area_struct` layout prices the per-VMA field.
    pub layout_config: String,
    /// CPUs assumed by the slab model (objects per slab).
    pub slab_nr_cpus: u32,
    /// `xarray` design: the XArray is keyed by the VMA pointer shifted
    /// right by this many bits (0 or 6).
    pub xa_key_shift: u32,
    /// The reference count at which `vm_area_dup()` refuses
    /// (`REFCOUNT_MAX`, `INT_MAX`, unless a test lowered it).
    pub refcount_max: u32,
}

/// One scenario's results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioResult {
    /// Scenario name (a preset, a scenario file, or a trace).
    pub name: String,
    /// The scenario's full parameter set, as resolved.
    pub params: serde_json::Value,
    /// Seed the workload was generated from (absent for a replayed trace).
    pub seed: Option<u64>,
    /// Ops per worker stream.
    pub nr_ops: u64,
    /// One entry per design and thread count.
    pub designs: Vec<DesignResult>,
}

/// One design at one thread count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DesignResult {
    /// The design.
    pub strategy: Strategy,
    /// Worker threads sharing the design.
    pub threads: u32,
    /// Raw figures of every repeat, in run order.
    pub repeats: Vec<RepeatResult>,
    /// Latency distribution per hook over all repeats merged, as
    /// `(quantile, ns)` points from 0.0 (minimum) to 1.0 (maximum), for
    /// CDF charts.
    pub latency_cdf: BTreeMap<Hook, Vec<(f64, u64)>>,
    /// Kernel and simulator memory (identical across repeats: the workload
    /// is deterministic; taken from the first repeat).
    pub memory: MemoryResult,
    /// Most memtype tree entries the workers' ops held at once (net of the
    /// setup's background ioremaps; several workers: the sum of their
    /// peaks). `legacy` reserves again at every fork, the others once per
    /// whole-VMA remap. First repeat (deterministic). Absent in documents
    /// written before it was recorded: 0.
    #[serde(default)]
    pub reservations_peak: u64,
    /// Memtype frees that matched no reservation ("freeing invalid
    /// memtype" in the kernel log), the final teardown included: `legacy`'s
    /// untracks of split pieces, and iounmaps whose entry is gone. First
    /// repeat. Absent in older documents: 0.
    #[serde(default)]
    pub invalid_frees: u64,
    /// Memtype entries left once every VMA and worker ioremap was gone: the
    /// leak the design's kernel has, by its model's own count (the run
    /// fails on any other). First repeat. Absent in older documents: 0.
    #[serde(default)]
    pub reservations_leaked: u64,
}

/// One repeat of one design on one scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepeatResult {
    /// Wall time to run all worker streams, nanoseconds (includes the
    /// simulator and timer cost, identical for every design; see `null`).
    pub wall_ns: u64,
    /// Ops (all workers) per second of wall time.
    pub ops_per_sec: f64,
    /// Sum of the net (overhead-subtracted) hook latencies, nanoseconds.
    pub hook_ns_total: u64,
    /// The timer overhead subtracted in this repeat, ticks: re-measured
    /// right before it, so a change of CPU speed during the run does not
    /// skew the fastest hooks.
    pub timer_overhead_ticks: f64,
    /// Latency summary per hook that ran at least once.
    pub hooks: BTreeMap<Hook, HookSummary>,
    /// Hook errors by errno name, and mm-level refusals (`EFAULT` for a
    /// pfnmap grow, `skipped` for ops whose VMA or process is gone).
    pub errors: BTreeMap<String, u64>,
}

/// Latency distribution of one hook in one repeat (HDR histogram,
/// 3 significant digits), nanoseconds after timer-overhead subtraction.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HookSummary {
    /// Calls timed.
    pub count: u64,
    /// Mean of every call.
    pub mean_ns: f64,
    /// Mean of the fastest 99% of calls: robust to preemption and page
    /// faults of the simulator, and (unlike percentiles) finer than the
    /// clock's step.
    pub tmean_ns: f64,
    /// Median.
    pub p50_ns: u64,
    /// 90th percentile.
    pub p90_ns: u64,
    /// 99th percentile.
    pub p99_ns: u64,
    /// 99.9th percentile.
    pub p999_ns: u64,
    /// Largest sample.
    pub max_ns: u64,
}

/// Memory of one design on one scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryResult {
    /// When the design's kernel bytes peaked.
    pub peak: KernelMemory,
    /// After the last op.
    pub end: KernelMemory,
    /// The simulator process's heap at its peak, bytes (counting allocator;
    /// a cross-check, not a kernel figure).
    pub sim_heap_peak_bytes: u64,
    /// The simulator's heap after the last op, bytes.
    pub sim_heap_end_bytes: u64,
    /// Kernel bytes as the run went, sampled every few thousand ops (at
    /// most a few hundred points; empty when several workers ran).
    pub samples: Vec<MemorySample>,
}

/// One point of the memory-over-time series.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemorySample {
    /// Ops applied so far (worker 0).
    pub ops: u64,
    /// Live VMAs.
    pub nr_vmas: u64,
    /// Live VMAs holding a reservation.
    pub nr_tracked_vmas: u64,
    /// The design's kernel bytes (net of background ioremaps).
    pub kernel_bytes: u64,
}

/// Kernel memory a design holds at one moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KernelMemory {
    /// Live objects by kind, and the per-VMA field size.
    pub objects: Footprint,
    /// Live VMAs (all of them: the per-VMA field costs every one).
    pub nr_vmas: u64,
    /// Live VMAs that hold a reservation.
    pub nr_tracked_vmas: u64,
    /// Kernel bytes by object kind (slab-rounded), including
    /// `vm_area_struct` growth as `vma_field`.
    pub bytes: BTreeMap<String, u64>,
    /// Sum of `bytes`.
    pub kernel_bytes: u64,
    /// `kernel_bytes / nr_tracked_vmas` (0 with no tracked VMA).
    pub bytes_per_tracked_vma: f64,
}

/// A results file could not be read or is not a results document.
#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    /// I/O on the file failed.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed (not a `source`: the message already says it, and a
        /// source would print it twice in `Error: {:#}`).
        error: std::io::Error,
    },
    /// Not valid JSON, or not this schema.
    #[error("{}:{line}:{column}: not a pfntrack results document: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// A results document of another layout version.
    #[error(
        "{}: schema version {found}, but this pfntrack reads version {expected}; \
         re-run the benchmark or use the pfntrack that wrote it",
        path.display()
    )]
    Version {
        /// The file.
        path: PathBuf,
        /// Its version.
        found: u64,
        /// Ours.
        expected: u32,
    },
}

impl RunResults {
    /// Read and check a results document.
    pub fn load(path: &Path) -> Result<RunResults, ResultsError> {
        let text = fs::read_to_string(path).map_err(|error| ResultsError::Io {
            path: path.to_path_buf(),
            error,
        })?;
        Self::from_json(&text, path)
    }

    /// Parse a results document; `path` names it in errors.
    pub fn from_json(text: &str, path: &Path) -> Result<RunResults, ResultsError> {
        let parse_err = |e: serde_json::Error| {
            // serde_json appends " at line L column C"; the position is
            // already in front, so keep only the problem.
            let text = e.to_string();
            let message = match text.rfind(" at line ") {
                Some(i) => text[..i].to_string(),
                None => text,
            };
            ResultsError::Parse {
                path: path.to_path_buf(),
                line: e.line(),
                column: e.column(),
                message,
            }
        };
        // Check the version before the layout, so an old or new document
        // gets the version message rather than a field-by-field complaint.
        let value: serde_json::Value = serde_json::from_str(text).map_err(parse_err)?;
        match value.get("schema_version").and_then(|v| v.as_u64()) {
            Some(v) if v == u64::from(SCHEMA_VERSION) => {}
            Some(1) => {
                let upgraded = upgrade_v1(value).map_err(|message| ResultsError::Parse {
                    path: path.to_path_buf(),
                    line: 1,
                    column: 1,
                    message,
                })?;
                return serde_json::from_value(upgraded).map_err(|e| ResultsError::Parse {
                    path: path.to_path_buf(),
                    line: 1,
                    column: 1,
                    message: format!("version-1 document, after upgrade: {e}"),
                });
            }
            Some(found) => {
                return Err(ResultsError::Version {
                    path: path.to_path_buf(),
                    found,
                    expected: SCHEMA_VERSION,
                });
            }
            None => {
                return Err(ResultsError::Parse {
                    path: path.to_path_buf(),
                    line: 1,
                    column: 1,
                    message: "no numeric `schema_version` field".to_string(),
                });
            }
        }
        serde_json::from_str(text).map_err(parse_err)
    }

    /// Write the document to `path` atomically (temporary file, fsync,
    /// rename), creating the directory if needed.
    pub fn write_atomic(&self, path: &Path) -> Result<(), ResultsError> {
        let json = serde_json::to_string_pretty(self).expect("results serialize");
        write_atomic(path, json.as_bytes()).map_err(|error| ResultsError::Io {
            path: path.to_path_buf(),
            error,
        })
    }
}

/// Turn a version-1 document into version 2. Version 1 did not record the
/// design settings, but its `command` spells out `--xa-key-shift` (every
/// v1 writer put it there; absent, the run used the default 0), and no
/// command could change `REFCOUNT_MAX`. Errors name what is missing.
pub fn upgrade_v1(mut value: serde_json::Value) -> Result<serde_json::Value, String> {
    let shift = match value.get("command").and_then(|c| c.as_str()) {
        Some(command) => {
            let words: Vec<&str> = command.split_whitespace().collect();
            match words.iter().position(|w| *w == "--xa-key-shift") {
                Some(i) => words
                    .get(i + 1)
                    .and_then(|v| v.parse::<u32>().ok())
                    .ok_or_else(|| {
                        format!("version-1 document: `command` has a bad --xa-key-shift: {command}")
                    })?,
                None => 0,
            }
        }
        None => return Err("version-1 document without a `command` string".to_string()),
    };
    let params = value
        .get_mut("params")
        .and_then(|p| p.as_object_mut())
        .ok_or("version-1 document without a `params` object")?;
    params.insert("xa_key_shift".to_string(), shift.into());
    params.insert(
        "refcount_max".to_string(),
        strategies::kref::REFCOUNT_MAX.into(),
    );
    value["schema_version"] = SCHEMA_VERSION.into();
    Ok(value)
}

/// Write `bytes` to `path` so that readers see the old file or the new
/// one, never a part: write a temporary file beside it, sync, rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".to_string());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture::Fixture;

    /// The fixture as version 1 wrote it: no design settings in `params`.
    fn as_v1(r: &RunResults) -> serde_json::Value {
        let mut v = serde_json::to_value(r).unwrap();
        v["schema_version"] = 1.into();
        let p = v["params"].as_object_mut().unwrap();
        p.remove("xa_key_shift");
        p.remove("refcount_max");
        v
    }

    #[test]
    fn version_1_documents_are_upgraded_from_their_command() {
        let mut r = Fixture::new().build();
        r.command = "pfntrack run --quick --xa-key-shift 6".to_string();
        let text = as_v1(&r).to_string();
        let back = RunResults::from_json(&text, Path::new("old.json")).unwrap();
        assert_eq!(back.schema_version, SCHEMA_VERSION);
        assert_eq!(back.params.xa_key_shift, 6);
        assert_eq!(back.params.refcount_max, strategies::kref::REFCOUNT_MAX);
        r.command = "pfntrack run --quick".to_string();
        let text = as_v1(&r).to_string();
        let back = RunResults::from_json(&text, Path::new("old.json")).unwrap();
        assert_eq!(back.params.xa_key_shift, 0, "no flag: the default");
        r.command = "pfntrack run --xa-key-shift".to_string();
        let err = RunResults::from_json(&as_v1(&r).to_string(), Path::new("old.json"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("old.json:1:1:") && err.contains("--xa-key-shift"),
            "{err}"
        );
    }

    #[test]
    fn other_versions_are_refused_by_number() {
        let mut v = serde_json::to_value(Fixture::new().build()).unwrap();
        v["schema_version"] = 3.into();
        let err = RunResults::from_json(&v.to_string(), Path::new("new.json"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("schema version 3"), "{err}");
    }
}
