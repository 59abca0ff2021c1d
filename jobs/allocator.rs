//! The jobs' allocator settings. The jobs allocate with mimalloc (each binary's
//! `#[global_allocator]`), whose defaults advise its large regions into transparent huge pages
//! (`allow_thp` 1): a job holding many small models leaves most of each 2 MiB page empty, and a
//! huge page stays resident as long as one small allocation in it lives. [`tune`] keeps huge
//! pages out. `scripts/bench.sh --only memory --keys 1,1000 --memory-swaps 1000` (keyed,
//! 1 process × 2 workers, two runs each, alternating), mimalloc's defaults → huge pages off: one
//! key 57–62 → 37–46 MiB RSS, the job before its first swap 34 → 23 MiB; 1,000 keys of 100-tree
//! forests unchanged (259–284 → 260–288 MiB: their models fill the pages). Returning freed memory
//! at once as well (`purge_delay` 0) is not set: `scripts/bench.sh --only throughput --filter
//! "forest 5"`, two runs each alternating with `MIMALLOC_PURGE_DELAY=0`, took 3.8 instead of 3.1
//! job CPU-seconds per million records (mean of the 12 rows each, +24 %), and the 1,000-key job's
//! RSS once it had nothing to do stayed where it was (255 against 270 MiB): what it holds is in
//! use or pinned by blocks in use, not free pages waiting to be returned. (Handing a quiet thread's freed memory back with
//! `mi_collect(true)`, as build threads finish and idle workers wait, was tried as well: 284–289
//! against 301–324 MiB settled, within the runs' spread; not kept.)

#![allow(unsafe_code)]

use std::ffi::c_int;

/// mimalloc's `mi_option_allow_thp`, its index in mimalloc 3's `mi_option_t` (`mimalloc.h`;
/// libmimalloc-sys names only some options): whether memory may be in transparent huge pages.
const ALLOW_THP: c_int = 43;

/// Keeps a long-running job's memory out of transparent huge pages, unless `MIMALLOC_ALLOW_THP`
/// is set in the environment (mimalloc then reads it itself, at start). Call first thing in
/// `main`. mimalloc has reserved its first regions by then, advised into huge pages: as
/// mimalloc does at start when told so, the process's huge pages are turned off too
/// (`PR_SET_THP_DISABLE`: every fault from now on takes a normal page, in every mapping).
pub fn tune() {
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_some() {
        return;
    }
    // SAFETY: `mi_option_set` only stores the value; mimalloc reads options atomically.
    unsafe { libmimalloc_sys::mi_option_set(ALLOW_THP, 0) };
    // SAFETY: `prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0)` sets a flag of the process, nothing else.
    let refused = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) } != 0;
    if refused {
        let error = std::io::Error::last_os_error();
        eprintln!("huge pages stay on (prctl PR_SET_THP_DISABLE: {error})");
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::c_long;

    use super::*;

    fn option(option: c_int) -> c_long {
        // SAFETY: `mi_option_get` only reads the option.
        unsafe { libmimalloc_sys::mi_option_get(option) }
    }

    /// The index names the option meant: mimalloc's default comes out before, ours after.
    #[test]
    fn tune_keeps_huge_pages_out() {
        assert_eq!(
            option(ALLOW_THP),
            1,
            "mimalloc's default: huge pages allowed"
        );
        tune();
        assert_eq!(option(ALLOW_THP), 0);
        // SAFETY: reads a flag of the process.
        let disabled = unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) };
        assert_eq!(disabled, 1, "the process's huge pages are off");
    }
}
