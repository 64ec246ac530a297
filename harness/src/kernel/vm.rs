//! Booting a kernel under QEMU and reading its guest's messages.
//!
//! The kernel image comes from the cache `scripts/kernel-vm.sh` fills
//! (`$PFNTRACK_CACHE/kernels/SERIES/{vmlinuz,info}`). The guest gets one
//! PCI device per device range: `edu` (a 1 MiB, non-prefetchable BAR0)
//! where that is enough, else `ivshmem-plain` over a RAM backend (a
//! prefetchable 64-bit BAR2 of a power-of-two size, with a `resource2_wc`
//! file for WC). Serial port 0 is the kernel console (a file); port 1 is
//! the message channel (QEMU's stdout, read by a thread). QEMU dies with
//! pfntrack (`PR_SET_PDEATHSIG`), is killed when the [`Vm`] is dropped, and
//! a guest that says nothing before the deadline is an error that names
//! its console log.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::express::DeviceRange;
use super::lockstep::MsgSource;
use super::protocol::{GuestDevice, GuestMsg, unframe};
use super::series::Series;

/// A kernel image from the cache.
#[derive(Debug, Clone)]
pub struct KernelImage {
    /// The series asked for.
    pub series: Series,
    /// The bzImage.
    pub vmlinuz: PathBuf,
    /// `package`, `version`, `release` as the set-up script recorded them.
    pub info: BTreeMap<String, String>,
}

impl KernelImage {
    /// A value of the info file, or `?`.
    pub fn info(&self, key: &str) -> &str {
        self.info.get(key).map_or("?", String::as_str)
    }
}

/// The cache directory: `--cache`, else `$PFNTRACK_CACHE`, else
/// `$XDG_CACHE_HOME/pfntrack`, else `~/.cache/pfntrack` (as
/// `scripts/kernel-vm.sh` picks it).
pub fn cache_dir(flag: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(p) = flag {
        return Ok(p.to_path_buf());
    }
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    if let Some(p) = env("PFNTRACK_CACHE") {
        return Ok(PathBuf::from(p));
    }
    if let Some(p) = env("XDG_CACHE_HOME") {
        return Ok(PathBuf::from(p).join("pfntrack"));
    }
    let home = env("HOME").context("no --cache, $PFNTRACK_CACHE or $HOME")?;
    Ok(PathBuf::from(home).join(".cache/pfntrack"))
}

/// The cached kernel of `series`. Errors: not set up (with the command
/// that sets it up).
pub fn find_kernel(cache: &Path, series: Series) -> anyhow::Result<KernelImage> {
    let dir = cache.join("kernels").join(series.to_string());
    let vmlinuz = dir.join("vmlinuz");
    let info_path = dir.join("info");
    if !vmlinuz.is_file() || !info_path.is_file() {
        bail!(
            "kernel {series} is not set up in {}: run `scripts/kernel-vm.sh {series}`",
            cache.display()
        );
    }
    let text = fs::read_to_string(&info_path)
        .with_context(|| format!("reading {}", info_path.display()))?;
    let info = text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Ok(KernelImage {
        series,
        vmlinuz,
        info,
    })
}

/// `edu`'s BAR0 (hw/misc/edu.c): 1 MiB of MMIO, not prefetchable.
pub const EDU_BAR_BYTES: u64 = 1 << 20;

/// One emulated PCI device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QemuDevice {
    /// `-device edu`: BAR0.
    Edu,
    /// `-device ivshmem-plain` over `bytes` of RAM: BAR2, prefetchable.
    Ivshmem {
        /// Backend (and BAR) size, a power of two.
        bytes: u64,
    },
}

/// First PCI slot used (0 is the host bridge, 1 the ISA bridge).
const FIRST_SLOT: u32 = 3;

