//! The trace player that runs inside the guest (`pfntrack guest-play`):
//! the same binary, parser and trace semantics as the host, replaying each
//! op of a trace as the system calls a process makes, and reporting after
//! every op what the kernel shows: the memtype entries overlapping the
//! BARs and any new `x86/PAT:` log lines.
//!
//! | op | system call (in the agent of the op's process) |
//! |---|---|
//! | `proc` | the player forks a new agent |
//! | `mmap ... pfnmap` + `remap` of it | `mmap(MAP_SHARED)` of the BAR's `resourceN` (UC-) or `resourceN_wc` (WC) at the pfn's offset |
//! | `mmap ... normal` | anonymous `mmap()` |
//! | `fork` | `fork()` of the parent's agent |
//! | `split V AT` | `mprotect()` of `[AT, end)` to the other protection (RW <-> R) |
//! | `munmap` | `munmap()` of the pages |
//! | `mremap move` | `mremap(MREMAP_MAYMOVE \| MREMAP_FIXED)` to a fresh address |
//! | `mremap shrink` | `mremap()` in place |
//! | `mremap grow` | `mremap()` in place for a pfnmap VMA (the kernel refuses: EFAULT); `MREMAP_MAYMOVE` for an ordinary one, which the kernel may move |
//! | `exit` | `_exit()` of the agent |
//!
//! Mappings go at addresses the player picks (`MAP_FIXED_NOREPLACE`),
//! each followed by a gap, so no two of them are adjacent and the kernel
//! never merges ordinary ones.

pub mod agent;
pub mod sys;
pub mod timing;

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail, ensure};
use strategies::CacheMode;
use strategies::memtype::MemtypeEntry;
use strategies::phys::PAGE_SIZE;

use self::agent::{Agent, BarFiles, Cmd, Hub};
use super::express::{Plan, plan};
use super::observe::{
    IORESOURCE_PREFETCH, entries_overlapping, is_pat_log, kmsg_text, parse_iomem_ram,
    parse_memtype_list, parse_resource_line,
};
use super::protocol::{
    GuestBar, GuestMsg, Hello, Job, OpReport, PROTOCOL_VERSION, SysResult, frame,
};
use super::series::Family;
use crate::workload::validate::MmShadow;
use crate::workload::{MremapKind, Op, Pid, VmaId, parse_trace};

/// Where the player reads the kernel (the real files in the guest; tests
/// on the host point them at fakes).
#[derive(Debug, Clone)]
pub struct Paths {
    /// `/sys/bus/pci/devices`.
    pub pci_devices: PathBuf,
    /// debugfs `x86/pat_memtype_list`.
    pub pat_memtype_list: PathBuf,
    /// `/dev/kmsg`.
    pub kmsg: PathBuf,
    /// `/proc/iomem`.
    pub iomem: PathBuf,
}

impl Default for Paths {
    fn default() -> Self {
        Paths {
            pci_devices: "/sys/bus/pci/devices".into(),
            pat_memtype_list: super::observe::PAT_MEMTYPE_LIST.into(),
            kmsg: "/dev/kmsg".into(),
            iomem: "/proc/iomem".into(),
        }
    }
}

/// First address the player maps at; far from where the kernel puts
/// mappings it chooses itself (below the stack, near 0x7fff...).
const MAP_BASE: u64 = 0x1000_0000_0000;
/// Last address it may use.
const MAP_LIMIT: u64 = 0x6000_0000_0000;
/// Unmapped pages after each mapping.
const MAP_GAP_PAGES: u64 = 16;

/// The framed message channel to the host.
struct Channel {
    out: File,
}

impl Channel {
    fn send(&mut self, msg: &GuestMsg) -> io::Result<()> {
        self.out.write_all(frame(msg).as_bytes())?;
        self.out.flush()
    }
}

/// New kernel log lines, read from `/dev/kmsg` without blocking.
struct Kmsg {
    file: Option<File>,
}

impl Kmsg {
    fn open(path: &Path) -> Kmsg {
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .ok();
        Kmsg { file }
    }

