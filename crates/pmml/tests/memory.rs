//! What a built model keeps in memory: a random forest of 100 trees of depth 3 in the shape
//! the server keeps one of per key (about 400 KB of PMML) retains under 100 KiB once built.
//! Counted with a global allocator, in this test binary only (one test, so that no other
//! thread allocates meanwhile).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

mod common;

use common::forest::ForestWriter;
use pmml_evaluator::Model;

struct Counting;

static IN_USE: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        IN_USE.fetch_add(layout.size(), Ordering::SeqCst);
        // SAFETY: forwards the caller's layout to the system allocator unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        IN_USE.fetch_sub(layout.size(), Ordering::SeqCst);
        // SAFETY: `ptr` was allocated by `System` with this layout (see `alloc`).
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn a_built_forest_retains_under_100_kib() {
    let writer = ForestWriter::bundled();
    for seed in [1, 2, 3] {
        let text = writer.forest(100, 3, seed);
        assert!(text.len() > 350_000, "{} bytes of PMML", text.len());
        let before = IN_USE.load(Ordering::SeqCst);
        let mut model = Model::from_bytes(text.as_bytes()).expect("loads");
        let retained = IN_USE.load(Ordering::SeqCst) - before;
        assert!(
            retained < 100 * 1024,
            "seed {seed}: the built forest retains {retained} bytes"
        );
        let prediction = model
            .score(&[
                7.4, 0.7, 0.0, 1.9, 0.076, 11.0, 34.0, 0.9978, 3.51, 0.56, 9.4,
            ])
            .expect("scores");
        let total: f64 = prediction.probabilities.iter().sum();
        assert!(
            (total - 1.0).abs() < 1e-9,
            "probabilities add up to {total}"
        );
        assert_eq!(
            prediction.outputs.len(),
            6,
            "one value per probability output"
        );
    }
}
