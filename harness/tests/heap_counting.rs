//! The counting allocator installed as this test binary's global allocator:
//! current and peak follow a known allocation, across threads too.
//!
//! Tests in one binary run in parallel and share the global counters, so
//! each takes `SERIAL` and allows the documented slack for other threads'
//! unpublished bytes (the harness's own threads allocate a little; the
//! counters can even sit slightly below the truth, down to 0, when this
//! thread frees what another has not published yet). Comparisons are
//! written as sums so that such a 0 cannot underflow.

use std::sync::Mutex;

use pfntrack::measure::heap::{self, CountingAlloc, FLUSH_THRESHOLD_BYTES};

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

static SERIAL: Mutex<()> = Mutex::new(());

/// Bound on what other threads may hold unpublished, plus harness noise.
const SLACK: u64 = 4 * FLUSH_THRESHOLD_BYTES;
const BIG: usize = 8 << 20;

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn reports_installed() {
    let _g = serial();
    assert!(heap::installed());
}

#[test]
fn a_big_vec_moves_current_and_peak() {
    let _g = serial();
    heap::reset_peak();
    let before = heap::current_bytes();
    let peak_before = heap::peak_bytes();

    let big: Vec<u8> = vec![1; BIG];
    std::hint::black_box(&big);
    heap::sample();
    let during = heap::current_bytes();
    let peak_during = heap::peak_bytes();
    assert!(
        during + SLACK >= before + BIG as u64,
        "current {before} -> {during}, expected +{BIG}"
    );
    assert!(
        peak_during + SLACK >= peak_before + BIG as u64,
        "peak {peak_before} -> {peak_during}, expected +{BIG}"
    );

    drop(big);
    let after = heap::current_bytes();
    assert!(
        after + BIG as u64 <= during + SLACK,
        "after free: {during} -> {after}, expected -{BIG}"
    );
    assert!(
        heap::peak_bytes() >= peak_during,
        "peak never drops by itself"
    );
    heap::reset_peak();
    assert!(heap::peak_bytes() < peak_during, "reset_peak starts over");
}

#[test]
fn threads_publish_on_sample_and_frees_elsewhere_balance() {
    let _g = serial();
    let before = heap::current_bytes();
    // Four threads each keep 1 MiB in many small blocks (below the flush
    // threshold each), publish with `sample`, and hand the blocks back.
    let handles: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(|| {
                let blocks: Vec<Vec<u8>> = (0..256).map(|_| vec![0u8; 4096]).collect();
                heap::sample();
                blocks
            })
        })
        .collect();
    let kept: Vec<Vec<Vec<u8>>> = handles
        .into_iter()
        .map(|h| h.join().expect("worker"))
        .collect();
    let during = heap::current_bytes();
    let kept_bytes = 4 * 256 * 4096;
    assert!(
        during + SLACK >= before + kept_bytes,
        "{before} -> {during}, expected +{kept_bytes}"
    );
    // Freed on this thread: the deltas cross threads and still balance.
    drop(kept);
    let after = heap::current_bytes();
    assert!(
        after.abs_diff(before) <= SLACK,
        "{before} -> {after} after freeing everything"
    );
}

#[test]
fn realloc_growth_is_counted() {
    let _g = serial();
    let before = heap::current_bytes();
    let mut v: Vec<u8> = Vec::with_capacity(16);
    for i in 0..BIG {
        v.push(i as u8);
    }
    let cap = v.capacity() as u64;
    let during = heap::current_bytes();
    assert!(
        during + SLACK >= before + cap,
        "{before} -> {during}, expected +{cap} after growing by realloc"
    );
    drop(v);
    assert!(heap::current_bytes() + cap <= during + SLACK);
}
