//! Memory of built models: builds N random forests in the shape the server's end-to-end
//! benchmark keeps one of per key (100 full binary trees of depth 3 by default, about 400 KB of
//! PMML each), keeps them all, and prints the bytes each built forest retains and the peak of
//! heap in use while one is built (above what was in use before), counted by a global allocator
//! in this binary.
//!
//! `cargo run --release -p pmml-evaluator --example forest_memory [FORESTS] [TREES] [DEPTH]`

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use pmml_evaluator::Model;

#[path = "../tests/common/mod.rs"]
mod common;
use common::forest::ForestWriter;

/// The system allocator, counting the bytes in use and their peak.
struct Counting;

static IN_USE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = IN_USE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        // SAFETY: forwards the caller's layout to the system allocator unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        IN_USE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` was allocated by `System` with this layout (see `alloc`).
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The command line's `index`th number, or `default`.
fn argument(index: usize, default: usize) -> usize {
    std::env::args()
        .nth(index)
        .map_or(default, |text| text.parse().expect("a number"))
}

/// Builds `text` and returns the model, the bytes it retains and the build's peak above the
/// heap in use before it.
fn build(text: &str) -> (Model, usize, usize) {
    let before = IN_USE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let model = Model::from_bytes(text.as_bytes()).expect("the forest loads");
    let retained = IN_USE.load(Ordering::Relaxed) - before;
    let peak = PEAK.load(Ordering::Relaxed) - before;
    (model, retained, peak)
}

fn main() {
    let (forests, trees, depth) = (argument(1, 1000), argument(2, 100), argument(3, 3));
    let writer = ForestWriter::bundled();
    let mut models = Vec::with_capacity(forests);
    let (mut retained, mut peak, mut text_bytes) = (0, 0, 0);
    let heap_before = IN_USE.load(Ordering::Relaxed);
    for seed in 0..forests {
        let text = writer.forest(trees, depth as u32, seed as u64);
        text_bytes += text.len();
        let (model, kept, build_peak) = build(&text);
        drop(text);
        models.push(model);
        retained += kept;
        peak = peak.max(build_peak);
    }
    let nodes = trees * ((2 << depth) - 1);
    let kib = |bytes: usize| bytes as f64 / 1024.0;
    println!(
        "{forests} forests of {trees} trees of depth {depth} ({nodes} nodes, {:.0} KiB of PMML each):",
        kib(text_bytes / forests)
    );
    println!(
        "  retained per forest: {:.1} KiB ({:.0} bytes per node); all {forests}: {:.1} MiB",
        kib(retained / forests),
        retained as f64 / (forests * nodes) as f64,
        kib(IN_USE.load(Ordering::Relaxed) - heap_before) / 1024.0
    );
    println!(
        "  peak above the heap in use during one build: {:.1} KiB",
        kib(peak)
    );
    drop(models);
}
