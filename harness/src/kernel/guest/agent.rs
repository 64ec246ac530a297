//! A trace's processes as real processes: each is an "agent" that makes
//! the system calls the player asks for, in its own address space.
//!
//! The player (one process, never threaded) listens on an abstract unix
//! socket. A `proc` op forks the player itself; a `fork` op asks the parent
//! agent to `fork()`, so the child has a real copy of the parent's mm
//! (`dup_mmap()`). Either way the new process first closes every
//! descriptor it inherited (so that only it holds its own channel), then
//! connects to the player with a token naming it. Requests and replies
//! are fixed-size words on that stream. An `exit` op ends the agent with
//! `_exit()`; the player waits for the end of its stream, which the kernel
//! closes in `exit_files()`, after `exit_mm()` has torn the mm down
//! (`do_exit()`, kernel/exit.c): so the exit's unmaps are done when the
//! player looks.

use std::fs::OpenOptions;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, IntoRawFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener, UnixStream};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::sys::{self, Forked, SysErr};

/// How long the player waits for one agent's answer.
const REPLY_TIMEOUT: Duration = Duration::from_secs(300);

/// The BAR files agents map: `resourceN` and, for a prefetchable BAR,
/// `resourceN_wc`, per job device.
#[derive(Debug, Clone, Default)]
pub struct BarFiles {
    /// `(uc, wc)` sysfs paths of each device's BAR.
    pub paths: Vec<(String, Option<String>)>,
}

/// A request to an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmd {
    /// `mmap()` `len` bytes of device `device`'s BAR file from `offset`
    /// at `addr` (`MAP_SHARED`), the WC file if `wc`.
    MmapBar {
        /// Where.
        addr: u64,
        /// Bytes.
        len: u64,
        /// Job device index.
        device: u64,
        /// Byte offset in the BAR.
        offset: u64,
        /// `resourceN_wc` rather than `resourceN`.
        wc: bool,
    },
    /// Anonymous private read-write memory at `addr`.
    MmapAnon {
        /// Where.
        addr: u64,
        /// Bytes.
        len: u64,
    },
    /// `mprotect()`.
    Mprotect {
        /// Start.
        addr: u64,
        /// Bytes.
        len: u64,
        /// `PROT_*`.
        prot: i32,
    },
    /// `munmap()`.
    Munmap {
        /// Start.
        addr: u64,
        /// Bytes.
        len: u64,
    },
    /// `mremap()`.
    Mremap {
        /// Old start.
        old: u64,
        /// Old length.
        old_len: u64,
        /// New length.
        new_len: u64,
        /// `MREMAP_*`.
        flags: i32,
        /// Target with `MREMAP_FIXED`.
        new_addr: u64,
    },
    /// `fork()`; the child connects back with `token`.
    Fork {
        /// Names the child's connection.
        token: u64,
    },
    /// Time one `fork()` whose child exits at once: reply with the ns
    /// until fork returned and until the child was reaped.
    TimeFork,
    /// `_exit(0)`.
    Exit,
}

const WORDS: usize = 8;
/// A reply: the result (0 or -errno) and two values.
const REPLY: usize = 24;

impl Cmd {
    fn encode(self) -> [u8; WORDS * 8] {
        let w: [u64; WORDS] = match self {
            Cmd::MmapBar {
                addr,
                len,
                device,
                offset,
                wc,
            } => [1, addr, len, device, offset, u64::from(wc), 0, 0],
            Cmd::MmapAnon { addr, len } => [2, addr, len, 0, 0, 0, 0, 0],
            Cmd::Mprotect { addr, len, prot } => [3, addr, len, prot as u64, 0, 0, 0, 0],
            Cmd::Munmap { addr, len } => [4, addr, len, 0, 0, 0, 0, 0],
            Cmd::Mremap {
                old,
                old_len,
                new_len,
                flags,
                new_addr,
            } => [5, old, old_len, new_len, flags as u64, new_addr, 0, 0],
            Cmd::Fork { token } => [6, token, 0, 0, 0, 0, 0, 0],
            Cmd::Exit => [7, 0, 0, 0, 0, 0, 0, 0],
            Cmd::TimeFork => [8, 0, 0, 0, 0, 0, 0, 0],
        };
        let mut b = [0u8; WORDS * 8];
        for (i, v) in w.iter().enumerate() {
            b[i * 8..i * 8 + 8].copy_from_slice(&v.to_le_bytes());
        }
        b
    }

