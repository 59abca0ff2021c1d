//! Where the tests and benchmarks of this workspace find the files of the system it re-creates
//! (flink-modelServer: its seven PMML files, its frozen TensorFlow graph, its SavedModel and its
//! wine data). They are not part of the repository: `scripts/fetch-original.sh` downloads them
//! into `target/original/`, and CI has a copy of its own.
//!
//! - `MODELSERVER_ORIGINAL_DIR` names the directory. Unset, the tests that need it print one
//!   line saying they did not run and why, and pass.
//! - `MODELSERVER_REQUIRE_ORIGINAL` (any value) makes a missing directory a failure: CI sets it,
//!   so that these tests always run there.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::io::Write;
use std::path::PathBuf;
use std::sync::Once;

/// The variable naming the directory of the original system's files.
pub const DIR_VARIABLE: &str = "MODELSERVER_ORIGINAL_DIR";

/// The variable that makes a missing directory a failure.
pub const REQUIRE_VARIABLE: &str = "MODELSERVER_REQUIRE_ORIGINAL";

/// The directory of the original system's files, for `what` (a test's or benchmark's name).
///
/// `None` when [`DIR_VARIABLE`] is unset or names no directory: then the first call in the
/// process prints one line on standard error that says what did not run, and why.
///
/// # Panics
///
/// When the directory is missing and [`REQUIRE_VARIABLE`] is set.
pub fn dir(what: &str) -> Option<PathBuf> {
    let why = match std::env::var_os(DIR_VARIABLE) {
        Some(dir) if PathBuf::from(&dir).is_dir() => return Some(dir.into()),
        Some(dir) => format!(
            "{DIR_VARIABLE}={} is not a directory",
            dir.to_string_lossy()
        ),
        None => format!("{DIR_VARIABLE} is not set"),
    };
    if std::env::var_os(REQUIRE_VARIABLE).is_some() {
        panic!(
            "{what} needs the original system's files, but {why} (and {REQUIRE_VARIABLE} is set)"
        );
    }
    // Once per test binary, straight to the process's standard error (the test harness
    // captures `eprintln!`), in one write so that the line stays whole.
    static SAID: Once = Once::new();
    SAID.call_once(|| {
        let line = format!(
            "\nnot run: {what} and the other tests of the original system's files: {why} \
             (scripts/fetch-original.sh downloads them)\n"
        );
        let _ = std::io::stderr().write_all(line.as_bytes());
    });
    None
}
