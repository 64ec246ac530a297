//! The RCU model (strategies::rcu): when callbacks run relative to readers,
//! online threads and quiescent states, and a stress test of readers racing
//! writers that free what they unlink. Its own test binary, so no other
//! test's readers hold grace periods up; the tests here take one lock so
//! they do not hold up each other's either. Runs under miri (small sizes).

use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering::*};
use std::sync::{Barrier, Mutex, MutexGuard};

use strategies::rcu::{
    Online, RcuHead, call_rcu, in_read_section, quiescent_state, rcu_barrier, rcu_read_lock,
};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// An object freed through RCU: its callback records that it ran.
#[repr(C)]
struct Obj {
    rcu: RcuHead,
    ran: AtomicBool,
}

impl Obj {
    fn new() -> Box<Obj> {
        Box::new(Obj {
            rcu: RcuHead::new(),
            ran: AtomicBool::new(false),
        })
    }
}

/// Marks the object's callback as run (the object stays owned by the test).
unsafe fn mark_ran(head: NonNull<RcuHead>) {
    // SAFETY: `rcu` is the first field of the `repr(C)` `Obj` the test owns.
    let obj = unsafe { head.cast::<Obj>().as_ref() };
    obj.ran.store(true, SeqCst);
}

/// The head of `obj`, as a pointer to the whole object (the callback
/// goes back to it, as `container_of()` does).
fn head_of(obj: &Obj) -> NonNull<RcuHead> {
    NonNull::from(obj).cast()
}

fn queue(obj: &Obj) {
    // SAFETY: the test keeps `obj` alive until after the callback ran (it
    // checks `ran` before dropping), and never queues it twice.
    unsafe { call_rcu(head_of(obj), mark_ran) };
}

#[test]
fn callback_runs_at_once_when_no_thread_reads() {
    let _s = serial();
    let obj = Obj::new();
    queue(&obj);
    assert!(
        obj.ran.load(SeqCst),
        "no reader anywhere: the grace period is over"
    );
}

#[test]
fn online_reader_holds_the_callback_until_its_quiescent_state() {
    let _s = serial();
    let obj = Obj::new();
    let online = Online::new().expect("offline before");
    assert!(Online::new().is_none(), "online twice");
    {
        let g = rcu_read_lock();
        queue(&obj);
        assert!(in_read_section());
        assert!(!obj.ran.load(SeqCst), "ran under a reader");
        drop(g);
    }
    assert!(!obj.ran.load(SeqCst), "ran before a quiescent state");
    quiescent_state();
    assert!(
        obj.ran.load(SeqCst),
        "one reader reported: the grace period is over"
    );
    drop(online);
}

#[test]
fn callback_waits_for_every_online_thread() {
    let _s = serial();
    let obj = Obj::new();
    let me = Online::new().expect("offline before");
    let (ready, go, done) = (Barrier::new(2), Barrier::new(2), Barrier::new(2));
    std::thread::scope(|s| {
        s.spawn(|| {
            let other = Online::new().expect("a new thread is offline");
            ready.wait();
            go.wait(); // the main thread queued and reported meanwhile
            quiescent_state();
            done.wait();
            drop(other);
        });
        ready.wait();
        queue(&obj);
        quiescent_state();
        assert!(!obj.ran.load(SeqCst), "ran before the other thread's QS");
        go.wait();
        done.wait();
        // The other thread's quiescent state came after the grace period
        // started, but it may not have seen the start: one more report
        // from here ends it in every order.
        quiescent_state();
        quiescent_state();
        assert!(obj.ran.load(SeqCst), "both threads reported");
    });
    drop(me);
}

#[test]
fn going_offline_releases_the_grace_period() {
    let _s = serial();
    let obj = Obj::new();
    let online = Online::new().expect("offline before");
    queue(&obj);
    assert!(!obj.ran.load(SeqCst));
    drop(online);
    assert!(obj.ran.load(SeqCst), "no online reader left");
}

#[test]
fn offline_inside_a_section_waits_for_its_end() {
    let _s = serial();
    let obj = Obj::new();
    let online = Online::new().expect("offline before");
    let g = rcu_read_lock();
    let inner = rcu_read_lock();
    drop(online); // deferred: a section is open
    queue(&obj);
    drop(inner);
    assert!(!obj.ran.load(SeqCst), "ran inside the outer section");
    drop(g);
    assert!(obj.ran.load(SeqCst), "offline at the outermost unlock");
    assert!(Online::new().is_some(), "offline again afterwards");
}

#[test]
fn a_reader_that_is_not_online_holds_callbacks_for_its_section() {
    let _s = serial();
    let obj = Obj::new();
    let g = rcu_read_lock();
    queue(&obj);
    assert!(
        !obj.ran.load(SeqCst),
        "ran inside an extended-QS reader's section"
    );
    drop(g);
    assert!(obj.ran.load(SeqCst), "its section ended");
    quiescent_state(); // nothing to report offline
}

#[test]
#[should_panic(expected = "quiescent state inside a read-side section")]
fn quiescent_state_inside_a_section_panics() {
    let _s = serial();
    let _online = Online::new().expect("offline before");
    let _g = rcu_read_lock();
    quiescent_state();
}

