//! What an XArray slot holds: one machine word, encoded as
//! include/linux/xarray.h encodes it, so the walk makes the kernel's tests
//! (`xa_is_node()`, `xa_is_sibling()`, `xa_is_zero()`, `xa_is_retry()`,
//! `xa_is_value()`) on the kernel's bit patterns.
//!
//! ```text
//! ...00  a pointer entry (never 0)        ...1  a value entry (v << 1 | 1)
//! ...10  an internal entry: v << 2 | 2; v < 62 a sibling, 256 retry,
//!        257 zero, and a node pointer | 2 (> 4096)
//! ```

/// `xa_mk_internal()`.
#[inline(always)]
pub(super) const fn mk_internal(v: usize) -> usize {
    (v << 2) | 2
}

/// `xa_is_internal()`.
#[inline(always)]
pub(super) const fn is_internal(w: usize) -> bool {
    w & 3 == 2
}

/// `xa_is_node()`: an internal entry above the small internal values.
#[inline(always)]
pub(super) const fn is_node(w: usize) -> bool {
    is_internal(w) && w > 4096
}

/// `xa_is_sibling()` (`CONFIG_XARRAY_MULTI`): an internal entry naming the
/// slot that holds a multi-index entry.
///
/// Computed with one comparison: rotating the two tag bits to the top and
/// flipping the top one leaves an internal entry's value (`w >> 2`, below
/// 2^62) and lifts every other word to 2^62 or more, so "internal and value
/// below `XA_CHUNK_SIZE - 1`" is a single unsigned test. gcc compiles the
/// kernel's two tests into fewer instructions than LLVM does the same two
/// tests here (a pair of `setcc`s on every level of every walk); this keeps
/// the walk's instruction count near the kernel's (docs/benchmarks.md,
/// "Calibration").
#[inline(always)]
pub(super) const fn is_sibling(w: usize) -> bool {
    (w.rotate_right(2) ^ (1 << (usize::BITS - 1))) < super::XA_CHUNK_SIZE - 1
}

/// `xa_to_sibling()`.
#[inline(always)]
pub(super) const fn to_sibling(w: usize) -> usize {
    w >> 2
}

/// `XA_RETRY_ENTRY`: left in slot 0 of a root freed by `xas_shrink()` so a
/// reader still inside it starts again.
pub(super) const RETRY_ENTRY: usize = mk_internal(256);
/// `XA_ZERO_ENTRY`: a reserved slot that reads as empty.
pub(super) const ZERO_ENTRY: usize = mk_internal(257);

/// `xa_is_value()`.
#[inline(always)]
pub(super) const fn is_value(w: usize) -> bool {
    w & 1 == 1
}

/// A type an [`XArray`](super::XArray) can hold: a pointer-sized `Copy`
/// handle, stored as the kernel stores a `void *` or an `xa_mk_value()`.
///
/// # Safety
/// `into_word` must return a non-zero word that is either a pointer entry
/// (low two bits `00`) or a value entry (low bit `1`), never an internal
/// entry (low bits `10`); `from_word(into_word(x))` must give back `x`.
pub unsafe trait XaEntry: Copy {
    /// Encode (`void *` or `xa_mk_value()`).
    fn into_word(self) -> usize;
    /// Decode a word made by [`XaEntry::into_word`].
    ///
    /// # Safety
    /// `w` came from `into_word` of this type.
    unsafe fn from_word(w: usize) -> Self;
}

// SAFETY: a `NonNull<U>` with `U` aligned to at least 4 bytes is non-zero
// with its low two bits clear (checked at compile time).
unsafe impl<U> XaEntry for std::ptr::NonNull<U> {
    #[inline(always)]
    fn into_word(self) -> usize {
        const {
            assert!(
                align_of::<U>() >= 4,
                "XArray pointer entries need 4-byte alignment"
            )
        };
        self.as_ptr() as usize
    }
    #[inline(always)]
    unsafe fn from_word(w: usize) -> Self {
        // SAFETY: `w` came from `into_word`, a non-null pointer.
        unsafe { std::ptr::NonNull::new_unchecked(w as *mut U) }
    }
}

/// Value entries (`xa_mk_value()`): integers up to `i64::MAX`.
// SAFETY: `v << 1 | 1` has its low bit set, and `v <= i64::MAX` makes the
// shift lossless (asserted).
unsafe impl XaEntry for u64 {
    #[inline(always)]
    fn into_word(self) -> usize {
        assert!(
            self <= i64::MAX as u64,
            "xa_mk_value: {self:#x} does not fit a value entry"
        );
        ((self as usize) << 1) | 1
    }
    #[inline(always)]
    unsafe fn from_word(w: usize) -> Self {
        (w >> 1) as u64
    }
}

/// Value entries for characters (tests).
// SAFETY: as for `u64`; every `char` fits.
unsafe impl XaEntry for char {
    #[inline(always)]
    fn into_word(self) -> usize {
        ((self as usize) << 1) | 1
    }
    #[inline(always)]
    unsafe fn from_word(w: usize) -> Self {
        // SAFETY: `w` came from `into_word` of a `char`.
        unsafe { char::from_u32_unchecked((w >> 1) as u32) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `xa_is_sibling()` as include/linux/xarray.h writes it.
    fn is_sibling_two_tests(w: usize) -> bool {
        is_internal(w) && w < mk_internal(super::super::XA_CHUNK_SIZE - 1)
    }

    #[test]
    fn one_comparison_sibling_test_is_the_kernels() {
        // Every small word, the edges of the tag space, and words with
        // high bits set (pointers, node words, errors).
        let mut words: Vec<usize> = (0..=4096).collect();
        for hi in [1usize << 62, 1 << 63, 3 << 62, usize::MAX - 4096] {
            words.extend(hi..=hi + 8);
        }
        words.extend([
            usize::MAX,
            usize::MAX - 1,
            usize::MAX - 2,
            RETRY_ENTRY,
            ZERO_ENTRY,
        ]);
        for w in words {
            assert_eq!(is_sibling(w), is_sibling_two_tests(w), "word {w:#x}");
        }
        // Random words too, outside miri (proptest's failure file needs
        // the file system, which miri's isolation refuses).
        if !cfg!(miri) {
            proptest::proptest!(|(w: usize)| {
                proptest::prop_assert_eq!(is_sibling(w), is_sibling_two_tests(w));
            });
        }
    }
}