/// The devices for device ranges `needs` (the largest size and any WC
/// use of each device index across the traces): QEMU's and the job's.
pub fn choose_devices(needs: &[DeviceRange]) -> (Vec<QemuDevice>, Vec<GuestDevice>) {
    let mut qemu = Vec::new();
    let mut job = Vec::new();
    for (k, d) in needs.iter().enumerate() {
        let (q, bar) = if !d.wc && d.bytes() <= EDU_BAR_BYTES {
            (QemuDevice::Edu, 0)
        } else {
            let bytes = d.bytes().max(EDU_BAR_BYTES).next_power_of_two();
            (QemuDevice::Ivshmem { bytes }, 2)
        };
        qemu.push(q);
        job.push(GuestDevice {
            pci: format!("0000:00:{:02x}.0", FIRST_SLOT + k as u32),
            bar,
            needs_wc: d.wc,
        });
    }
    (qemu, job)
}

/// How to run QEMU.
#[derive(Debug, Clone)]
pub struct QemuConfig {
    /// The `qemu-system-x86_64` to run.
    pub qemu: PathBuf,
    /// `tcg` (always works) or `kvm` (where nested virtualization does).
    pub accel: String,
    /// Give up when the guest says nothing for this long.
    pub timeout: Duration,
    /// Run the guest clock off the instruction counter (`-icount`), so
    /// guest times count guest instructions, whatever the host is doing.
    pub icount: bool,
}

/// The QEMU command line for `kernel` booting `initrd` with `devices`,
/// console to `console`.
pub fn qemu_command(
    cfg: &QemuConfig,
    kernel: &Path,
    initrd: &Path,
    devices: &[QemuDevice],
    console: &Path,
) -> Command {
    let mut c = Command::new(&cfg.qemu);
    c.args([
        "-accel", &cfg.accel, "-cpu", "max", "-m", "512M", "-smp", "1",
    ]);
    c.args([
        "-nographic",
        "-nodefaults",
        "-no-reboot",
        "-monitor",
        "none",
    ]);
    if cfg.icount {
        // 1 ns of guest time per guest instruction; an idle guest's clock
        // jumps to its next timer instead of waiting for the host.
        c.args(["-icount", "shift=0,sleep=off"]);
    }
    c.arg("-kernel").arg(kernel);
    c.arg("-initrd").arg(initrd);
    // mitigations=off: page-table isolation makes every syscall flush the
    // emulated TLB under TCG; it changes nothing PAT does.
    c.args([
        "-append",
        "console=ttyS0 loglevel=4 panic=-1 edd=off mitigations=off transparent_hugepage=never",
    ]);
    c.arg("-serial").arg(format!("file:{}", console.display()));
    c.args(["-serial", "stdio"]);
    for (k, d) in devices.iter().enumerate() {
        let addr = format!("addr=0x{:02x}", FIRST_SLOT + k as u32);
        match d {
            QemuDevice::Edu => {
                c.args(["-device", &format!("edu,{addr}")]);
            }
            QemuDevice::Ivshmem { bytes } => {
                c.args([
                    "-object",
                    &format!("memory-backend-ram,id=ivshmem{k},size={bytes}"),
                    "-device",
                    &format!("ivshmem-plain,memdev=ivshmem{k},{addr}"),
                ]);
            }
        }
    }
    c
}

/// A running guest.
pub struct Vm {
    child: Child,
    lines: Receiver<io::Result<String>>,
    timeout: Duration,
    console: PathBuf,
    /// Unframed lines seen on the channel.
    pub noise: u64,
    started: Instant,
}