    /// The `x86/PAT:` lines logged since the last call.
    fn pat_lines(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        let Some(f) = &mut self.file else {
            return out;
        };
        let mut buf = vec![0u8; 8192];
        loop {
            match f.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    let rec = String::from_utf8_lossy(&buf[..n]);
                    let text = kmsg_text(&rec);
                    if is_pat_log(text) {
                        out.push(text.to_string());
                    }
                }
                // EPIPE: records were overwritten before we read them.
                Err(e) if e.raw_os_error() == Some(libc::EPIPE) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        out
    }
}

/// What the player knows of the guest's devices.
struct Guest {
    paths: Paths,
    bars: Vec<GuestBar>,
    kmsg: Kmsg,
}

impl Guest {
    fn bar_ranges(&self) -> Vec<(u64, u64)> {
        self.bars.iter().map(|b| (b.start, b.end)).collect()
    }

    /// The memtype entries overlapping the BARs now.
    fn entries(&self) -> anyhow::Result<Vec<MemtypeEntry>> {
        let text = fs::read_to_string(&self.paths.pat_memtype_list).with_context(|| {
            format!(
                "reading {} (PAT off, or no debugfs?)",
                self.paths.pat_memtype_list.display()
            )
        })?;
        Ok(entries_overlapping(
            &parse_memtype_list(&text),
            &self.bar_ranges(),
        ))
    }
}

/// Run the job at `job` and report on `channel` (the guest's second serial
/// port). Every failure is also reported to the host as an error message.
pub fn play(job: &Path, channel: &Path, paths: Paths) -> anyhow::Result<()> {
    let out = OpenOptions::new()
        .write(true)
        .open(channel)
        .with_context(|| format!("opening the channel {}", channel.display()))?;
    // A file in tests, a tty in the guest.
    let _ = sys::tty_raw(out.as_raw_fd());
    let mut ch = Channel { out };
    let r = play_on(job, &mut ch, paths);
    if let Err(e) = &r {
        let _ = ch.send(&GuestMsg::Error {
            message: format!("{e:#}"),
        });
    }
    r
}

