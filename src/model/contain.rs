//! Containing the panics of model libraries: tract panics on some malformed graphs, and one
//! hostile model must not take down the worker that loads or serves it.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::{ModelError, ModelKind};

thread_local! {
    /// How deep this thread is inside [`contained`] calls.
    static CONTAINING: Cell<usize> = const { Cell::new(0) };
}

/// Runs `step` (a model load or a scoring call), turning a panic inside it into
/// [`ModelError::Crashed`]. While it runs, [`panics_contained`] is true on this thread, so that a
/// process-wide panic hook can tell a contained panic from one that must stop the job.
pub fn contained<T>(
    kind: ModelKind,
    step: impl FnOnce() -> Result<T, ModelError>,
) -> Result<T, ModelError> {
    CONTAINING.with(|depth| depth.set(depth.get() + 1));
    let outcome = catch_unwind(AssertUnwindSafe(step));
    CONTAINING.with(|depth| depth.set(depth.get() - 1));
    outcome.unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<&str>()
            .map(|message| message.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".into());
        Err(ModelError::Crashed { kind, message })
    })
}

/// Whether this thread is inside [`contained`]: a panic now will be caught and reported as a
/// model error.
pub fn panics_contained() -> bool {
    CONTAINING.with(Cell::get) > 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_an_error_and_the_flag_follows_the_call() {
        assert!(!panics_contained());
        let outcome: Result<(), _> = contained(ModelKind::Onnx, || {
            assert!(panics_contained());
            panic!("index out of bounds")
        });
        let error = outcome.expect_err("contained").to_string();
        assert_eq!(
            error,
            "the onnx loader failed on this model: index out of bounds"
        );
        assert!(!panics_contained());
        assert_eq!(contained(ModelKind::Pmml, || Ok(7)).unwrap(), 7);
    }
}
