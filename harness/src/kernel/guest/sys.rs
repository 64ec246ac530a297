//! The system calls the guest player makes, as thin checked wrappers over
//! `libc`: the only unsafe code of `kernel-check`. Each returns the
//! kernel's errno on failure, so the player can report exactly what the
//! kernel said.

use std::fmt;
use std::os::fd::RawFd;

/// An errno a system call returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SysErr(pub i32);

impl SysErr {
    /// The errno of the last failed call.
    fn last() -> SysErr {
        SysErr(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    }

    /// The symbolic name (`EINVAL`), or `errno N` for one not listed.
    pub fn name(self) -> String {
        let known: &[(i32, &str)] = &[
            (libc::EPERM, "EPERM"),
            (libc::ENOENT, "ENOENT"),
            (libc::EINTR, "EINTR"),
            (libc::EIO, "EIO"),
            (libc::EBADF, "EBADF"),
            (libc::EAGAIN, "EAGAIN"),
            (libc::ENOMEM, "ENOMEM"),
            (libc::EACCES, "EACCES"),
            (libc::EFAULT, "EFAULT"),
            (libc::EBUSY, "EBUSY"),
            (libc::EEXIST, "EEXIST"),
            (libc::ENODEV, "ENODEV"),
            (libc::EINVAL, "EINVAL"),
            (libc::EMFILE, "EMFILE"),
            (libc::ENOSPC, "ENOSPC"),
            (libc::ECHILD, "ECHILD"),
            (libc::EOVERFLOW, "EOVERFLOW"),
        ];
        known
            .iter()
            .find(|(n, _)| *n == self.0)
            .map_or_else(|| format!("errno {}", self.0), |(_, s)| (*s).to_string())
    }
}

impl fmt::Display for SysErr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl std::error::Error for SysErr {}

/// Result of a system call.
pub type SysResult<T> = Result<T, SysErr>;

fn check(ret: libc::c_long) -> SysResult<libc::c_long> {
    if ret < 0 {
        Err(SysErr::last())
    } else {
        Ok(ret)
    }
}

/// Which side of a `fork()` this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forked {
    /// The parent, with the child's pid.
    Parent(libc::pid_t),
    /// The child.
    Child,
}

/// `fork()`. The caller must be single-threaded (the player is: it never
/// starts a thread), so the child may go on running ordinary Rust code.
pub fn fork() -> SysResult<Forked> {
    // SAFETY: fork() has no memory-safety preconditions of its own; the
    // child of a single-threaded process owns a consistent copy of every
    // lock and allocation, which is what makes continuing in Rust sound.
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => Err(SysErr::last()),
        0 => Ok(Forked::Child),
        p => Ok(Forked::Parent(p)),
    }
}

/// `_exit()`: end the process now, running no destructors or atexit
/// handlers (a forked child must not flush or close what its parent owns).
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit() takes no pointers and never returns.
    unsafe { libc::_exit(code) }
}

/// `close_range(first, ~0U, 0)`: close every descriptor from `first` on
/// (a forked child drops what it inherited before it talks to anyone).
pub fn close_from(first: RawFd) -> SysResult<()> {
    // SAFETY: close_range() takes plain integers; descriptors it closes are
    // not used again by this process (callers own none from `first` on).
    let r = unsafe { libc::syscall(libc::SYS_close_range, first as libc::c_uint, !0u32, 0u32) };
    check(r).map(drop)
}

