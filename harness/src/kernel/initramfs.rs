//! The guest's initramfs: a newc cpio archive with a static busybox, an
//! `/init` script, the running pfntrack executable itself (the player) and
//! the shared libraries it runs with, the job and the traces.
//!
//! The executable is shipped with its libraries rather than rebuilt
//! statically: the guest then runs the very file the host runs (same
//! parser, same trace semantics, no second build of the workspace), and
//! the libraries are exactly the ones the running process has mapped
//! (`/proc/self/maps`), placed at the same paths, plus its ELF interpreter
//! (`PT_INTERP`). A statically linked pfntrack simply has none to ship.

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, ensure};

use super::protocol::GUEST_DIR;

/// The `/init` the kernel runs: mount what the player reads, run it with
/// the channel on the second serial port, power off.
pub const INIT_SCRIPT: &str = "#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /tmp
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev
/bin/busybox mount -t debugfs debugfs /sys/kernel/debug
/pfntrack/pfntrack guest-play /pfntrack/job.json --channel /dev/ttyS1
echo \"pfntrack guest-play exited with status $?\"
/bin/busybox poweroff -f
";

/// `PT_INTERP` of an ELF64 little-endian executable: the dynamic loader
/// path (`None` for a static executable or anything else).
pub fn elf_interp(bytes: &[u8]) -> Option<String> {
    const PT_INTERP: u32 = 3;
    if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" || bytes[4] != 2 || bytes[5] != 1 {
        return None;
    }
    // Every offset comes from the file: bounds-checked, overflow-checked.
    let field = |o: usize, n: usize| bytes.get(o..o.checked_add(n)?);
    let u16_at = |o: usize| Some(u16::from_le_bytes(field(o, 2)?.try_into().ok()?));
    let u32_at = |o: usize| Some(u32::from_le_bytes(field(o, 4)?.try_into().ok()?));
    let u64_at = |o: usize| Some(u64::from_le_bytes(field(o, 8)?.try_into().ok()?));
    let phoff = usize::try_from(u64_at(0x20)?).ok()?;
    let phentsize = usize::from(u16_at(0x36)?);
    let phnum = usize::from(u16_at(0x38)?);
    for i in 0..phnum {
        let ph = phoff.checked_add(i.checked_mul(phentsize)?)?;
        if u32_at(ph)? == PT_INTERP {
            let off = usize::try_from(u64_at(ph.checked_add(8)?)?).ok()?;
            let size = usize::try_from(u64_at(ph.checked_add(32)?)?).ok()?;
            let raw = bytes.get(off..off.checked_add(size)?)?;
            let s = raw.split(|&b| b == 0).next()?;
            return String::from_utf8(s.to_vec()).ok();
        }
    }
    None
}

/// The shared objects a process has mapped, from its `/proc/PID/maps`
/// text, except `exe` itself.
pub fn mapped_libraries(maps: &str, exe: &Path) -> Vec<PathBuf> {
    let mut set = BTreeSet::new();
    for line in maps.lines() {
        // address perms offset dev inode path
        let Some(path) = line.split_ascii_whitespace().nth(5) else {
            continue;
        };
        let p = Path::new(path);
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
        if p.is_absolute()
            && p != exe
            && name.is_some_and(|n| n.contains(".so"))
            && !path.ends_with("(deleted)")
        {
            set.insert(p.to_path_buf());
        }
    }
    set.into_iter().collect()
}

/// The files and directories of an archive, in the order they are written.
#[derive(Debug, Default)]
pub struct Archive {
    dirs: BTreeSet<String>,
    files: Vec<(String, u32, Vec<u8>)>,
}

impl Archive {
    /// Add `path` (absolute, in the guest) with `mode` and content; its
    /// parent directories are created.
    pub fn file(&mut self, path: &str, mode: u32, data: Vec<u8>) {
        let rel = path.trim_start_matches('/').to_string();
        let mut parent = Path::new(&rel).parent();
        while let Some(p) = parent.filter(|p| !p.as_os_str().is_empty()) {
            self.dirs.insert(p.to_string_lossy().into_owned());
            parent = p.parent();
        }
        self.files.push((rel, mode, data));
    }

    /// Add a directory.
    pub fn dir(&mut self, path: &str) {
        self.dirs.insert(path.trim_start_matches('/').to_string());
    }