fn play_on(job_path: &Path, ch: &mut Channel, paths: Paths) -> anyhow::Result<()> {
    let text = fs::read_to_string(job_path)
        .with_context(|| format!("reading the job {}", job_path.display()))?;
    let job: Job = serde_json::from_str(&text)
        .with_context(|| format!("parsing the job {}", job_path.display()))?;
    ensure!(
        job.version == PROTOCOL_VERSION,
        "job format v{}, but this player reads v{PROTOCOL_VERSION}",
        job.version
    );
    // Agents reap their children at once; orphans come back to us.
    sys::sigchld(true);
    sys::set_child_subreaper().context("PR_SET_CHILD_SUBREAPER")?;

    let mut files = BarFiles::default();
    let mut bars = Vec::new();
    for (k, d) in job.devices.iter().enumerate() {
        let dir = paths.pci_devices.join(&d.pci);
        let res = fs::read_to_string(dir.join("resource"))
            .with_context(|| format!("device {k}: reading {}/resource", dir.display()))?;
        let (start, end, flags) = parse_resource_line(&res, d.bar as usize).with_context(|| {
            format!(
                "device {k}: {} has no BAR {} with a memory range",
                d.pci, d.bar
            )
        })?;
        let prefetchable = flags & IORESOURCE_PREFETCH != 0;
        ensure!(
            prefetchable || !d.needs_wc,
            "device {k}: BAR {} of {} is not prefetchable, but a trace maps it WC",
            d.bar,
            d.pci
        );
        let uc = dir.join(format!("resource{}", d.bar));
        let wc = dir.join(format!("resource{}_wc", d.bar));
        files.paths.push((
            uc.to_string_lossy().into_owned(),
            wc.exists().then(|| wc.to_string_lossy().into_owned()),
        ));
        bars.push(GuestBar {
            start,
            end,
            prefetchable,
        });
    }
    let mut kmsg = Kmsg::open(&paths.kmsg);
    let boot_pat_log = kmsg.pat_lines();
    let ram = fs::read_to_string(&paths.iomem)
        .map(|t| parse_iomem_ram(&t))
        .unwrap_or_default();
    let mut guest = Guest { paths, bars, kmsg };
    let mut hub = Hub::new(files).context("listening for agents")?;
    let mut next_addr = MAP_BASE;

    let entries = guest.entries()?;
    let fork_probe_entries = if guest.bars.is_empty() {
        0
    } else {
        fork_probe(&mut hub, &guest, &mut next_addr)?
    };
    // The probe's own log lines, if any, belong to the boot.
    let mut boot_pat_log = boot_pat_log;
    boot_pat_log.extend(guest.kmsg.pat_lines());
    ch.send(&GuestMsg::Hello(Hello {
        version: PROTOCOL_VERSION,
        release: fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
            .to_string(),
        proc_version: fs::read_to_string("/proc/version")
            .unwrap_or_default()
            .trim()
            .to_string(),
        bars: guest.bars.clone(),
        ram,
        entries,
        fork_probe_entries,
        family: Family::from_fork_probe(fork_probe_entries),
        boot_pat_log,
    }))?;

    for (t, jt) in job.traces.iter().enumerate() {
        let text = fs::read_to_string(&jt.guest_path)
            .with_context(|| format!("reading {}", jt.guest_path))?;
        let name = Path::new(&jt.name);
        let trace = parse_trace(text.as_bytes(), name)?;
        let plan = plan(&trace, name, &text)?;
        for (k, d) in plan.devices.iter().enumerate() {
            let bar = guest.bars.get(k).with_context(|| {
                format!(
                    "{}: device {k} has no guest BAR (the job has too few)",
                    jt.name
                )
            })?;
            ensure!(
                d.bytes() <= bar.end - bar.start,
                "{}: device {k} is {:#x} bytes, larger than its guest BAR ({:#x})",
                jt.name,
                d.bytes(),
                bar.end - bar.start
            );
        }
        ch.send(&GuestMsg::Start {
            trace: t,
            plan: plan.clone(),
            entries: guest.entries()?,
        })?;
        let mut retired = Vec::new();
        for (w, ops) in trace.workload.workers.iter().enumerate() {
            let mut p = Player {
                hub: &mut hub,
                plan: &plan,
                next_addr: &mut next_addr,
                procs: HashMap::new(),
                vmas: HashMap::new(),
                shadow: MmShadow::for_worker(&[]),
            };
            for (i, op) in ops.iter().enumerate() {
                let result = p
                    .apply(op)
                    .with_context(|| format!("{}: worker {w}, op {i} ({op})", jt.name))?;
                ch.send(&GuestMsg::Op(OpReport {
                    trace: t,
                    worker: w,
                    index: i,
                    line: trace.lines.line(Some(w), i).unwrap_or(0),
                    result,
                    entries: guest.entries()?,
                    klog: guest.kmsg.pat_lines(),
                }))?;
            }
            retired.extend(p.procs.into_values().flatten());
        }
        ch.send(&GuestMsg::End { trace: t })?;
        // Unobserved clean-up: the next trace starts from what is left.
        for a in retired {
            a.exit().context("ending a trace's process")?;
        }
        guest.kmsg.pat_lines();
    }
    if let Some(spec) = &job.fork_timing {
        ensure!(!guest.bars.is_empty(), "fork timing needs a device to map");
        ensure!(
            spec.vmas.len() as u64 <= (guest.bars[0].end - guest.bars[0].start) / PAGE_SIZE,
            "fork timing needs a page of device 0 per N"
        );
        let report = timing::fork_timing(spec, &mut hub, &mut next_addr)?;
        ch.send(&GuestMsg::ForkTiming(report))?;
    }
    ch.send(&GuestMsg::Done)?;
    Ok(())
}

