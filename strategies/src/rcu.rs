//! A userspace model of the kernel's preemptible RCU (`CONFIG_PREEMPT_RCU`,
//! kernel/rcu/tree_plugin.h and kernel/rcu/tree.c, v6.12/v7.3), priced as the
//! kernel prices it: the read side is a per-thread nesting counter, and
//! everything else (callback queueing, grace periods, running callbacks)
//! lands on writers and on the quiescent states between operations.
//!
//! Which configuration: Debian's x86-64 kernels build `CONFIG_PREEMPT_DYNAMIC`,
//! which selects `PREEMPT_BUILD` (kernel/Kconfig.preempt, 7.3.4 lines
//! 133-138), and `PREEMPT_RCU` defaults to y with `PREEMPT_DYNAMIC`
//! (kernel/rcu/Kconfig, 7.3.4 lines 19-22). So `rcu_read_lock()` is the
//! out-of-line `__rcu_read_lock()` (tree_plugin.h, 7.3.4 line 412): an
//! increment of `current->rcu_read_lock_nesting`, and `rcu_read_unlock()`
//! decrements it and, at zero, tests `rcu_read_unlock_special` (line 430).
//! [`rcu_read_lock`] and [`RcuReadGuard`]'s drop do exactly that on a
//! thread-local [`Task`]; no fence, no shared write. (Without
//! `PREEMPT_RCU` the read side would be `preempt_disable()`, a compiler
//! barrier only; the nesting counter is the dearer of the two, by a
//! thread-local increment.)
//!
//! Grace periods are quiescent-state based. A thread that reads takes part
//! through an [`Online`] registration (as a CPU takes part once it leaves
//! idle); while online it reports a quiescent state with
//! [`quiescent_state`] whenever it holds no RCU reference, as the kernel's
//! context switch does (`rcu_note_context_switch()`, tree_plugin.h line
//! 324). pfntrack's runner reports one between operations
//! (harness/src/runner.rs, `run_worker`): the return to user space and the
//! next system call in between are quiescent states in the kernel too. A
//! grace period ends once every online thread has reported a quiescent
//! state after it began; a thread that is not online is in an extended
//! quiescent state (like an idle CPU) and holds nothing up. A thread that
//! reads while not online leaves that state for the read-side section and
//! enters it again afterwards, under the state lock (as an interrupt taken
//! in idle leaves and re-enters the extended quiescent state, with full
//! barriers), which is slow but never unsound.
//!
//! Callbacks: [`call_rcu`] appends an embedded [`RcuHead`] to one FIFO list
//! under the state lock (the kernel's per-CPU `rcu_segcblist` under
//! `local_irq_save()`; one list here because the designs' writers already
//! serialise on `xa_lock`). When no thread is online or reading, the grace
//! period is over already and the callback runs at once, inside the
//! writer's call, as the calibration's kernel side runs it. Otherwise
//! callbacks run, in queueing order, in the thread whose quiescent state
//! (or going offline) completes their grace period, outside any hook's
//! timed region, as the kernel runs them from `RCU_SOFTIRQ` after the
//! system call that queued them. [`rcu_barrier`] queues a callback that
//! runs after every one queued before it.
//!
//! Why not a crate: crossbeam-epoch's pin is a `SeqCst` fence and every
//! 128th pin collects garbage, a read side far dearer than the kernel's;
//! light-qsbr 1.1 (the QSBR crate on crates.io) advances epochs on a 10 ms
//! clock rather than on quiescent states, boxes a closure per deferred
//! drop where the kernel queues an embedded `rcu_head`, and gives a thread
//! that has not registered no way to read safely. This module is small
//! enough to check by eye and runs under miri.
//!
//! Memory ordering (the argument for soundness): a writer unlinks an
//! object (a release store) and then queues its callback under the state
//! lock. A grace period starts under that lock with an acquire-release
//! increment of the global sequence number. A reader's quiescent state
//! loads the sequence number (acquire) and publishes it in its record
//! (release): loads made in earlier read-side sections happen before the
//! release, and so before the callback (which runs after an acquire load
//! of that record sees the new number); read-side sections after the
//! quiescent state happen after the increment, and so after the unlink.
//! Going online and offline, and read-side sections entered from an
//! extended quiescent state, take the state lock, which orders them
//! against callbacks queued or completed.