/// `mmap(addr, len, prot, flags | MAP_FIXED_NOREPLACE, fd, offset)`.
/// Return: the address mapped (`addr`).
pub fn mmap_fixed(
    addr: u64,
    len: u64,
    prot: i32,
    flags: i32,
    fd: RawFd,
    offset: u64,
) -> SysResult<u64> {
    // SAFETY: MAP_FIXED_NOREPLACE never replaces an existing mapping, so no
    // memory this process uses can change under it; the new mapping is
    // only reached through the address we hand back, never dereferenced.
    let p = unsafe {
        libc::mmap(
            addr as *mut libc::c_void,
            len as libc::size_t,
            prot,
            flags | libc::MAP_FIXED_NOREPLACE,
            fd,
            offset as libc::off_t,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(SysErr::last());
    }
    if p as u64 != addr {
        // A kernel without MAP_FIXED_NOREPLACE treats it as a hint.
        // SAFETY: `p` is the mapping just made, of `len` bytes.
        unsafe { libc::munmap(p, len as libc::size_t) };
        return Err(SysErr(libc::EEXIST));
    }
    Ok(addr)
}

/// `mprotect(addr, len, prot)` of a range the player mapped.
pub fn mprotect(addr: u64, len: u64, prot: i32) -> SysResult<()> {
    // SAFETY: the range is one of the player's own BAR or anonymous
    // mappings, which no Rust reference points into.
    let r = unsafe { libc::mprotect(addr as *mut libc::c_void, len as libc::size_t, prot) };
    check(r.into()).map(drop)
}

/// `munmap(addr, len)` of a range the player mapped.
pub fn munmap(addr: u64, len: u64) -> SysResult<()> {
    // SAFETY: as for mprotect(): nothing in the process refers to the range.
    let r = unsafe { libc::munmap(addr as *mut libc::c_void, len as libc::size_t) };
    check(r.into()).map(drop)
}

/// `mremap(old, old_len, new_len, flags, new_addr)`. Return: where the
/// mapping is now.
pub fn mremap(old: u64, old_len: u64, new_len: u64, flags: i32, new_addr: u64) -> SysResult<u64> {
    // SAFETY: the old range is one of the player's own mappings, nothing
    // refers into it; with MREMAP_FIXED the target range was reserved by
    // the player's address allocator for exactly this and is unused.
    let p = unsafe {
        libc::mremap(
            old as *mut libc::c_void,
            old_len as libc::size_t,
            new_len as libc::size_t,
            flags,
            new_addr as *mut libc::c_void,
        )
    };
    if p == libc::MAP_FAILED {
        Err(SysErr::last())
    } else {
        Ok(p as u64)
    }
}

/// `pipe2(O_CLOEXEC)`: `(read end, write end)`.
pub fn pipe() -> SysResult<(RawFd, RawFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2() writes.
    let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    check(r.into()).map(|_| (fds[0], fds[1]))
}

/// Read one byte from `fd`, blocking (`Ok(false)` at end of file).
pub fn read_byte(fd: RawFd) -> SysResult<bool> {
    let mut b = 0u8;
    // SAFETY: one byte into a local.
    let r = unsafe { libc::read(fd, (&mut b as *mut u8).cast(), 1) };
    check(r as libc::c_long).map(|n| n == 1)
}

/// Write one byte to `fd`.
pub fn write_byte(fd: RawFd) -> SysResult<()> {
    let b = 1u8;
    // SAFETY: one byte from a local.
    let r = unsafe { libc::write(fd, (&b as *const u8).cast(), 1) };
    check(r as libc::c_long).map(drop)
}

/// `close(fd)` of a descriptor the caller owns and does not use again.
pub fn close(fd: RawFd) {
    // SAFETY: the caller owns `fd` and drops it here.
    unsafe { libc::close(fd) };
}

/// `waitpid(pid, NULL, 0)`.
pub fn waitpid(pid: libc::pid_t) -> SysResult<()> {
    // SAFETY: a null status pointer is allowed.
    let r = unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
    check(r.into()).map(drop)
}

/// Set `SIGCHLD` to ignored (children are reaped at once) or default.
pub fn sigchld(ignore: bool) {
    let handler = if ignore { libc::SIG_IGN } else { libc::SIG_DFL };
    // SAFETY: installing SIG_IGN/SIG_DFL runs no handler code.
    unsafe { libc::signal(libc::SIGCHLD, handler) };
}

/// `prctl(PR_SET_CHILD_SUBREAPER)`: orphans of the player's processes
/// come back to it (and are reaped), not to init.
pub fn set_child_subreaper() -> SysResult<()> {
    // SAFETY: plain integer arguments.
    let r = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    check(r.into()).map(drop)
}

/// `prctl(PR_SET_PDEATHSIG, SIGKILL)` in a child about to exec: it dies
/// with the process that started it.
pub fn die_with_parent() -> SysResult<()> {
    // SAFETY: plain integer arguments.
    let r = unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) };
    check(r.into()).map(drop)
}

/// Put a serial tty in raw mode at 115200 baud, so the channel carries
/// bytes as written.
pub fn tty_raw(fd: RawFd) -> SysResult<()> {
    // SAFETY: `t` is a plain struct tcgetattr fills in; `fd` is open.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(fd, &mut t) != 0 {
            return Err(SysErr::last());
        }
        libc::cfmakeraw(&mut t);
        libc::cfsetispeed(&mut t, libc::B115200);
        libc::cfsetospeed(&mut t, libc::B115200);
        if libc::tcsetattr(fd, libc::TCSANOW, &t) != 0 {
            return Err(SysErr::last());
        }
    }
    Ok(())
}