impl Vm {
    /// Start QEMU. Errors: it cannot be started.
    pub fn boot(
        cfg: &QemuConfig,
        kernel: &Path,
        initrd: &Path,
        devices: &[QemuDevice],
        console: &Path,
    ) -> anyhow::Result<Vm> {
        let mut cmd = qemu_command(cfg, kernel, initrd, devices, console);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // SAFETY: the closure runs in the forked child before exec and only
        // makes one async-signal-safe system call (prctl).
        unsafe {
            cmd.pre_exec(|| {
                super::guest::sys::die_with_parent().map_err(|e| io::Error::from_raw_os_error(e.0))
            });
        }
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {}", cfg.qemu.display()))?;
        let stdout = child.stdout.take().expect("piped");
        let stderr = child.stderr.take().expect("piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let end = line.is_err();
                if tx.send(line).is_err() || end {
                    break;
                }
            }
        });
        // QEMU's own complaints go to a file next to the console.
        let err_path = console.with_extension("qemu-stderr");
        std::thread::spawn(move || {
            let mut s = stderr;
            if let Ok(mut f) = fs::File::create(err_path) {
                let _ = io::copy(&mut s, &mut f);
            }
        });
        Ok(Vm {
            child,
            lines: rx,
            timeout: cfg.timeout,
            console: console.to_path_buf(),
            noise: 0,
            started: Instant::now(),
        })
    }

    /// Seconds since QEMU started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// The end of the console log and of QEMU's stderr, for error messages.
    fn tail(&self) -> String {
        let mut out = String::new();
        for (what, path) in [
            ("console", self.console.clone()),
            ("qemu", self.console.with_extension("qemu-stderr")),
        ] {
            let text = fs::read_to_string(&path).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let from = lines.len().saturating_sub(12);
            if from < lines.len() {
                out.push_str(&format!("\n  last {what} lines ({}):", path.display()));
                for l in &lines[from..] {
                    out.push_str("\n    ");
                    out.push_str(l.trim_end());
                }
            }
        }
        out
    }

    /// Kill QEMU (if still running) and wait for it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        self.kill();
    }
}

impl MsgSource for Vm {
    fn next_msg(&mut self) -> anyhow::Result<Option<GuestMsg>> {
        loop {
            match self.lines.recv_timeout(self.timeout) {
                Ok(Ok(line)) => match unframe(&line) {
                    Ok(Some(msg)) => return Ok(Some(msg)),
                    Ok(None) => self.noise += 1,
                    Err(e) => bail!("garbled message from the guest ({e}): {line:?}"),
                },
                Ok(Err(e)) => bail!("reading the guest's channel: {e}"),
                Err(RecvTimeoutError::Timeout) => {
                    self.kill();
                    bail!(
                        "the guest said nothing for {} s (--timeout){}",
                        self.timeout.as_secs(),
                        self.tail()
                    );
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = self.child.wait().ok();
                    bail!(
                        "QEMU ended ({}) before the guest finished{}",
                        status.map_or("?".to_string(), |s| s.to_string()),
                        self.tail()
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_fit_the_ranges() {
        let r = |bytes: u64, wc: bool| DeviceRange {
            start: 0,
            end: bytes,
            wc,
        };
        let (q, j) = choose_devices(&[r(1 << 20, false), r(1 << 20, true), r(3 << 20, false)]);
        assert_eq!(
            q,
            vec![
                QemuDevice::Edu,
                QemuDevice::Ivshmem { bytes: 1 << 20 },
                QemuDevice::Ivshmem { bytes: 4 << 20 }
            ]
        );
        assert_eq!(j[0].pci, "0000:00:03.0");
        assert_eq!((j[1].bar, j[1].needs_wc), (2, true));
        assert_eq!(j[2].pci, "0000:00:05.0");
        let cfg = QemuConfig {
            qemu: "qemu-system-x86_64".into(),
            accel: "tcg".into(),
            timeout: Duration::from_secs(1),
            icount: false,
        };
        let c = qemu_command(&cfg, Path::new("k"), Path::new("i"), &q, Path::new("c.log"));
        let args: Vec<String> = c
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let s = args.join(" ");
        assert!(
            s.contains("-accel tcg -cpu max -m 512M -smp 1 -nographic"),
            "{s}"
        );
        assert!(s.contains("-device edu,addr=0x03"), "{s}");
        assert!(
            s.contains("memory-backend-ram,id=ivshmem2,size=4194304"),
            "{s}"
        );
        assert!(s.contains("-serial file:c.log -serial stdio"), "{s}");
    }

    #[test]
    fn missing_kernel_names_the_setup_command() {
        let dir = std::env::temp_dir().join(format!("pfntrack-vm-test-{}", std::process::id()));
        let e = find_kernel(&dir, "6.16".parse().unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.contains("scripts/kernel-vm.sh 6.16"), "{e}");
        assert_eq!(
            cache_dir(Some(Path::new("/x"))).unwrap(),
            PathBuf::from("/x")
        );
    }
}