use std::cell::Cell;
use std::marker::PhantomData;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering::*};

use crate::spinlock::{SpinLock, SpinLockGuard};

/// `struct rcu_head` (`struct callback_head`, include/linux/types.h): two
/// words embedded in the object the callback frees, so queueing allocates
/// nothing.
#[repr(C)]
#[derive(Debug, Default)]
pub struct RcuHead {
    /// The next queued head (null at the tail).
    next: AtomicPtr<RcuHead>,
    /// The callback, an [`RcuCallback`] cast to a data pointer.
    func: AtomicPtr<()>,
}

impl RcuHead {
    /// An unqueued head.
    pub const fn new() -> Self {
        RcuHead {
            next: AtomicPtr::new(ptr::null_mut()),
            func: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// `INIT_LIST_HEAD()` on the list this head shares its words with, as
    /// a callback does before returning the object to its cache.
    pub fn reset(&self) {
        self.next.store(ptr::null_mut(), Relaxed);
        self.func.store(ptr::null_mut(), Relaxed);
    }
}

/// `rcu_callback_t`: called once, after the grace period, with the head
/// that was queued.
///
/// # Safety
/// The callback may assume what its [`call_rcu`] caller promised: the head
/// is alive and no reader can reach the object any more.
pub type RcuCallback = unsafe fn(NonNull<RcuHead>);

/// One online thread's record: the grace period it last saw in a
/// quiescent state (`rcu_data.gp_seq` as reported up the `rcu_node` tree).
#[derive(Debug)]
struct Reader {
    /// [`GP_SEQ`] as loaded at this thread's last quiescent state. Written
    /// only by its thread (release), read under the state lock (acquire).
    qs_seq: AtomicU64,
}

/// The per-thread part of `struct task_struct` that RCU uses.
struct Task {
    /// `rcu_read_lock_nesting` (read-side sections entered and not left) in
    /// the low 32 bits, and [`OFFLINE`] while `reader` is null: one word,
    /// so `rcu_read_lock()` tells "outermost section of a thread that is
    /// not online" (the one case with work to do) with a single compare
    /// and otherwise does what the kernel's does, an increment.
    nesting: Cell<u64>,
    /// `rcu_read_unlock_special`: the outermost unlock has work to do (the
    /// section was entered from an extended quiescent state, or the thread
    /// asked to go offline inside it).
    special: Cell<Special>,
    /// This thread's record while online; null in an extended quiescent
    /// state. Owned by this thread (a leaked `Box`), freed when it goes
    /// offline.
    reader: Cell<*const Reader>,
}

/// What the outermost [`RcuReadGuard`] drop must do besides the decrement.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Special {
    None,
    /// Re-enter the extended quiescent state the section left.
    EqsEnter,
    /// [`Online`] was dropped inside the section: go offline now.
    Offline,
}

/// The bit of [`Task::nesting`] set while the thread is not online.
const OFFLINE: u64 = 1 << 32;

impl Task {
    /// Read-side sections entered and not left.
    fn depth(&self) -> u32 {
        self.nesting.get() as u32
    }

    /// Set `reader`, keeping [`OFFLINE`] in step.
    fn set_reader(&self, r: *const Reader) -> *const Reader {
        let depth = u64::from(self.depth());
        self.nesting
            .set(if r.is_null() { depth | OFFLINE } else { depth });
        self.reader.replace(r)
    }
}

thread_local! {
    static TASK: Task = const {
        Task {
            nesting: Cell::new(OFFLINE),
            special: Cell::new(Special::None),
            reader: Cell::new(ptr::null()),
        }
    };
}

/// `rcu_state.gp_seq`: the number of the newest grace period started.
/// Only incremented (under the state lock), so every later value is in the
/// release sequence of each increment.
static GP_SEQ: AtomicU64 = AtomicU64::new(1);

/// Whether any callback is queued: the quiescent-state fast path reads
/// only this (`rcu_segcblist_empty()` on the reporting CPU).
static CBS_PENDING: AtomicBool = AtomicBool::new(false);

/// A FIFO list of queued heads.
struct CbList {
    head: *mut RcuHead,
    tail: *mut RcuHead,
}

impl CbList {
    const fn new() -> Self {
        CbList {
            head: ptr::null_mut(),
            tail: ptr::null_mut(),
        }
    }

