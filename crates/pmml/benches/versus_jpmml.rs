//! The Rust half of the side-by-side benchmark against JPMML-Evaluator (scripts/bench-pmml.sh):
//! times this crate on models and their input rows exactly as scripts/jpmml's BenchScorer times
//! JPMML, and prints the same lines.
//!
//! Each row is prepared before the timed loop, as BenchScorer prepares JPMML's arguments with
//! `InputField.prepare`: its cells read (numbers as numbers, other text as text, blanks
//! missing) and prepared by `Model::prepare` (parsed, checked and typed as the model's fields
//! say). The timed loop only calls `Model::score_prepared`, row after row; the clock is read
//! once per 20,000 records or more, as BenchScorer reads its own. Each model is warmed
//! up for half the time, then timed in several rounds; the best round's mean is printed. Time is
//! the thread's CPU time (Linux's `/proc/thread-self/schedstat`), as BenchScorer measures the
//! JVM's, so that other processes on a shared machine do not count (wall time where that file
//! is missing).
//!
//! Usage: `cargo bench -p pmml-evaluator --bench versus_jpmml -- SECONDS NAME=MODEL.pmml=INPUT.csv...`
//! Output: one line per model, `NAME NANOSECONDS_PER_RECORD`. Rows the model rejects are left out.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use pmml_evaluator::{Input, Model, PreparedRecord};

const ROUNDS: u32 = 5;

/// An owned input cell.
enum Cell {
    Missing,
    Number(f64),
    Text(String),
}

impl Cell {
    fn parse(text: &str) -> Cell {
        match text.parse() {
            _ if text.is_empty() => Cell::Missing,
            Ok(number) => Cell::Number(number),
            Err(_) => Cell::Text(text.to_owned()),
        }
    }

    fn input(&self) -> Input<'_> {
        match self {
            Cell::Missing => Input::Missing,
            Cell::Number(number) => Input::Number(*number),
            Cell::Text(text) => Input::Text(text),
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with("--"))
        .collect();
    // Without models (as `cargo bench` and `cargo test --all-targets` run it), nothing to do.
    let Some((seconds, models)) = args.split_first() else {
        eprintln!(
            "versus_jpmml: run by scripts/bench-pmml.sh (SECONDS NAME=MODEL.pmml=INPUT.csv...)"
        );
        return;
    };
    let seconds: f64 = seconds.parse().expect("SECONDS");
    for spec in models {
        let mut parts = spec.splitn(3, '=');
        let (Some(name), Some(model), Some(inputs)) = (parts.next(), parts.next(), parts.next())
        else {
            panic!("{spec}: expected NAME=MODEL.pmml=INPUT.csv");
        };
        let nanos = bench(Path::new(model), Path::new(inputs), seconds);
        println!("{name} {nanos:.1}");
    }
}

/// The best mean time per record over `ROUNDS` rounds, after a warm-up of half the time.
fn bench(model: &Path, inputs: &Path, seconds: f64) -> f64 {
    let bytes = std::fs::read(model).expect("model");
    let mut reader = csv::Reader::from_path(inputs).expect("inputs");
    let header: Vec<String> = reader
        .headers()
        .expect("header")
        .iter()
        .map(str::to_owned)
        .collect();
    let mut model = Model::with_fields(&bytes, &header).expect("loads");
    let cells: Vec<Vec<Cell>> = reader
        .records()
        .map(|record| record.expect("record").iter().map(Cell::parse).collect())
        .collect();
    let rows: Vec<PreparedRecord> = cells
        .iter()
        .map(|row| row.iter().map(Cell::input).collect::<Vec<_>>())
        .filter_map(|row| {
            let prepared = model.prepare(&row).ok()?;
            model.score_prepared(&prepared).ok().map(|_| prepared)
        })
        .collect();
    let budget = Duration::from_secs_f64(seconds / f64::from(2 * ROUNDS));
    run(&mut model, &rows, budget * ROUNDS);
    (0..ROUNDS)
        .map(|_| run(&mut model, &rows, budget))
        .fold(f64::INFINITY, f64::min)
}

/// Records scored between two readings of the clock: reading it (a file of /proc) costs
/// microseconds, which must not count as scoring time.
const BATCH: usize = 20_000;

/// Scores the rows in turn for about `budget` of CPU time; the mean nanoseconds per record. The
/// clock is read after every `BATCH` records or more (whole passes over the rows).
fn run(model: &mut Model, rows: &[PreparedRecord], budget: Duration) -> f64 {
    let passes = BATCH.div_ceil(rows.len().max(1));
    let clock = Clock::new();
    let mut records = 0u64;
    loop {
        for _ in 0..passes {
            for row in rows {
                black_box(model.score_prepared(black_box(row)).expect("scores"));
            }
        }
        records += (passes * rows.len()) as u64;
        if clock.elapsed() >= budget {
            break;
        }
    }
    clock.elapsed().as_nanos() as f64 / records as f64
}

/// The thread's CPU time since its creation (wall time where Linux's schedstat is missing).
struct Clock {
    wall: Instant,
    cpu: Option<u64>,
}

impl Clock {
    fn new() -> Clock {
        Clock {
            wall: Instant::now(),
            cpu: cpu_nanos(),
        }
    }

    fn elapsed(&self) -> Duration {
        match (self.cpu, cpu_nanos()) {
            (Some(start), Some(now)) => Duration::from_nanos(now - start),
            _ => self.wall.elapsed(),
        }
    }
}

/// The nanoseconds this thread ran on a CPU (the first field of its schedstat).
fn cpu_nanos() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}
