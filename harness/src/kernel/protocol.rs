//! The host <-> guest protocol of `kernel-check`.
//!
//! Host -> guest: a [`Job`] (JSON) and the trace files, inside the
//! initramfs. Guest -> host: [`GuestMsg`]s, one JSON object a line, each
//! line framed as `@pfntrack <json>` on the guest's second serial port
//! (`/dev/ttyS1`), which carries nothing else: the kernel's console is the
//! first port. A line that does not start with the frame is ignored (and
//! counted); a framed line that does not parse is a garbled channel and
//! stops the run. The same messages, one a line, are a transcript
//! (`--record`), which `--transcript` checks again without a VM.

use serde::{Deserialize, Serialize};
use strategies::memtype::MemtypeEntry;

use super::express::Plan;
use super::series::Family;

/// Version of the job and message formats; both sides must agree.
pub const PROTOCOL_VERSION: u32 = 1;

/// What starts every message line.
pub const FRAME: &str = "@pfntrack ";

/// Where the initramfs keeps pfntrack's files.
pub const GUEST_DIR: &str = "/pfntrack";

/// The guest's work, written by the host into the initramfs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// [`PROTOCOL_VERSION`].
    pub version: u32,
    /// The PCI devices whose BARs stand for the traces' device ranges:
    /// device k of every trace is `devices[k]`.
    pub devices: Vec<GuestDevice>,
    /// The traces to replay, in order.
    pub traces: Vec<JobTrace>,
    /// Time forks in the guest, if set.
    pub fork_timing: Option<ForkTimingSpec>,
}

/// One PCI device of the guest and the BAR that is mapped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestDevice {
    /// Its sysfs name, `DOMAIN:BUS:SLOT.FN` (`0000:00:03.0`).
    pub pci: String,
    /// The BAR index (`resourceN`).
    pub bar: u32,
    /// Whether the BAR must be prefetchable (some remap asks for WC, which
    /// only `resourceN_wc` of a prefetchable BAR gives).
    pub needs_wc: bool,
}

/// A trace in the initramfs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobTrace {
    /// The name the host knows it by (its path on the host).
    pub name: String,
    /// Its path in the guest.
    pub guest_path: String,
}

/// Fork timing in the guest: for each N a process maps its own BAR page N
/// times; then, round after round, each of them forks once (and the child
/// exits at once).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForkTimingSpec {
    /// The numbers of pfnmap VMAs mapping the one page, ascending.
    pub vmas: Vec<u32>,
    /// Rounds timed (plus one untimed warm-up round).
    pub repeat: u32,
}

/// A system call's result in the guest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SysResult {
    /// It succeeded.
    Ok,
    /// It failed with this errno (`EINVAL`, `EFAULT`, ... or a number).
    Err(String),
    /// No system call: the op is half of one (a pfnmap `mmap` whose
    /// syscall is made with its `remap`), or names a VMA whose mapping
    /// failed earlier.
    NoSyscall,
}

/// One BAR of the guest, as its sysfs `resource` file shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestBar {
    /// Physical address of its first byte.
    pub start: u64,
    /// One past its last byte.
    pub end: u64,
    /// `IORESOURCE_PREFETCH`.
    pub prefetchable: bool,
}

/// Messages from the guest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GuestMsg {
    /// The guest is up: what it runs on.
    Hello(Hello),
    /// A trace starts; `entries` overlap the BARs before its first op
    /// (left by an earlier trace, or by the kernel).
    Start {
        /// Index into [`Job::traces`].
        trace: usize,
        /// The trace's device plan as the guest derived it.
        plan: Plan,
        /// Memtype entries overlapping the BARs now.
        entries: Vec<MemtypeEntry>,
    },
    /// One op was replayed.
    Op(OpReport),
    /// A trace's last op was replayed (its processes are then killed,
    /// unobserved).
    End {
        /// Index into [`Job::traces`].
        trace: usize,
    },
    /// Fork timing results.
    ForkTiming(ForkTimingReport),
    /// Everything is done; the guest powers off.
    Done,
    /// The guest could not go on.
    Error {
        /// What went wrong.
        message: String,
    },
}

