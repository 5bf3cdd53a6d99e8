//! The allocator's thresholds for training (glibc).
//!
//! glibc's `malloc` serves every block above its mmap threshold (128 KiB at start, raised
//! dynamically up to 32 MiB when such blocks are freed) with a fresh `mmap` and returns it to the
//! kernel on `free`. A training step allocates and frees hundreds of multi-megabyte tensors, so
//! each of them page-faults in anew (one fault per 4 KiB page, the kernel zeroing each page), and
//! the heap above the trim threshold is returned and re-faulted the same way. Raising both
//! thresholds keeps those pages in the process and reuses them: measured in `BENCHMARKS.md`
//! (throughput and peak RSS, before and after).
//!
//! Set `LR_TOOLKIT_ALLOCATOR=system` to keep glibc's defaults; a `GLIBC_TUNABLES` or
//! `MALLOC_MMAP_THRESHOLD_`/`MALLOC_TRIM_THRESHOLD_` in the environment also wins (the user chose).

/// The largest mmap threshold glibc accepts on 64-bit targets (`DEFAULT_MMAP_THRESHOLD_MAX`).
pub const MMAP_THRESHOLD: usize = 32 << 20;
/// Freed memory kept at the top of the heap before it is returned to the kernel.
pub const TRIM_THRESHOLD: usize = 256 << 20;

/// What [`tune`] does, decided from the environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Set the mmap threshold to [`MMAP_THRESHOLD`] and the trim threshold to [`TRIM_THRESHOLD`].
    Raise,
    /// Leave the allocator as it is: `LR_TOOLKIT_ALLOCATOR=system`, or the user tuned glibc.
    Keep,
}

/// The decision for an environment given as a lookup (`std::env::var_os` in [`tune`]).
pub fn decide(var: impl Fn(&str) -> Option<std::ffi::OsString>) -> Decision {
    let system = var("LR_TOOLKIT_ALLOCATOR").is_some_and(|v| v == "system");
    let user_tuned =
        ["GLIBC_TUNABLES", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"].iter().any(|k| var(k).is_some());
    if system || user_tuned { Decision::Keep } else { Decision::Raise }
}

/// Applies [`decide`]'s decision for this process's environment; returns it. Call it once at the
/// start of `main` (it is safe at any time, but only later allocations benefit). Does nothing but
/// return [`Decision::Keep`] where the C library is not glibc.
pub fn tune() -> Decision {
    let decision = decide(|k| std::env::var_os(k));
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if decision == Decision::Raise {
        // SAFETY: mallopt takes two integers, has no memory-safety preconditions and takes
        // glibc's arena locks itself, so it may be called from any thread at any time.
        let ok = unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD as libc::c_int) == 1
                && libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD as libc::c_int) == 1
        };
        return if ok { Decision::Raise } else { Decision::Keep };
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let decision = Decision::Keep;
    decision
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| OsString::from(v))
    }

    #[test]
    fn raises_by_default_and_keeps_what_the_user_chose() {
        assert_eq!(decide(env(&[])), Decision::Raise);
        assert_eq!(decide(env(&[("LR_TOOLKIT_ALLOCATOR", "tuned")])), Decision::Raise);
        assert_eq!(decide(env(&[("LR_TOOLKIT_ALLOCATOR", "system")])), Decision::Keep);
        assert_eq!(decide(env(&[("GLIBC_TUNABLES", "glibc.malloc.mmap_threshold=1")])), Decision::Keep);
        assert_eq!(decide(env(&[("MALLOC_TRIM_THRESHOLD_", "0")])), Decision::Keep);
    }

    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn glibc_accepts_the_thresholds() {
        // mallopt returns 0 for a value out of its range: the constants must stay within it.
        if decide(|k| std::env::var_os(k)) == Decision::Raise {
            assert_eq!(tune(), Decision::Raise);
        }
    }
}