    fn is_empty(&self) -> bool {
        self.head.is_null()
    }

    fn push(&mut self, h: NonNull<RcuHead>) {
        let h = h.as_ptr();
        // SAFETY: `h` is a live head its `call_rcu` caller handed over.
        unsafe { (*h).next.store(ptr::null_mut(), Relaxed) };
        if self.tail.is_null() {
            self.head = h;
        } else {
            // SAFETY: the tail is a queued, live head (its callback has not
            // run: callbacks run only after being taken off the list).
            unsafe { (*self.tail).next.store(h, Relaxed) };
        }
        self.tail = h;
    }

    fn append(&mut self, other: &mut CbList) {
        if other.is_empty() {
            return;
        }
        if self.tail.is_null() {
            self.head = other.head;
        } else {
            // SAFETY: as in `push`.
            unsafe { (*self.tail).next.store(other.head, Relaxed) };
        }
        self.tail = other.tail;
        *other = CbList::new();
    }
}

/// Everything behind the state lock (`rcu_state` and the `rcu_node` tree
/// collapsed into one).
struct State {
    /// Callbacks waiting for grace period `wait_gp` to end.
    wait: CbList,
    wait_gp: u64,
    /// Callbacks queued since that grace period started; they need the
    /// next one.
    next: CbList,
    /// Online threads' records.
    readers: Vec<*const Reader>,
    /// Threads inside a read-side section entered from an extended
    /// quiescent state.
    eqs_readers: usize,
}

// SAFETY: the raw pointers are heads handed over by `call_rcu` (whose
// callers promise they may be used from any thread) and online records,
// which live until their thread unregisters them under this same lock.
unsafe impl Send for State {}

static STATE: SpinLock<State> = SpinLock::new(State {
    wait: CbList::new(),
    wait_gp: 0,
    next: CbList::new(),
    readers: Vec::new(),
    eqs_readers: 0,
});

impl State {
    /// Whether the grace period `wait_gp` has ended: every online thread
    /// has reported a quiescent state since it began, and nobody reads
    /// from an extended quiescent state.
    fn gp_done(&self) -> bool {
        self.eqs_readers == 0
            && self.readers.iter().all(|&r| {
                // SAFETY: records in the list are alive (see `State`).
                unsafe { &*r }.qs_seq.load(Acquire) >= self.wait_gp
            })
    }