#[test]
fn barrier_runs_after_earlier_callbacks() {
    static ORDER: AtomicUsize = AtomicUsize::new(0);
    static SEEN: [AtomicUsize; 3] = [const { AtomicUsize::new(0) }; 3];
    unsafe fn note(head: NonNull<RcuHead>) {
        // SAFETY: `rcu` is the first field of a live `Obj` owned by the test.
        let obj = unsafe { head.cast::<Obj>().as_ref() };
        obj.ran.store(true, SeqCst);
        SEEN[ORDER.fetch_add(1, SeqCst)].store(head.as_ptr() as usize, SeqCst);
    }
    let _s = serial();
    let objs = [Obj::new(), Obj::new(), Obj::new()];
    let online = Online::new().expect("offline before");
    for (i, o) in objs.iter().enumerate() {
        // SAFETY: each object outlives its callback and is queued once.
        unsafe {
            if i == 2 {
                rcu_barrier(head_of(o), note);
            } else {
                call_rcu(head_of(o), note);
            }
        }
    }
    drop(online);
    let order: Vec<usize> = SEEN.iter().map(|s| s.load(SeqCst)).collect();
    let want: Vec<usize> = objs.iter().map(|o| &o.rcu as *const _ as usize).collect();
    assert_eq!(order, want, "callbacks ran out of queueing order");
}

/// A published version: readers check it was not freed under them.
struct Version {
    rcu: RcuHead,
    value: AtomicU64,
    /// Poisoned by the callback just before the box is freed.
    alive: AtomicBool,
}

unsafe fn free_version(head: NonNull<RcuHead>) {
    let v = head
        .as_ptr()
        .cast::<u8>()
        .wrapping_sub(std::mem::offset_of!(Version, rcu));
    // SAFETY: the head is in a `Version` leaked by `Box::into_raw` below,
    // unlinked before `call_rcu`, and its grace period is over.
    let v = unsafe { Box::from_raw(v.cast::<Version>()) };
    v.alive.store(false, Relaxed);
    FREED.fetch_add(1, Relaxed);
}

static FREED: AtomicU64 = AtomicU64::new(0);

/// Readers online (reporting quiescent states between reads) and offline
/// (each section leaves the extended quiescent state) race writers that
/// publish new versions and free the old ones through `call_rcu`: a reader
/// must never see a freed version (miri reports a use after free, and the
/// poison shows one natively), and every version is freed in the end.
#[test]
fn readers_race_writers_that_free_through_call_rcu() {
    let _s = serial();
    let (writes, reads) = if cfg!(miri) {
        (20, 30)
    } else {
        (20_000, 50_000)
    };
    FREED.store(0, SeqCst);
    let first = Box::into_raw(Box::new(Version {
        rcu: RcuHead::new(),
        value: AtomicU64::new(0),
        alive: AtomicBool::new(true),
    }));
    let current = AtomicPtr::new(first);
    let writer_lock = Mutex::new(());
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        for online in [true, false] {
            let (current, stop) = (&current, &stop);
            s.spawn(move || {
                let _reg = online.then(|| Online::new().expect("a new thread is offline"));
                let mut last = 0;
                for _ in 0..reads {
                    {
                        let _g = rcu_read_lock();
                        // SAFETY: read inside a section: a version unlinked
                        // after this load is freed only after the section.
                        let v = unsafe { &*current.load(Acquire) };
                        assert!(v.alive.load(Relaxed), "read a freed version");
                        let value = v.value.load(Relaxed);
                        assert!(value >= last, "versions went backwards");
                        last = value;
                    }
                    quiescent_state();
                    if stop.load(Relaxed) {
                        break;
                    }
                }
            });
        }
        for w in 0..2u64 {
            let (current, writer_lock, stop) = (&current, &writer_lock, &stop);
            s.spawn(move || {
                let _reg = (w == 0).then(|| Online::new().expect("a new thread is offline"));
                for i in 0..writes {
                    let guard = writer_lock.lock().unwrap();
                    let old = current.load(Relaxed);
                    // SAFETY: writers hold the lock, so `old` is live.
                    let next = unsafe { &*old }.value.load(Relaxed) + 1;
                    let new = Box::into_raw(Box::new(Version {
                        rcu: RcuHead::new(),
                        value: AtomicU64::new(next),
                        alive: AtomicBool::new(true),
                    }));
                    current.store(new, Release);
                    // SAFETY: `old` is unlinked just above and queued once;
                    // the head pointer keeps the whole box's provenance.
                    unsafe { call_rcu(NonNull::new_unchecked(&raw mut (*old).rcu), free_version) };
                    drop(guard);
                    if i % 8 == 0 {
                        quiescent_state();
                    }
                }
                stop.store(true, Relaxed);
            });
        }
    });
    // Every thread is offline: all but the current version are freed.
    assert_eq!(FREED.load(SeqCst), 2 * writes);
    // SAFETY: the last version, never queued, owned here again.
    drop(unsafe { Box::from_raw(current.load(SeqCst)) });
}
