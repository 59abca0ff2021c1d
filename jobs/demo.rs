//! `demo`: the whole system in one process, on librdkafka's in-process mock Kafka cluster.
//!
//! It starts the mock cluster, the serving job, a publisher that streams the bundled wine records
//! and swaps models mid-stream (including one broken model, which the job rejects while the
//! current model keeps serving), and a viewer that prints results from the results topic as they
//! arrive, and each swap as it happens.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

/// Workers allocate and free a result's buffers for every record, from several threads at once:
/// mimalloc's thread-local free lists serve that without glibc's arena growth and trimming.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Result;
use clap::Parser;
use modelserver::app::{follow_results, AppKafka};
use modelserver::dataset;
use modelserver::job::{DeadLetterTopic, Job, JobConfig};
use modelserver::kafka::publish::{model_with_bytes, Publisher};
use modelserver::kafka::KafkaConfig;
use modelserver::model::ModelKind;
use modelserver::pipeline::PipelineKind;
use modelserver::proto::ServingResult;
use modelserver::record::WineRecord;

/// A model the demo swaps in when a fraction of the records has been published.
struct Swap {
    at: f64,
    name: &'static str,
    kind: ModelKind,
    bytes: &'static [u8],
}

/// The demo's swaps: ONNX and PMML models, and one that cannot load.
const SWAPS: [Swap; 5] = [
    Swap {
        at: 0.0,
        name: "tree-classifier",
        kind: ModelKind::Onnx,
        bytes: include_bytes!("../data/onnx/wine_tree_classifier.onnx"),
    },
    Swap {
        at: 0.2,
        name: "forest-classifier",
        kind: ModelKind::Onnx,
        bytes: include_bytes!("../data/onnx/wine_forest_classifier.onnx"),
    },
    Swap {
        at: 0.4,
        name: "broken-model",
        kind: ModelKind::Onnx,
        bytes: b"these bytes are not an ONNX model",
    },
    Swap {
        at: 0.6,
        name: "pmml-boosting",
        kind: ModelKind::Pmml,
        bytes: include_bytes!("../data/pmml/gradient_boosting_regressor.pmml"),
    },
    Swap {
        at: 0.8,
        name: "linear-regression",
        kind: ModelKind::Onnx,
        bytes: include_bytes!("../data/onnx/wine_linear_regression.onnx"),
    },
];

/// Run the model server end to end on an embedded Kafka, swapping models while data flows.
#[derive(Parser, Debug)]
struct Args {
    /// keyed or flat.
    #[arg(long, default_value = "keyed")]
    pipeline: PipelineKind,
    /// Worker threads.
    #[arg(short = 'w', long, default_value_t = 2)]
    workers: usize,
    /// Records to stream (the bundled 1,599 rows, repeated as needed).
    #[arg(long, default_value_t = 4000)]
    records: usize,
    /// Records per second.
    #[arg(long, default_value_t = 1000.0)]
    rate: f64,
    /// Print every n-th result (swaps are always printed).
    #[arg(long, default_value_t = 200)]
    every: u64,
}

fn main() -> Result<()> {
    cli::allocator::tune();
    cli::init_logging();
    let args = Args::parse();
    let dead_letters = DeadLetterTopic::Derived
        .name(JobConfig::DATA_TOPIC)
        .expect("a derived name");
    let topics = [
        (JobConfig::DATA_TOPIC, 4),
        (JobConfig::MODELS_TOPIC, 1),
        (JobConfig::RESULTS_TOPIC, 1),
        (dead_letters.as_str(), 4),
    ];
    let embedded = AppKafka::connect(None, &topics)?;
    let kafka = embedded.config.clone();
    println!(
        "embedded Kafka at {}; pipeline {}, {} workers",
        kafka.bootstrap, args.pipeline, args.workers
    );

    let job = Job::new(JobConfig::new(kafka.clone(), args.pipeline))?;
    let stop = job.stop_flag();
    let workers = args.workers;
    let serving =
        std::thread::spawn(move || job.run::<WineRecord>(timely::Config::process(workers)));

    let tally = std::thread::scope(|scope| {
        let publisher = scope.spawn(|| publish(&kafka, &args));
        let tally = view(&kafka, &args);
        publisher.join().expect("the publisher does not panic")?;
        tally
    })?;
    stop.store(true, Ordering::Relaxed);
    let counters = serving.join().expect("the job does not panic")?;
    println!("\n{}", tally.report(args.records));
    println!("job: {}", counters.summary());
    Ok(())
}