/// Map one BAR page in a process, fork it, and count the memtype entries
/// of that page: 2 where fork reserves again (`VM_PAT`), 1 where the child
/// shares the reservation. Both processes are gone afterwards.
fn fork_probe(hub: &mut Hub, guest: &Guest, next_addr: &mut u64) -> anyhow::Result<usize> {
    let mut parent = hub.spawn().context("starting the probe process")?;
    let addr = alloc_addr(next_addr, 1)?;
    parent
        .call(Cmd::MmapBar {
            addr,
            len: PAGE_SIZE,
            device: 0,
            offset: 0,
            wc: false,
        })?
        .map_err(|e| anyhow::anyhow!("fork probe: mmap of device 0's BAR file: {e}"))?;
    let child = hub
        .fork(&mut parent)?
        .map_err(|e| anyhow::anyhow!("fork probe: fork: {e}"))?;
    let page = (guest.bars[0].start, guest.bars[0].start + PAGE_SIZE);
    let n = guest
        .entries()?
        .iter()
        .filter(|e| e.start < page.1 && page.0 < e.end)
        .count();
    child.exit()?;
    parent.exit()?;
    Ok(n)
}

fn alloc_addr(next: &mut u64, pages: u64) -> anyhow::Result<u64> {
    let a = *next;
    let end = pages
        .checked_add(MAP_GAP_PAGES)
        .and_then(|p| p.checked_mul(PAGE_SIZE))
        .and_then(|b| a.checked_add(b))
        .filter(|&e| e <= MAP_LIMIT)
        .context("the player ran out of address space for new mappings")?;
    *next = end;
    Ok(a)
}

/// A mapping of a trace VMA in the guest.
#[derive(Debug, Clone, Copy)]
struct GVma {
    pid: Pid,
    addr: u64,
    pages: u64,
    prot: i32,
    kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A pfnmap `mmap` whose system call comes with its `remap`.
    PendingBar,
    /// A BAR mapping: device, page offset in the BAR, WC file or not.
    Bar {
        device: usize,
        off_pages: u64,
        wc: bool,
    },
    /// Anonymous memory.
    Anon,
    /// Its mapping failed: later ops on it make no system call.
    Absent,
}

fn other_prot(prot: i32) -> i32 {
    if prot == libc::PROT_READ {
        libc::PROT_READ | libc::PROT_WRITE
    } else {
        libc::PROT_READ
    }
}

/// One worker stream's processes and VMAs.
struct Player<'a> {
    hub: &'a mut Hub,
    plan: &'a Plan,
    next_addr: &'a mut u64,
    /// `None`: a fork that failed, so the process does not exist.
    procs: HashMap<Pid, Option<Agent>>,
    vmas: HashMap<VmaId, GVma>,
    shadow: MmShadow,
}

fn to_result(r: Result<u64, sys::SysErr>) -> SysResult {
    match r {
        Ok(_) => SysResult::Ok,
        Err(e) => SysResult::Err(e.name()),
    }
}

