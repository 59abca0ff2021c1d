//! End-to-end measurements of `serve` against a real Kafka broker, beside the broker's own
//! ceiling (issue 14).
//!
//! `scripts/bench.sh` starts a broker and runs this. The sections (`--only a,b,…`; all by
//! default, in this order):
//!
//! - **throughput**: pre-loads the data topic (2 partitions) with wine records, measures the
//!   **passthrough** (two threads consume the data topic and produce every payload, keyed like
//!   results, with the job's client settings, no decoding or scoring: the ceiling; in a
//!   process of its own, whose CPU is counted as a job's), then for
//!   each model, pipeline and layout (1 or 2 workers in one process, 2 processes of 1 worker) a
//!   fresh `serve` reads the whole backlog. Records/s from the output messages' own Kafka
//!   timestamps (first to last), as a ratio to the passthrough; start-up (process start → first
//!   result); the job's CPU seconds (`/proc`) per million records;
//! - **monitoring**: the cost of the monitoring dataflow: records/s of a job with it (the
//!   default) and without (`--no-monitor`), two models, keyed and flat, 1 process × 2 workers,
//!   runs alternating, the median of three each, and the ratio; then a keyed job on records
//!   whose numbers are all distinct (continuous features: wine records, then feature records
//!   of 100 features), with and without, two runs each: records/s, CPU and peak RSS;
//! - **startup**: process start → first result's Kafka timestamp, with the backlog waiting,
//!   keyed and flat (1 process × 2 workers, 5-tree forest), median of a few runs;
//! - **idle**: the CPU a job with its model loaded and nothing to read spends over 10 s, keyed
//!   and flat (1 process × 2 workers);
//! - **scaling**: throughput vs forest size (synthetic forests of 10, 100, 500 trees), keyed
//!   (1 process × 2 workers) and flat (1 × 1 and 1 × 2, and what the second worker gives);
//! - **latency**: a paced producer at 25 %, 50 % and 90 % of the most the job delivers beside
//!   it (the 5-tree forest, 1 process × 2 workers: the producer offers the job's maximum on a
//!   backlog, and the results read while it sends are the rate), through the passthrough first
//!   (a result naming each record: the floor) and then each pipeline; each record's send time
//!   (µs) → its result read back (µs, same machine), paired by the input's partition and offset
//!   in the result; p50/p99/p99.9/max;
//! - **swap**: at 50 % load, a new model version published 20 times (two forests alternating,
//!   each version named), publish (the model message's Kafka timestamp) → first result by the
//!   new version (and → last result by the previous one); the longest gap between consecutive
//!   results from the publish to a second after the new version's first result; the job's peak
//!   RSS; then the same with two ~50 MB forests;
//! - **memory**: peak RSS (`VmHWM`) of a keyed job with 1, 100 and 1,000 keys each with its own
//!   100-tree forest; RSS after every 1,000 of 10,000 swaps of one key.
//!
//! Forests other than the bundled ones are generated here (see `forest.rs`), seeded. Each section
//! prints a table and writes `target/bench/<section>.json` (throughput: `end_to_end.json`).
//!
//! `scripts/bench.sh [--only SECTIONS] [--records N] [--filter TEXT] …` (see `Options`);
//! without a broker (`KAFKA_BOOTSTRAP`) it says so and does nothing, so that `cargo bench`
//! alone passes.

#[path = "../tests/support/mod.rs"]
mod support;

#[path = "end_to_end/common.rs"]
mod common;
#[path = "end_to_end/forest.rs"]
mod forest;
#[path = "end_to_end/latency.rs"]
mod latency;
#[path = "end_to_end/memory.rs"]
mod memory;
#[path = "end_to_end/swap.rs"]
mod swap;
#[path = "end_to_end/throughput.rs"]
mod throughput;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use modelserver::kafka::KafkaConfig;
use modelserver::model::ModelKind;
use modelserver::pipeline::PipelineKind;

use forest::ForestWriter;

/// Partitions of the data topics (and of every output topic).
const PARTITIONS: i32 = 2;

/// The sections, in the order they run.
const SECTIONS: [&str; 8] = [
    "throughput",
    "monitoring",
    "startup",
    "idle",
    "scaling",
    "latency",
    "swap",
    "memory",
];

/// How a job is laid out: processes × workers each.
#[derive(Clone, Copy)]
pub struct Layout {
    processes: usize,
    workers: usize,
}

impl Layout {
    /// One process of two workers: the layout of every section after throughput.
    const ONE_BY_TWO: Layout = Layout {
        processes: 1,
        workers: 2,
    };
}

impl std::fmt::Display for Layout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}p×{}w", self.processes, self.workers)
    }
}