    fn decode(b: &[u8; WORDS * 8]) -> Option<Cmd> {
        let w = |i: usize| u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
        Some(match w(0) {
            1 => Cmd::MmapBar {
                addr: w(1),
                len: w(2),
                device: w(3),
                offset: w(4),
                wc: w(5) != 0,
            },
            2 => Cmd::MmapAnon {
                addr: w(1),
                len: w(2),
            },
            3 => Cmd::Mprotect {
                addr: w(1),
                len: w(2),
                prot: w(3) as i32,
            },
            4 => Cmd::Munmap {
                addr: w(1),
                len: w(2),
            },
            5 => Cmd::Mremap {
                old: w(1),
                old_len: w(2),
                new_len: w(3),
                flags: w(4) as i32,
                new_addr: w(5),
            },
            6 => Cmd::Fork { token: w(1) },
            7 => Cmd::Exit,
            8 => Cmd::TimeFork,
            _ => return None,
        })
    }
}

/// The player's end of one agent.
#[derive(Debug)]
pub struct Agent {
    sock: UnixStream,
    /// The agent's pid in the guest.
    pub os_pid: i32,
}

impl Agent {
    /// Ask for one system call. Return: its result (the value is the
    /// address for mmap/mremap, the child's pid for fork); `Err` if the
    /// agent is gone.
    pub fn call(&mut self, cmd: Cmd) -> io::Result<Result<u64, SysErr>> {
        Ok(self.call_pair(cmd)?.map(|(v, _)| v))
    }

    /// [`Agent::call`] for requests that answer with two values.
    pub fn call_pair(&mut self, cmd: Cmd) -> io::Result<Result<(u64, u64), SysErr>> {
        self.sock.write_all(&cmd.encode())?;
        let mut r = [0u8; REPLY];
        self.sock.read_exact(&mut r)?;
        let word = |i: usize| r[i * 8..i * 8 + 8].try_into().expect("8 bytes");
        let ret = i64::from_le_bytes(word(0));
        Ok(if ret < 0 {
            Err(SysErr(-ret as i32))
        } else {
            Ok((u64::from_le_bytes(word(1)), u64::from_le_bytes(word(2))))
        })
    }