impl Player<'_> {
    fn agent(&mut self, pid: Pid) -> Option<&mut Agent> {
        self.procs.get_mut(&pid).and_then(Option::as_mut)
    }

    /// The agent of a VMA that is mapped, with the VMA.
    fn mapped(&mut self, id: VmaId) -> anyhow::Result<Option<(GVma, &mut Agent)>> {
        let v = *self
            .vmas
            .get(&id)
            .with_context(|| format!("vma {id} is unknown to the player"))?;
        if matches!(v.kind, Kind::Absent | Kind::PendingBar) {
            return Ok(None);
        }
        Ok(self.agent(v.pid).map(|a| (v, a)))
    }

    fn call(agent: &mut Agent, cmd: Cmd) -> anyhow::Result<Result<u64, sys::SysErr>> {
        agent
            .call(cmd)
            .with_context(|| format!("agent {} stopped answering", agent.os_pid))
    }

    fn apply(&mut self, op: &Op) -> anyhow::Result<SysResult> {
        // The shadow's order of the parent's VMAs, before the fork.
        let fork_order: Vec<VmaId> = match *op {
            Op::Fork { parent, .. } => self
                .shadow
                .process_vmas(parent)
                .map(<[VmaId]>::to_vec)
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        let exiting: Vec<VmaId> = match *op {
            Op::Exit { pid } => self
                .shadow
                .process_vmas(pid)
                .map(<[VmaId]>::to_vec)
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        self.shadow
            .apply(op)
            .map_err(|e| anyhow::anyhow!("the trace is not valid here: {e}"))?;
        let page = PAGE_SIZE;
        Ok(match *op {
            Op::Proc { pid } => {
                let a = self.hub.spawn().context("starting a process")?;
                self.procs.insert(pid, Some(a));
                SysResult::Ok
            }
            Op::Mmap {
                pid,
                vma,
                pages,
                pfnmap,
            } => {
                let mut v = GVma {
                    pid,
                    addr: 0,
                    pages: u64::from(pages),
                    prot: libc::PROT_READ | libc::PROT_WRITE,
                    kind: Kind::PendingBar,
                };
                let r = if pfnmap {
                    SysResult::NoSyscall
                } else {
                    v.addr = alloc_addr(self.next_addr, v.pages)?;
                    match self.agent(pid) {
                        None => {
                            v.kind = Kind::Absent;
                            SysResult::NoSyscall
                        }
                        Some(a) => {
                            let r = Self::call(
                                a,
                                Cmd::MmapAnon {
                                    addr: v.addr,
                                    len: v.pages * page,
                                },
                            )?;
                            v.kind = if r.is_ok() { Kind::Anon } else { Kind::Absent };
                            to_result(r)
                        }
                    }
                };
                self.vmas.insert(vma, v);
                r
            }
            Op::Remap {
                vma,
                pfn,
                pages,
                mode,
                ..
            } => {
                let (device, off_pages) = self
                    .plan
                    .locate(pfn, u64::from(pages))
                    .context("remap outside the trace's device ranges")?;
                let wc = mode == CacheMode::WC;
                let mut v = self.vmas[&vma];
                v.addr = alloc_addr(self.next_addr, v.pages)?;
                let r = match self.agent(v.pid) {
                    None => None,
                    Some(a) => Some(Self::call(
                        a,
                        Cmd::MmapBar {
                            addr: v.addr,
                            len: v.pages * page,
                            device: device as u64,
                            offset: off_pages * page,
                            wc,
                        },
                    )?),
                };
                v.kind = match r {
                    Some(Ok(_)) => Kind::Bar {
                        device,
                        off_pages,
                        wc,
                    },
                    _ => Kind::Absent,
                };
                self.vmas.insert(vma, v);
                r.map_or(SysResult::NoSyscall, to_result)
            }
            Op::Fork {
                parent,
                child,
                first_vma,
            } => {
                let forked = match self.procs.get_mut(&parent).and_then(Option::as_mut) {
                    None => None,
                    Some(p) => Some(self.hub.fork(p).context("fork")?),
                };
                let ok = matches!(forked, Some(Ok(_)));
                for (i, id) in fork_order.iter().enumerate() {
                    let mut copy = self.vmas[id];
                    copy.pid = child;
                    if !ok {
                        copy.kind = Kind::Absent;
                    }
                    self.vmas.insert(first_vma + i as VmaId, copy);
                }
                match forked {
                    None => {
                        self.procs.insert(child, None);
                        SysResult::NoSyscall
                    }
                    Some(Ok(a)) => {
                        self.procs.insert(child, Some(a));
                        SysResult::Ok
                    }
                    Some(Err(e)) => {
                        self.procs.insert(child, None);
                        SysResult::Err(e.name())
                    }
                }
            }
            Op::Split { vma, at, new_vma } => {
                let at = u64::from(at);
                let v = self.vmas[&vma];
                let upper = GVma {
                    addr: v.addr + at * page,
                    pages: v.pages - at,
                    prot: other_prot(v.prot),
                    kind: shifted(v.kind, at),
                    ..v
                };
                let r = match self.mapped(vma)? {
                    None => SysResult::NoSyscall,
                    Some((_, a)) => to_result(Self::call(
                        a,
                        Cmd::Mprotect {
                            addr: upper.addr,
                            len: upper.pages * page,
                            prot: upper.prot,
                        },
                    )?),
                };
                if r != SysResult::NoSyscall && !matches!(r, SysResult::Ok) {
                    return Ok(r);
                }
                self.vmas.get_mut(&vma).expect("live").pages = at;
                self.vmas.insert(new_vma, upper);
                r
            }
            Op::Munmap {
                vma,
                off,
                pages,
                new_vma,
            } => {
                let (off, pages) = (u64::from(off), u64::from(pages));
                let v = self.vmas[&vma];
                let r = match self.mapped(vma)? {
                    None => SysResult::NoSyscall,
                    Some((v, a)) => to_result(Self::call(
                        a,
                        Cmd::Munmap {
                            addr: v.addr + off * page,
                            len: pages * page,
                        },
                    )?),
                };
                if r != SysResult::NoSyscall && !matches!(r, SysResult::Ok) {
                    return Ok(r);
                }
                let end = off + pages;
                if off == 0 && end == v.pages {
                    self.vmas.remove(&vma);
                } else if off == 0 {
                    let g = self.vmas.get_mut(&vma).expect("live");
                    g.addr += end * page;
                    g.pages -= end;
                    g.kind = shifted(g.kind, end);
                } else {
                    self.vmas.get_mut(&vma).expect("live").pages = off;
                    if end < v.pages {
                        self.vmas.insert(
                            new_vma,
                            GVma {
                                addr: v.addr + end * page,
                                pages: v.pages - end,
                                kind: shifted(v.kind, end),
                                ..v
                            },
                        );
                    }
                }
                r
            }
            Op::Mremap { vma, kind } => {
                let Some((v, _)) = self.mapped(vma)? else {
                    if let MremapKind::Shrink { pages } = kind {
                        self.vmas.get_mut(&vma).expect("live").pages = u64::from(pages);
                    }
                    return Ok(SysResult::NoSyscall);
                };
                let len = v.pages * page;
                let (cmd, new_pages, new_addr) = match kind {
                    MremapKind::Move => {
                        let to = alloc_addr(self.next_addr, v.pages)?;
                        (
                            Cmd::Mremap {
                                old: v.addr,
                                old_len: len,
                                new_len: len,
                                flags: libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED,
                                new_addr: to,
                            },
                            v.pages,
                            Some(to),
                        )
                    }
                    MremapKind::Shrink { pages } => (
                        Cmd::Mremap {
                            old: v.addr,
                            old_len: len,
                            new_len: u64::from(pages) * page,
                            flags: 0,
                            new_addr: 0,
                        },
                        u64::from(pages),
                        None,
                    ),
                    MremapKind::Grow { pages } => {
                        // VM_DONTEXPAND: the kernel refuses a pfnmap VMA in
                        // place (vma_to_resize(): EFAULT); an ordinary one
                        // may move if the gap after it is too small.
                        let flags = if v.kind == Kind::Anon {
                            libc::MREMAP_MAYMOVE
                        } else {
                            0
                        };
                        (
                            Cmd::Mremap {
                                old: v.addr,
                                old_len: len,
                                new_len: u64::from(pages) * page,
                                flags,
                                new_addr: 0,
                            },
                            u64::from(pages),
                            None,
                        )
                    }
                };
                let a = self.agent(v.pid).expect("mapped() found it");
                let r = Self::call(a, cmd)?;
                if let Ok(at) = r {
                    let g = self.vmas.get_mut(&vma).expect("live");
                    g.pages = new_pages;
                    g.addr = new_addr.unwrap_or(at);
                }
                to_result(r)
            }
            Op::Exit { pid } => {
                for id in exiting {
                    self.vmas.remove(&id);
                }
                match self.procs.remove(&pid).flatten() {
                    None => SysResult::NoSyscall,
                    Some(a) => {
                        a.exit().context("exit")?;
                        SysResult::Ok
                    }
                }
            }
            Op::Fault { .. } | Op::Lookup { .. } | Op::Ioremap { .. } | Op::Iounmap { .. } => {
                bail!("{op}: not replayable (the host should have refused it)")
            }
        })
    }
}

/// The kind of the piece of a mapping that starts `pages` further.
fn shifted(kind: Kind, pages: u64) -> Kind {
    match kind {
        Kind::Bar {
            device,
            off_pages,
            wc,
        } => Kind::Bar {
            device,
            off_pages: off_pages + pages,
            wc,
        },
        k => k,
    }
}