    /// `rcu_gp_kthread()`'s work, done by whoever holds the lock: end the
    /// grace period if it can, start the next for waiting callbacks, and
    /// return the callbacks whose grace period is over. `me` is the
    /// caller's record when the caller is in a quiescent state: it reports
    /// at once for a grace period it starts.
    fn advance(&mut self, me: Option<&Reader>) -> CbList {
        let mut done = CbList::new();
        loop {
            if !self.wait.is_empty() {
                if !self.gp_done() {
                    break;
                }
                done.append(&mut self.wait);
            }
            if self.next.is_empty() {
                break;
            }
            // rcu_gp_init(): a new grace period for everything queued so far.
            self.wait_gp = GP_SEQ.fetch_add(1, AcqRel) + 1;
            let next = &mut self.next;
            self.wait.append(next);
            if let Some(me) = me {
                me.qs_seq.store(self.wait_gp, Release);
            }
        }
        CBS_PENDING.store(!self.wait.is_empty() || !self.next.is_empty(), Relaxed);
        done
    }
}

/// Held while callbacks run, taken before the state lock is dropped, so
/// batches run one after another in the order they completed: a callback
/// queued later never runs before one queued earlier has returned (what
/// [`rcu_barrier`] relies on). Callbacks take no lock and call nothing in
/// this module, so this cannot deadlock.
static INVOKE: SpinLock<()> = SpinLock::new(());

/// Drop the state lock and run `done`'s callbacks in order.
fn finish(st: SpinLockGuard<'_, State>, done: CbList) {
    if done.is_empty() {
        return;
    }
    let running = INVOKE.lock();
    drop(st);
    invoke(done);
    drop(running);
}

/// `rcu_do_batch()`: run the callbacks of `done`, in order.
fn invoke(done: CbList) {
    let mut h = done.head;
    while let Some(head) = NonNull::new(h) {
        // SAFETY: queued heads stay alive until their callback runs; read
        // the link first, as the callback may reuse the memory.
        let (next, func) = unsafe {
            let r = head.as_ref();
            (r.next.load(Relaxed), r.func.load(Relaxed))
        };
        // SAFETY: `func` was stored by `call_rcu` from an `RcuCallback`.
        let func: RcuCallback = unsafe { std::mem::transmute::<*mut (), RcuCallback>(func) };
        // SAFETY: the grace period of this head has ended, which is what
        // the callback's caller of `call_rcu` asked to wait for.
        unsafe { func(head) };
        h = next;
    }
}

/// `call_rcu()`: run `func(head)` once no reader can still hold a
/// reference taken before this call.
///
/// Context: any; may be called under other locks (the XArray calls it
/// under `xa_lock`), never from inside a callback of this module that holds
/// the state lock (none does).
///
/// # Safety
/// `head` is not queued already, stays valid and unused by anyone else
/// until `func` runs, and the object it is in has been unlinked from every
/// structure readers reach before this call; `func` may run on any thread.
///
/// Out of line, as the kernel's exported `call_rcu()` is.
#[inline(never)]
pub unsafe fn call_rcu(head: NonNull<RcuHead>, func: RcuCallback) {
    // SAFETY: the caller hands the head over until `func` runs.
    unsafe { head.as_ref() }
        .func
        .store(func as *mut (), Relaxed);
    let mut st = STATE.lock();
    st.next.push(head);
    if st.readers.is_empty() && st.eqs_readers == 0 {
        // Nobody can hold a reference: the grace period is over.
        let done = st.advance(None);
        finish(st, done);
    } else {
        CBS_PENDING.store(true, Relaxed);
    }
}

/// `rcu_barrier()` without the wait: run `func(head)` after every callback
/// queued before this call has run (the list is FIFO and completes in
/// order).
///
/// # Safety
/// As [`call_rcu`], without the unlinking requirement.
pub unsafe fn rcu_barrier(head: NonNull<RcuHead>, func: RcuCallback) {
    // SAFETY: the caller's promise, forwarded.
    unsafe { call_rcu(head, func) };
}

/// An RCU read-side critical section (`rcu_read_lock()` ..
/// `rcu_read_unlock()`): objects reached through RCU-protected pointers
/// while it lives are not freed. Not `Send`: the nesting count is the
/// thread's.
#[must_use = "the section ends when the guard drops"]
pub struct RcuReadGuard {
    _not_send: PhantomData<*const ()>,
}

/// `rcu_read_lock()`, as `__rcu_read_lock()` with `CONFIG_PREEMPT_RCU`
/// (tree_plugin.h, 7.3.4 line 412): increment this thread's nesting. Out
/// of line, as the kernel's exported function is.
#[inline(never)]
pub fn rcu_read_lock() -> RcuReadGuard {
    TASK.with(|t| {
        let n = t.nesting.get();
        t.nesting.set(n + 1);
        if n == OFFLINE {
            eqs_exit(t);
        }
    });
    RcuReadGuard {
        _not_send: PhantomData,
    }
}

impl Drop for RcuReadGuard {
    /// `rcu_read_unlock()`, as `__rcu_read_unlock()` (tree_plugin.h, 7.3.4
    /// line 430): decrement; at zero, test the special word. Out of line,
    /// as the kernel's is.
    #[inline(never)]
    fn drop(&mut self) {
        TASK.with(|t| {
            let n = t.nesting.get() - 1;
            t.nesting.set(n);
            if n as u32 == 0 && t.special.get() != Special::None {
                unlock_special(t);
            }
        });
    }
}

/// A read-side section starts on a thread that is not online: count it,
/// under the lock, so no grace period ends while it lasts. Out of line, so
/// the fast path of [`rcu_read_lock`] saves no registers.
#[cold]
#[inline(never)]
fn eqs_exit(t: &Task) {
    STATE.lock().eqs_readers += 1;
    t.special.set(Special::EqsEnter);
}

/// `rcu_read_unlock_special()`: the outermost section ended with work to do.
#[cold]
#[inline(never)]
fn unlock_special(t: &Task) {
    let special = t.special.replace(Special::None);
    let mut st = STATE.lock();
    match special {
        Special::EqsEnter => st.eqs_readers -= 1,
        Special::Offline => unregister(&mut st, t),
        Special::None => {}
    }
    let done = st.advance(None);
    finish(st, done);
}

/// Take `t`'s record off the list and free it.
fn unregister(st: &mut State, t: &Task) {
    let r = t.set_reader(ptr::null());
    st.readers.retain(|&x| x != r);
    // SAFETY: `r` came from `Box::into_raw` in `Online::new` and is no
    // longer on the list, so nothing else reaches it.
    drop(unsafe { Box::from_raw(r as *mut Reader) });
}

/// This thread takes part in grace periods until the value drops: its
/// read-side sections then cost only the nesting counter, and it must call
/// [`quiescent_state`] regularly (else callbacks wait, and memory grows,
/// until it does or goes offline). Not `Send`.
#[derive(Debug)]
pub struct Online {
    _not_send: PhantomData<*const ()>,
}

impl Online {
    /// Register this thread (`rcu_cpu_starting()` for a CPU coming
    /// online). Returns `None` when it is online already.
    pub fn new() -> Option<Online> {
        TASK.with(|t| {
            if !t.reader.get().is_null() {
                return None;
            }
            let mut st = STATE.lock();
            let r = Box::into_raw(Box::new(Reader {
                qs_seq: AtomicU64::new(GP_SEQ.load(Acquire)),
            }));
            st.readers.push(r);
            t.set_reader(r);
            if t.depth() > 0 && t.special.get() == Special::EqsEnter {
                // Online inside a section entered from the extended
                // quiescent state: the record covers the rest of it.
                st.eqs_readers -= 1;
                t.special.set(Special::None);
            }
            Some(Online {
                _not_send: PhantomData,
            })
        })
    }
}

impl Drop for Online {
    /// Go offline (the extended quiescent state); inside a read-side
    /// section, when it ends.
    fn drop(&mut self) {
        TASK.with(|t| {
            if t.depth() > 0 {
                t.special.set(Special::Offline);
                return;
            }
            let mut st = STATE.lock();
            unregister(&mut st, t);
            let done = st.advance(None);
            finish(st, done);
        });
    }
}

/// `rcu_note_context_switch()` / `rcu_qs()`: this thread holds no RCU
/// reference now. Nothing for a thread that is not online; panics inside a
/// read-side section (a quiescent state there would free what it reads).
#[inline]
pub fn quiescent_state() {
    TASK.with(|t| {
        let r = t.reader.get();
        if r.is_null() {
            return;
        }
        assert!(
            t.depth() == 0,
            "rcu: quiescent state inside a read-side section"
        );
        // SAFETY: an online thread's record lives until it goes offline,
        // which only this thread does.
        let r = unsafe { &*r };
        r.qs_seq.store(GP_SEQ.load(Acquire), Release);
        if CBS_PENDING.load(Relaxed) {
            qs_slow(r);
        }
    });
}

/// A quiescent state with callbacks queued: end or start grace periods.
#[cold]
fn qs_slow(me: &Reader) {
    let mut st = STATE.lock();
    let done = st.advance(Some(me));
    finish(st, done);
}

/// Whether this thread is inside a read-side section (for assertions).
pub fn in_read_section() -> bool {
    TASK.with(|t| t.depth() > 0)
}
