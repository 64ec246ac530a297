//! The key files both sides of the calibration read: little-endian `u64`
//! words, written by `calibrate keys` (or by `drive` before each trial) and
//! read by the kernel-side `kbench` and by [`crate::ours`].
//!
//! XArray file: `n_hits n_misses hits.. misses..`.
//! Interval-tree file: `n_base n_fresh n_stab batch n_batches`, then
//! `n_base` `(start, last)` pairs (the tree's contents), `n_fresh` pairs
//! (`insert` batches, each key used once), `n_stab` query addresses, and
//! `n_fresh` victim indices into the base (`remove` batches; distinct within
//! a batch).

use std::collections::HashSet;
use std::fs;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, bail, ensure};
use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

#[path = "../../benches/common/tree_workload.rs"]
#[allow(dead_code)] // shared with the benches, which use all of it
mod tree_workload;
#[path = "../../benches/support/xarray_keys.rs"]
mod xarray_keys;

pub use xarray_keys::SEED;

/// Stab queries per interval-tree trial.
pub const STAB_QUERIES: usize = 100_000;

/// The parsed XArray key file.
pub struct XaKeys {
    /// Keys stored, in operation order.
    pub hits: Vec<u64>,
    /// Keys never stored.
    pub misses: Vec<u64>,
}

/// The parsed interval-tree key file.
pub struct TreeKeys {
    /// The tree's contents, `(start, last)` inclusive.
    pub base: Vec<(u64, u64)>,
    /// Keys inserted at size, `batch` at a time.
    pub fresh: Vec<(u64, u64)>,
    /// Addresses stabbed with `[addr, addr + 4095]`.
    pub stab: Vec<u64>,
    /// Operations per timed batch of `insert` and `remove`.
    pub batch: usize,
    /// Indices into `base` removed at size, `batch` at a time.
    pub victims: Vec<usize>,
}

fn write_words(path: &Path, words: impl IntoIterator<Item = u64>) -> Result<()> {
    let mut buf = Vec::new();
    for w in words {
        buf.extend_from_slice(&w.to_le_bytes());
    }
    let tmp = path.with_extension("tmp");
    let mut f = fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(&buf)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))
}

fn read_words(path: &Path) -> Result<Vec<u64>> {
    let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    ensure!(
        bytes.len() % 8 == 0,
        "{}: {} bytes is not a whole number of u64 words",
        path.display(),
        bytes.len()
    );
    Ok(bytes
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect())
}

/// Write trial `trial`'s four XArray key files (`xa-<set>.keys`) into `dir`.
pub fn write_xa(dir: &Path, n: u64, trial: u64) -> Result<Vec<(String, std::path::PathBuf)>> {
    let mut out = Vec::new();
    for set in xarray_keys::all_for_trial(n, trial) {
        let path = dir.join(format!("xa-{}.keys", set.name));
        let header = [set.hits.len() as u64, set.misses.len() as u64];
        write_words(&path, header.into_iter().chain(set.hits).chain(set.misses))?;
        out.push((set.name.to_string(), path));
    }
    Ok(out)
}

/// Parse an XArray key file.
pub fn read_xa(path: &Path) -> Result<XaKeys> {
    let w = read_words(path)?;
    ensure!(w.len() >= 2, "{}: no header", path.display());
    let (nh, nm) = (w[0] as usize, w[1] as usize);
    ensure!(
        w.len() == 2 + nh + nm,
        "{}: header says {nh} + {nm} keys, file holds {}",
        path.display(),
        w.len().saturating_sub(2)
    );
    Ok(XaKeys {
        hits: w[2..2 + nh].to_vec(),
        misses: w[2 + nh..].to_vec(),
    })
}

/// `(batch, batches)` for a tree of `n`: batches of 1% of the tree, at least
/// ten of them and at least 10,000 operations in all.
pub fn tree_batches(n: usize) -> (usize, usize) {
    let batch = (n / 100).max(1);
    (batch, (10_000 / batch).max(10))
}

/// Write trial `trial`'s interval-tree key file for a tree of `n` into `dir`.
pub fn write_tree(dir: &Path, n: usize, trial: u64) -> Result<std::path::PathBuf> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(SEED ^ (n as u64) ^ (trial << 32));
    let (batch, batches) = tree_batches(n);
    let nf = batch * batches;
    // Base and fresh keys come from one draw so their starts are distinct.
    let mut all = tree_workload::keys(&mut rng, n + nf);
    let fresh = all.split_off(n);
    let base = all;
    let stab: Vec<u64> = (0..STAB_QUERIES)
        .map(|_| tree_workload::stab_point(&mut rng, &base))
        .collect();
    let mut victims = Vec::with_capacity(nf);
    for _ in 0..batches {
        let mut seen = HashSet::with_capacity(batch);
        while seen.len() < batch {
            let v = rng.next_u64() % n as u64;
            if seen.insert(v) {
                victims.push(v);
            }
        }
    }
    let path = dir.join(format!("tree-{n}.keys"));
    let header = [
        n as u64,
        nf as u64,
        stab.len() as u64,
        batch as u64,
        batches as u64,
    ];
    write_words(
        &path,
        header
            .into_iter()
            .chain(base.iter().flat_map(|&(s, l)| [s, l]))
            .chain(fresh.iter().flat_map(|&(s, l)| [s, l]))
            .chain(stab)
            .chain(victims),
    )?;
    Ok(path)
}

/// Parse an interval-tree key file.
pub fn read_tree(path: &Path) -> Result<TreeKeys> {
    let w = read_words(path)?;
    ensure!(w.len() >= 5, "{}: no header", path.display());
    let [nb, nf, ns, batch, batches] = [0, 1, 2, 3, 4].map(|i| w[i] as usize);
    if batch.checked_mul(batches) != Some(nf) {
        bail!(
            "{}: {nf} fresh keys is not {batch} x {batches}",
            path.display()
        );
    }
    let want = 5 + 2 * nb + 2 * nf + ns + nf;
    ensure!(
        w.len() == want,
        "{}: header wants {want} words, file holds {}",
        path.display(),
        w.len()
    );
    let pairs = |from: usize, n: usize| -> Vec<(u64, u64)> {
        w[from..from + 2 * n]
            .chunks_exact(2)
            .map(|p| (p[0], p[1]))
            .collect()
    };
    let base = pairs(5, nb);
    let fresh = pairs(5 + 2 * nb, nf);
    let stab = w[5 + 2 * nb + 2 * nf..][..ns].to_vec();
    let victims: Vec<usize> = w[want - nf..].iter().map(|&v| v as usize).collect();
    ensure!(
        victims.iter().all(|&v| v < nb),
        "{}: a victim index is past the base",
        path.display()
    );
    Ok(TreeKeys {
        base,
        fresh,
        stab,
        batch,
        victims,
    })
}