/// The command line.
pub struct Options {
    /// Sections to run.
    only: Vec<String>,
    /// Records pre-loaded for the throughput and start-up sections (`--records`, 300,000).
    records: usize,
    /// Only the throughput models whose label contains this (`--filter`).
    filter: String,
    /// Records per forest size in the scaling section (`--scaling-records`, 100,000).
    scaling_records: usize,
    /// Start-up runs per pipeline (`--startup-runs`, 5).
    startup_runs: usize,
    /// The latency loads, as fractions of the maximum (`--levels`, 0.25,0.5,0.9).
    levels: Vec<f64>,
    /// Seconds of paced load per latency level (`--level-seconds`, 4).
    level_seconds: f64,
    /// The maximum records/s the latency and swap loads are taken from, for both pipelines,
    /// instead of measuring it beside the paced producer (`--max-rate`): to compare latencies
    /// of two builds or brokers at the same loads.
    max_rate: Option<f64>,
    /// Swaps of the small models (`--swaps`, 20) and of the ~50 MB ones (`--big-swaps`, 3).
    swaps: usize,
    big_swaps: usize,
    /// Size of the big model in MB (`--big-mb`, 50).
    big_mb: usize,
    /// Key counts of the memory section (`--keys`, 1,100,1000).
    keys: Vec<usize>,
    /// Swaps of one key in the memory section (`--memory-swaps`, 10,000).
    memory_swaps: usize,
}

impl Options {
    fn parse() -> Options {
        let args: Vec<String> = std::env::args().collect();
        let option = |name: &str| {
            args.iter()
                .position(|arg| arg == name)
                .and_then(|index| args.get(index + 1))
                .cloned()
        };
        let number = |name: &str, default: usize| {
            option(name).map_or(default, |n| {
                n.replace('_', "")
                    .parse()
                    .unwrap_or_else(|_| panic!("{name} N"))
            })
        };
        let only: Vec<String> = option("--only").map_or_else(
            || SECTIONS.iter().map(|s| s.to_string()).collect(),
            |list| list.split(',').map(|s| s.trim().to_owned()).collect(),
        );
        for section in &only {
            assert!(
                SECTIONS.contains(&section.as_str()),
                "--only: `{section}` is none of {SECTIONS:?}"
            );
        }
        Options {
            only,
            records: number("--records", 300_000),
            filter: option("--filter").unwrap_or_default(),
            scaling_records: number("--scaling-records", 100_000),
            startup_runs: number("--startup-runs", 5),
            levels: option("--levels").map_or(vec![0.25, 0.5, 0.9], |list| {
                list.split(',')
                    .map(|n| n.trim().parse().expect("levels"))
                    .collect()
            }),
            level_seconds: option("--level-seconds").map_or(4.0, |s| s.parse().expect("secs")),
            max_rate: option("--max-rate")
                .map(|n| n.replace('_', "").parse().expect("--max-rate N")),
            swaps: number("--swaps", 20),
            big_swaps: number("--big-swaps", 3),
            big_mb: number("--big-mb", 50),
            keys: option("--keys").map_or(vec![1, 100, 1000], |list| {
                list.split(',')
                    .map(|n| n.trim().parse().expect("keys"))
                    .collect()
            }),
            memory_swaps: number("--memory-swaps", 10_000),
        }
    }

    fn runs(&self, section: &str) -> bool {
        self.only.iter().any(|s| s == section)
    }
}

/// What the sections share: the broker, the options, the pre-loaded data topic, the passthrough
/// and the throughputs measured so far.
pub struct Bench {
    kafka: KafkaConfig,
    options: Options,
    forests: ForestWriter,
    /// The pre-loaded data topic, once there is one.
    data: Option<String>,
    /// The passthrough's records/s and CPU, once measured.
    passthrough: Option<throughput::Measured>,
    /// Records/s of the 5-tree forest, 1 process × 2 workers, on a backlog, per pipeline, once
    /// measured.
    max_rates: HashMap<String, f64>,
    /// The same beside the paced producer ([`Bench::load_rate`]), once measured.
    load_rates: HashMap<String, f64>,
}

/// The model whose maximum throughput sets the latency and swap loads.
const LOAD_MODEL: &str = "pmml forest 5 trees";

impl Bench {
    /// The pre-loaded data topic (loaded on first use).
    fn data(&mut self) -> String {
        if self.data.is_none() {
            let topic = common::unique("bench-data");
            common::create_topics(&self.kafka, &[(&topic, PARTITIONS)]);
            throughput::preload(&self.kafka, &topic, self.options.records);
            println!(
                "{} wine records on {PARTITIONS} partitions of `{topic}`\n",
                self.options.records
            );
            self.data = Some(topic);
        }
        self.data.clone().unwrap()
    }