    /// Write the newc archive (directories first, parents before children;
    /// `/dev/console` for init's stdio before devtmpfs is mounted).
    pub fn write<W: Write>(&self, mut w: W) -> std::io::Result<W> {
        use cpio::newc::{Builder, ModeFileType, trailer};
        let mut ino = 1;
        for d in &self.dirs {
            let b = Builder::new(d)
                .ino(ino)
                .mode(0o755)
                .nlink(2)
                .set_mode_file_type(ModeFileType::Directory);
            w = b.write(w, 0).finish()?;
            ino += 1;
        }
        let console = Builder::new("dev/console")
            .ino(ino)
            .mode(0o600)
            .rdev_major(5)
            .rdev_minor(1)
            .set_mode_file_type(ModeFileType::Char);
        w = console.write(w, 0).finish()?;
        ino += 1;
        for (name, mode, data) in &self.files {
            let size = u32::try_from(data.len()).map_err(|_| {
                std::io::Error::other(format!("{name} is too large for a cpio archive"))
            })?;
            let b = Builder::new(name)
                .ino(ino)
                .mode(*mode)
                .set_mode_file_type(ModeFileType::Regular);
            let mut fw = b.write(w, size);
            fw.write_all(data)?;
            w = fw.finish()?;
            ino += 1;
        }
        trailer(w)
    }
}

/// Build the archive: `busybox` (must be static), the running executable
/// with its libraries, and `extra` files under [`GUEST_DIR`].
pub fn build(busybox: &Path, extra: &[(String, Vec<u8>)]) -> anyhow::Result<Archive> {
    let bb = fs::read(busybox).with_context(|| format!("reading {}", busybox.display()))?;
    ensure!(
        bb.starts_with(b"\x7fELF"),
        "{} is not an executable",
        busybox.display()
    );
    ensure!(
        elf_interp(&bb).is_none(),
        "{} is dynamically linked: the initramfs needs a static busybox \
         (Debian's busybox-static; scripts/kernel-vm.sh installs it)",
        busybox.display()
    );
    let exe = std::env::current_exe().context("finding the pfntrack executable")?;
    let exe_bytes = fs::read(&exe).with_context(|| format!("reading {}", exe.display()))?;
    let mut a = Archive::default();
    for d in ["dev", "proc", "sys", "tmp"] {
        a.dir(d);
    }
    a.file("/bin/busybox", 0o755, bb);
    a.file("/init", 0o755, INIT_SCRIPT.as_bytes().to_vec());
    let maps = fs::read_to_string("/proc/self/maps").context("reading /proc/self/maps")?;
    for lib in mapped_libraries(&maps, &exe) {
        let data = fs::read(&lib).with_context(|| format!("reading {}", lib.display()))?;
        a.file(&lib.to_string_lossy(), 0o755, data);
    }
    if let Some(interp) = elf_interp(&exe_bytes) {
        let data = fs::read(&interp).with_context(|| format!("reading {interp}"))?;
        a.file(&interp, 0o755, data);
    }
    a.file(&format!("{GUEST_DIR}/pfntrack"), 0o755, exe_bytes);
    for (name, data) in extra {
        a.file(&format!("{GUEST_DIR}/{name}"), 0o644, data.clone());
    }
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_interpreter_and_libraries_of_this_process() {
        let exe = std::env::current_exe().unwrap();
        let bytes = fs::read(&exe).unwrap();
        // The test binary is dynamically linked on the development host.
        let interp = elf_interp(&bytes).expect("a PT_INTERP");
        assert!(interp.contains("ld-linux"), "{interp}");
        let maps = fs::read_to_string("/proc/self/maps").unwrap();
        let libs = mapped_libraries(&maps, &exe);
        assert!(
            libs.iter().any(|l| l.to_string_lossy().contains("libc.so")),
            "{libs:?}"
        );
        assert!(!libs.contains(&exe));
        assert_eq!(elf_interp(b"not an elf"), None);
        let mut truncated = bytes[..64].to_vec();
        truncated[0x20..0x28].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(elf_interp(&truncated), None);
    }

    #[test]
    fn archive_reads_back() {
        let mut a = Archive::default();
        a.dir("proc");
        a.file("/usr/lib/x/libfoo.so.1", 0o755, b"lib".to_vec());
        a.file("/init", 0o755, b"#!/bin/sh\n".to_vec());
        let bytes = a.write(Vec::new()).unwrap();
        let mut names = Vec::new();
        let mut r = std::io::Cursor::new(bytes);
        loop {
            let e = cpio::newc::Reader::new(r).unwrap();
            if e.entry().is_trailer() {
                break;
            }
            names.push((e.entry().name().to_string(), e.entry().file_size()));
            r = e.finish().unwrap();
        }
        let pos = |n: &str| names.iter().position(|(x, _)| x == n).unwrap();
        assert!(pos("usr") < pos("usr/lib") && pos("usr/lib/x") < pos("usr/lib/x/libfoo.so.1"));
        assert_eq!(names[pos("init")].1, 10);
        assert!(names.iter().any(|(n, _)| n == "dev/console"));
    }
}