    /// End the agent and wait until its mm is gone (its stream closes).
    pub fn exit(mut self) -> io::Result<()> {
        self.sock.write_all(&Cmd::Exit.encode())?;
        let mut b = [0u8; REPLY];
        loop {
            match self.sock.read(&mut b) {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// Where agents connect: the player's listening socket.
#[derive(Debug)]
pub struct Hub {
    listener: UnixListener,
    name: String,
    next_token: u64,
    files: BarFiles,
}

impl Hub {
    /// Listen on an abstract socket named after this process (and a
    /// counter: a process may have several hubs).
    pub fn new(files: BarFiles) -> io::Result<Hub> {
        static HUBS: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "pfntrack-player-{}-{}",
            std::process::id(),
            HUBS.fetch_add(1, Ordering::Relaxed)
        );
        let listener = UnixListener::bind_addr(&SocketAddr::from_abstract_name(&name)?)?;
        listener.set_nonblocking(true)?;
        Ok(Hub {
            listener,
            name,
            next_token: 1,
            files,
        })
    }

    fn token(&mut self) -> u64 {
        self.next_token += 1;
        self.next_token
    }

    /// Wait for the agent named `token` to connect.
    fn accept(&mut self, token: u64) -> io::Result<UnixStream> {
        let deadline = Instant::now() + REPLY_TIMEOUT;
        loop {
            match self.listener.accept() {
                Ok((mut s, _)) => {
                    s.set_nonblocking(false)?;
                    s.set_read_timeout(Some(REPLY_TIMEOUT))?;
                    let mut b = [0u8; 8];
                    s.read_exact(&mut b)?;
                    if u64::from_le_bytes(b) != token {
                        return Err(io::Error::other("an agent connected with a wrong token"));
                    }
                    return Ok(s);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if Instant::now() > deadline {
                        return Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "a new agent did not connect",
                        ));
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// A new process with a fresh copy of the player's own mm (a trace's
    /// `proc`): the player forks.
    pub fn spawn(&mut self) -> io::Result<Agent> {
        let token = self.token();
        match sys::fork().map_err(|e| io::Error::from_raw_os_error(e.0))? {
            Forked::Child => agent_main(None, &self.files, &self.name, token),
            Forked::Parent(pid) => Ok(Agent {
                sock: self.accept(token)?,
                os_pid: pid,
            }),
        }
    }

    /// `fork()` of `parent`. Return: the child's agent, or the errno fork
    /// failed with; `Err` if an agent is gone.
    pub fn fork(&mut self, parent: &mut Agent) -> io::Result<Result<Agent, SysErr>> {
        let token = self.token();
        match parent.call(Cmd::Fork { token })? {
            Ok(pid) => Ok(Ok(Agent {
                sock: self.accept(token)?,
                os_pid: pid as i32,
            })),
            Err(e) => Ok(Err(e)),
        }
    }
}

/// Connect a new agent to the player.
fn connect(hub: &str, token: u64) -> io::Result<UnixStream> {
    let mut s = UnixStream::connect_addr(&SocketAddr::from_abstract_name(hub)?)?;
    s.write_all(&token.to_le_bytes())?;
    Ok(s)
}

/// A new agent process (right after `fork()`): drop every inherited
/// descriptor, connect, serve requests until told to exit. Never returns;
/// a panic ends the process too.
fn agent_main(sock: Option<UnixStream>, files: &BarFiles, hub: &str, token: u64) -> ! {
    let code = std::panic::catch_unwind(AssertUnwindSafe(|| {
        // The descriptor numbers the parent's objects own are closed
        // below; those objects are never dropped here (we end in _exit).
        if let Some(s) = sock {
            let _ = s.into_raw_fd();
        }
        if sys::close_from(3).is_err() {
            return 3;
        }
        match connect(hub, token) {
            Ok(s) => serve(s, files, hub),
            Err(_) => 4,
        }
    }))
    .unwrap_or(101);
    sys::exit_now(code)
}

/// The request loop of an agent. Return: the exit status.
fn serve(mut sock: UnixStream, files: &BarFiles, hub: &str) -> i32 {
    loop {
        let mut b = [0u8; WORDS * 8];
        if sock.read_exact(&mut b).is_err() {
            // The player is gone: nothing left to do.
            return 0;
        }
        let Some(cmd) = Cmd::decode(&b) else {
            return 2;
        };
        let r = match cmd {
            // Exit with the stream still open: the kernel closes it in
            // exit_files(), after exit_mm(). Returning would drop (close) it
            // first, and the player would look before the mm is gone.
            Cmd::Exit => sys::exit_now(0),
            Cmd::Fork { token } => match sys::fork() {
                Ok(Forked::Child) => {
                    let _ = sock.into_raw_fd();
                    if sys::close_from(3).is_err() {
                        return 3;
                    }
                    match connect(hub, token) {
                        Ok(s) => {
                            sock = s;
                            continue;
                        }
                        Err(_) => return 4,
                    }
                }
                Ok(Forked::Parent(pid)) => Ok((pid as u64, 0)),
                Err(e) => Err(e),
            },
            Cmd::TimeFork => super::timing::time_fork(),
            other => run(other, files).map(|v| (v, 0)),
        };
        let (ret, val, val2) = match r {
            Ok((v, w)) => (0i64, v, w),
            Err(e) => (-i64::from(e.0), 0, 0),
        };
        let mut out = [0u8; REPLY];
        out[..8].copy_from_slice(&ret.to_le_bytes());
        out[8..16].copy_from_slice(&val.to_le_bytes());
        out[16..].copy_from_slice(&val2.to_le_bytes());
        if sock.write_all(&out).is_err() {
            return 0;
        }
    }
}

/// Make one system call.
fn run(cmd: Cmd, files: &BarFiles) -> Result<u64, SysErr> {
    let rw = libc::PROT_READ | libc::PROT_WRITE;
    match cmd {
        Cmd::MmapBar {
            addr,
            len,
            device,
            offset,
            wc,
        } => {
            let (uc, wcp) = files
                .paths
                .get(device as usize)
                .ok_or(SysErr(libc::ENODEV))?;
            let path = if wc {
                wcp.as_ref().ok_or(SysErr(libc::ENOENT))?
            } else {
                uc
            };
            let f = OpenOptions::new()
                .read(true)
                .write(true)
                .open(path)
                .map_err(|e| SysErr(e.raw_os_error().unwrap_or(libc::EIO)))?;
            // The mapping keeps the file; the descriptor closes on return.
            sys::mmap_fixed(addr, len, rw, libc::MAP_SHARED, f.as_raw_fd(), offset)
        }
        Cmd::MmapAnon { addr, len } => sys::mmap_fixed(
            addr,
            len,
            rw,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        ),
        Cmd::Mprotect { addr, len, prot } => sys::mprotect(addr, len, prot).map(|()| 0),
        Cmd::Munmap { addr, len } => sys::munmap(addr, len).map(|()| 0),
        Cmd::Mremap {
            old,
            old_len,
            new_len,
            flags,
            new_addr,
        } => sys::mremap(old, old_len, new_len, flags, new_addr),
        Cmd::Fork { .. } | Cmd::TimeFork | Cmd::Exit => unreachable!("handled by serve()"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_round_trip() {
        let cmds = [
            Cmd::MmapBar {
                addr: 0x1000_0000_0000,
                len: 0x4000,
                device: 2,
                offset: 0x3000,
                wc: true,
            },
            Cmd::MmapAnon { addr: 1, len: 2 },
            Cmd::Mprotect {
                addr: 1,
                len: 2,
                prot: libc::PROT_READ,
            },
            Cmd::Munmap { addr: 5, len: 6 },
            Cmd::Mremap {
                old: 1,
                old_len: 2,
                new_len: 3,
                flags: libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED,
                new_addr: 9,
            },
            Cmd::Fork { token: 77 },
            Cmd::TimeFork,
            Cmd::Exit,
        ];
        for c in cmds {
            assert_eq!(Cmd::decode(&c.encode()), Some(c));
        }
        let mut bad = Cmd::Exit.encode();
        bad[0] = 99;
        assert_eq!(Cmd::decode(&bad), None);
    }

    /// Real processes on the host: an agent maps anonymous memory, forks,
    /// its child unmaps and exits, and the player sees the stream close.
    #[test]
    fn agents_fork_and_exit() {
        let mut hub = Hub::new(BarFiles::default()).unwrap();
        let mut a = hub.spawn().unwrap();
        let addr = 0x3f00_0000_0000u64;
        assert_eq!(
            a.call(Cmd::MmapAnon { addr, len: 0x2000 }).unwrap(),
            Ok(addr)
        );
        // MAP_FIXED_NOREPLACE refuses to map over it again.
        assert_eq!(
            a.call(Cmd::MmapAnon { addr, len: 0x1000 }).unwrap(),
            Err(SysErr(libc::EEXIST))
        );
        let mut b = hub.fork(&mut a).unwrap().unwrap();
        assert_ne!(b.os_pid, a.os_pid);
        // The child has the parent's mapping: unmapping it there works, and
        // then a new mapping at the same place too.
        assert_eq!(b.call(Cmd::Munmap { addr, len: 0x2000 }).unwrap(), Ok(0));
        assert_eq!(
            b.call(Cmd::MmapAnon { addr, len: 0x1000 }).unwrap(),
            Ok(addr)
        );
        assert_eq!(
            a.call(Cmd::MmapBar {
                addr: addr + 0x10000,
                len: 0x1000,
                device: 0,
                offset: 0,
                wc: false
            })
            .unwrap(),
            Err(SysErr(libc::ENODEV))
        );
        let (fork_ns, exit_ns) = b.call_pair(Cmd::TimeFork).unwrap().unwrap();
        assert!(fork_ns > 0 && exit_ns > 0);
        b.exit().unwrap();
        a.exit().unwrap();
    }
}