    /// The passthrough's records/s and CPU (measured on first use).
    fn passthrough(&mut self) -> throughput::Measured {
        if let Some(measured) = self.passthrough {
            return measured;
        }
        let data = self.data();
        let measured = throughput::passthrough(&self.kafka, &data, self.options.records);
        println!(
            "passthrough (2 threads): {:.0} records/s",
            measured.throughput
        );
        self.passthrough = Some(measured);
        measured
    }

    /// The 5-tree forest's records/s with `pipeline`, 1 process × 2 workers, on a backlog
    /// (measured on first use, unless the throughput section did).
    fn max_rate(&mut self, pipeline: PipelineKind) -> f64 {
        if let Some(rate) = self.max_rates.get(&pipeline.to_string()) {
            return *rate;
        }
        // The passthrough first (when the throughput section has not run): a job measured first
        // on a fresh broker, its JVM not yet warm, is measured low (one run: 232 k records/s
        // keyed, where another broker gave 278 k after the passthrough).
        self.passthrough();
        let data = self.data();
        let measured = throughput::serve_run(
            &self.kafka,
            &data,
            &throughput::load_model().descriptor(),
            pipeline,
            Layout::ONE_BY_TWO,
            self.options.records,
        );
        println!(
            "{LOAD_MODEL}, {pipeline}, 1p×2w, on a backlog: {:.0} records/s",
            measured.throughput
        );
        self.max_rates
            .insert(pipeline.to_string(), measured.throughput);
        measured.throughput
    }

    /// The maximum records/s the latency and swap loads of `pipeline` are fractions of:
    /// `--max-rate`, or the 5-tree forest's with the paced producer beside the job
    /// ([`latency::paced_maximum`], measured on first use).
    fn load_rate(&mut self, pipeline: PipelineKind) -> f64 {
        if let Some(rate) = self.options.max_rate {
            return rate;
        }
        if let Some(rate) = self.load_rates.get(&pipeline.to_string()) {
            return *rate;
        }
        let rate = latency::paced_maximum(self, pipeline);
        self.load_rates.insert(pipeline.to_string(), rate);
        rate
    }

    /// Notes a throughput measured by the throughput section.
    fn note_rate(&mut self, model: &str, pipeline: PipelineKind, layout: Layout, rate: f64) {
        if model == LOAD_MODEL && layout.processes == 1 && layout.workers == 2 {
            self.max_rates.insert(pipeline.to_string(), rate);
        }
    }
}

/// A model given to `serve`.
pub struct BenchModel {
    label: String,
    kind: ModelKind,
    bytes: Vec<u8>,
}

impl BenchModel {
    fn descriptor(&self) -> modelserver::proto::ModelDescriptor {
        let name = self.label.replace(' ', "-");
        modelserver::kafka::publish::model_with_bytes(&name, "wine", self.kind, self.bytes.clone())
    }
}

fn main() {
    let Ok(bootstrap) = std::env::var("KAFKA_BOOTSTRAP") else {
        println!("end_to_end: needs a Kafka broker (run scripts/bench.sh); skipped");
        return;
    };
    let arguments: Vec<String> = std::env::args().collect();
    if let [_, flag, data, out] = &arguments[..] {
        if flag == throughput::PASSTHROUGH_PROCESS {
            return throughput::passthrough_process(&KafkaConfig::new(bootstrap), data, out);
        }
    }
    let options = Options::parse();
    let template = std::fs::read_to_string(repo("data/pmml/random_forest_classifier.pmml"))
        .expect("the bundled forest");
    let mut bench = Bench {
        kafka: KafkaConfig::new(bootstrap),
        forests: ForestWriter::new(&template),
        options,
        data: None,
        passthrough: None,
        max_rates: HashMap::new(),
        load_rates: HashMap::new(),
    };
    let started = Instant::now();
    println!(
        "end_to_end: sections {} ({} cores)\n",
        bench.options.only.join(","),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    for section in SECTIONS {
        if !bench.options.runs(section) {
            continue;
        }
        let section_started = Instant::now();
        println!("== {section} ==");
        match section {
            "throughput" => throughput::throughput(&mut bench),
            "monitoring" => throughput::monitoring(&mut bench),
            "startup" => throughput::startup(&mut bench),
            "idle" => throughput::idle(&mut bench),
            "scaling" => throughput::scaling(&mut bench),
            "latency" => latency::latency(&mut bench),
            "swap" => swap::swap(&mut bench),
            "memory" => memory::memory(&mut bench),
            _ => unreachable!(),
        }
        println!(
            "({section}: {:.0} s)\n",
            section_started.elapsed().as_secs_f64()
        );
    }
    println!(
        "end_to_end: done in {:.0} s",
        started.elapsed().as_secs_f64()
    );
}

/// `path` in the repository (the workspace's root, above `jobs/`).
fn repo(path: &str) -> PathBuf {
    let jobs = Path::new(env!("CARGO_MANIFEST_DIR"));
    jobs.parent().expect("the workspace root").join(path)
}
