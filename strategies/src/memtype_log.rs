//! What `memtype_free()` prints when it finds nothing to free: the
//! "freeing invalid memtype" messages (arch/x86/mm/pat/memtype.c:632 in
//! 6.12.117, :697 in 6.1.192, :633 in 7.3.4), kept the way the kernel keeps
//! its log: a count of every message, and the latest ones in a ring of
//! bounded size that a reader drains ([`InvalidFreeLog::take`]) and that
//! overwrites its oldest message when nobody drains it.
//!
//! This is the one record of invalid frees in pfntrack: the benchmark's
//! `invalid_frees` figure is [`InvalidFreeLog::count`], `check` compares
//! each design's drained messages with its oracle's after every op, and
//! `kernel-check` compares them with a real kernel's `/dev/kmsg`. Every
//! design owns one (`PfnmapTracking::invalid_free_log()` is required).
//!
//! Lock: its own spinlock, taken only when a free fails (and by readers).
//! Memory: at most [`LOG_CAPACITY`] messages, however long the run.
//! Cost: the failing free pays one lock round trip and a ring store; the
//! kernel pays a `printk()` there (formatting the line and copying it into
//! its log buffer under that buffer's lock), which is more.

use std::collections::VecDeque;
use std::fmt;

use crate::spinlock::SpinLock;

/// Messages the ring holds before it overwrites the oldest. Debian's
/// kernels have a 128 KiB log buffer (`CONFIG_LOG_BUF_SHIFT=17`), which
/// holds several hundred to a thousand lines of this length; a reader that
/// drains after every operation (`kernel-check`) never comes near it.
pub const LOG_CAPACITY: usize = 1024;

/// A `memtype_free()` that found no entry to erase: the kernel logs
/// `x86/PAT: COMM:PID freeing invalid memtype [mem START-END]` (with the
/// inclusive end) and returns `-EINVAL`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct InvalidFree {
    /// First byte of the range freed.
    pub start: u64,
    /// One past its last byte.
    pub end: u64,
}

impl fmt::Display for InvalidFree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "freeing invalid memtype [mem {:#010x}-{:#010x}]",
            self.start,
            self.end.wrapping_sub(1)
        )
    }
}

/// What a reader drained from the log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Drained {
    /// The messages logged since the previous drain that the ring still
    /// held, oldest first.
    pub messages: Vec<InvalidFree>,
    /// Messages logged since the previous drain that the ring overwrote
    /// before this one (a reader that fell behind, like a `/dev/kmsg`
    /// reader that gets `EPIPE`).
    pub lost: u64,
}

/// The state behind the log's lock.
#[derive(Debug, Default)]
struct Ring {
    /// Undrained messages, oldest first; never more than [`LOG_CAPACITY`].
    pending: VecDeque<InvalidFree>,
    /// Undrained messages overwritten since the last drain.
    lost: u64,
    /// Every message ever logged (drained, pending or lost).
    logged: u64,
}

/// A design's "freeing invalid memtype" log.
#[derive(Default)]
pub struct InvalidFreeLog {
    ring: SpinLock<Ring>,
}

impl fmt::Debug for InvalidFreeLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InvalidFreeLog")
            .field("logged", &self.count())
            .finish_non_exhaustive()
    }
}

impl InvalidFreeLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// `memtype_free()`'s `pr_info()`: `[start, end)` matched no entry.
    ///
    /// Context: takes the log's lock (never under `memtype_lock`: the
    /// kernel prints after dropping it).
    #[cold]
    pub fn log(&self, start: u64, end: u64) {
        let mut ring = self.ring.lock();
        if ring.pending.len() == LOG_CAPACITY {
            ring.pending.pop_front();
            ring.lost += 1;
        }
        ring.pending.push_back(InvalidFree { start, end });
        ring.logged += 1;
    }

    /// Drain the messages logged since the last drain.
    ///
    /// Context: takes the log's lock.
    pub fn take(&self) -> Drained {
        let mut ring = self.ring.lock();
        let lost = std::mem::take(&mut ring.lost);
        Drained {
            messages: ring.pending.drain(..).collect(),
            lost,
        }
    }

    /// Every message logged since the design was made, drained or not.
    ///
    /// Context: takes the log's lock.
    pub fn count(&self) -> u64 {
        self.ring.lock().logged
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drains_in_order_and_counts_everything() {
        let log = InvalidFreeLog::new();
        assert_eq!(log.take(), Drained::default());
        log.log(0x1000, 0x2000);
        log.log(0x3000, 0x5000);
        assert_eq!(log.count(), 2);
        let d = log.take();
        assert_eq!(
            d.messages,
            [
                InvalidFree {
                    start: 0x1000,
                    end: 0x2000
                },
                InvalidFree {
                    start: 0x3000,
                    end: 0x5000
                }
            ]
        );
        assert_eq!(d.lost, 0);
        // Drained, still counted.
        assert_eq!(log.take(), Drained::default());
        assert_eq!(log.count(), 2);
        assert_eq!(
            d.messages[1].to_string(),
            "freeing invalid memtype [mem 0x00003000-0x00004fff]"
        );
    }

    #[test]
    fn an_undrained_log_stays_bounded_and_says_what_it_lost() {
        let log = InvalidFreeLog::new();
        let n = LOG_CAPACITY as u64 * 3 + 7;
        for i in 0..n {
            log.log(i << 12, (i + 1) << 12);
        }
        assert_eq!(log.count(), n);
        assert_eq!(log.ring.lock().pending.len(), LOG_CAPACITY);
        let d = log.take();
        assert_eq!(d.lost, n - LOG_CAPACITY as u64);
        assert_eq!(d.messages.len(), LOG_CAPACITY);
        // The newest survive, oldest first.
        assert_eq!(d.messages[0].start, (n - LOG_CAPACITY as u64) << 12);
        assert_eq!(d.messages.last().unwrap().start, (n - 1) << 12);
        let again = log.take();
        assert_eq!((again.messages.len(), again.lost), (0, 0));
        assert_eq!(log.count(), n);
    }
}