/// Streams the records, publishing each model of [`SWAPS`] when its moment comes.
fn publish(kafka: &KafkaConfig, args: &Args) -> Result<()> {
    let publisher = Publisher::new(kafka)?;
    let samples = dataset::bundled();
    let mut records = samples
        .iter()
        .cycle()
        .map(|sample| sample.to_record("wine"));
    let mut published = 0;
    for swap in &SWAPS {
        let until = (swap.at * args.records as f64) as usize;
        let batch = records.by_ref().take(until - published);
        published +=
            publisher.publish_records(JobConfig::DATA_TOPIC, batch, Some(args.rate), |_| {})?
                as usize;
        let descriptor = model_with_bytes(swap.name, "wine", swap.kind, swap.bytes.to_vec());
        publisher.publish_model(JobConfig::MODELS_TOPIC, &descriptor)?;
        println!(
            ">>> published {} model `{}` after {published} records",
            swap.kind, swap.name
        );
    }
    publisher.publish_records(
        JobConfig::DATA_TOPIC,
        records.take(args.records - published),
        Some(args.rate),
        |_| {},
    )?;
    Ok(())
}

/// What the viewer saw.
#[derive(Default)]
struct Tally {
    per_model: BTreeMap<String, (u64, u64)>,
    seen: u64,
}

impl Tally {
    fn report(&self, expected: usize) -> String {
        let mut lines = vec![format!(
            "{} results for {expected} records published",
            self.seen
        )];
        for (model, (count, nanos)) in &self.per_model {
            let name = if model.is_empty() {
                "(no model)"
            } else {
                model
            };
            lines.push(format!(
                "  {name:<20} {count:>6} records, {:>8.1} µs mean scoring time",
                *nanos as f64 / *count as f64 / 1e3
            ));
        }
        lines.join("\n")
    }
}

/// Prints results from the results topic until every record has one (or nothing came for 20 s).
fn view(kafka: &KafkaConfig, args: &Args) -> Result<Tally> {
    let mut tally = Tally::default();
    let mut models_seen = std::collections::HashSet::new();
    let idle = Duration::from_secs(20);
    follow_results(
        kafka,
        JobConfig::RESULTS_TOPIC,
        args.records,
        idle,
        |result| {
            tally.seen += 1;
            let entry = tally
                .per_model
                .entry(result.model_name.clone())
                .or_default();
            entry.0 += 1;
            entry.1 += result.duration_ns as u64;
            if models_seen.insert(result.model_name.clone()) {
                println!(
                    "*** swap: `{}` now scores dataType `{}` (first at partition {} offset {})",
                    result.model_name,
                    result.data_type,
                    result.source_partition,
                    result.source_offset
                );
            }
            if tally.seen % args.every == 0 {
                println!("{}", describe(&result));
            }
        },
    )?;
    Ok(tally)
}

fn describe(result: &ServingResult) -> String {
    let prediction = if result.label.is_empty() {
        format!("quality {:.2}", result.value)
    } else {
        let confidence = result
            .probabilities
            .iter()
            .map(|p| p.probability)
            .fold(0.0, f64::max);
        format!("quality {} (p={confidence:.2})", result.label)
    };
    format!(
        "  [{}:{:>5}] {:<18} {prediction:<22} {:>7.1} µs",
        result.source_partition,
        result.source_offset,
        result.model_name,
        result.duration_ns as f64 / 1e3
    )
}