/// What the guest runs on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// [`PROTOCOL_VERSION`] of the player.
    pub version: u32,
    /// `uname -r`.
    pub release: String,
    /// `/proc/version`.
    pub proc_version: String,
    /// The BAR of each job device.
    pub bars: Vec<GuestBar>,
    /// The top-level `System RAM` ranges of `/proc/iomem`.
    pub ram: Vec<(u64, u64)>,
    /// Memtype entries overlapping the BARs at start.
    pub entries: Vec<MemtypeEntry>,
    /// Entries one page's range had after a fork of a process mapping it.
    pub fork_probe_entries: usize,
    /// The family that shows ([`Family::from_fork_probe`]).
    pub family: Option<Family>,
    /// The kernel's `x86/PAT:` boot lines (configuration, warnings).
    pub boot_pat_log: Vec<String>,
}

/// The replay of one op.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpReport {
    /// Index into [`Job::traces`].
    pub trace: usize,
    /// Worker stream.
    pub worker: usize,
    /// Op index in the stream.
    pub index: usize,
    /// Its line in the trace.
    pub line: usize,
    /// What its system call returned.
    pub result: SysResult,
    /// Memtype entries overlapping the BARs afterwards.
    pub entries: Vec<MemtypeEntry>,
    /// New `x86/PAT:` kernel log lines.
    pub klog: Vec<String>,
}

/// Fork timing of one guest, in nanoseconds of the guest's clock (guest
/// instructions when QEMU runs it on its instruction counter).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForkTimingReport {
    /// The pfnmap VMA counts.
    pub vmas: Vec<u32>,
    /// `fork()` in the parent (until it returns), every sample, per count.
    pub fork_ns: Vec<Vec<u64>>,
    /// The child's exit (which unmaps every VMA) until `waitpid()` returns.
    pub exit_ns: Vec<Vec<u64>>,
    /// The same with no pfnmap VMA at all: the process's own cost.
    pub base_fork_ns: Vec<u64>,
    /// The same for exit.
    pub base_exit_ns: Vec<u64>,
}

/// Frame a message as a channel line (with its newline).
pub fn frame(msg: &GuestMsg) -> String {
    let mut s = String::from(FRAME);
    s.push_str(&serde_json::to_string(msg).expect("messages serialize"));
    s.push('\n');
    s
}

/// A channel line: `Ok(None)` if it is not framed (noise), the message if
/// it is, an error if a framed line does not parse.
pub fn unframe(line: &str) -> Result<Option<GuestMsg>, serde_json::Error> {
    let line = line.trim_end_matches(['\r', '\n']);
    match line.strip_prefix(FRAME) {
        None => Ok(None),
        Some(json) => serde_json::from_str(json).map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strategies::CacheMode;

    #[test]
    fn frames_round_trip() {
        let msg = GuestMsg::Op(OpReport {
            trace: 0,
            worker: 0,
            index: 3,
            line: 12,
            result: SysResult::Err("EFAULT".into()),
            entries: vec![MemtypeEntry {
                start: 0xfe90_0000,
                end: 0xfe90_4000,
                ty: CacheMode::UC_MINUS,
            }],
            klog: vec!["x86/PAT: a:1 freeing invalid memtype [mem 0x1000-0x1fff]".into()],
        });
        let line = frame(&msg);
        assert!(line.starts_with(FRAME) && line.ends_with('\n'));
        assert_eq!(unframe(&line.replace('\n', "\r\n")).unwrap(), Some(msg));
        assert_eq!(unframe("[    1.0] random console noise").unwrap(), None);
        assert!(unframe("@pfntrack {\"op\": 3").is_err());
    }
}
