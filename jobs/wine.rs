//! `wine`: a wine-quality serving app built on the modelserver library — the example to copy.
//!
//! It serves the red-wine records of the original system with two of the project's wine models:
//! a PMML random forest first, then an ONNX gradient-boosting classifier that replaces it while
//! records keep flowing. It prints a predicted quality per record, then what the job's state
//! endpoint says about each model (usage, scoring times, swaps).
//!
//! ```text
//! cargo run --release --bin wine                            # on an embedded Kafka
//! cargo run --release --bin wine -- --bootstrap 127.0.0.1:9092
//! ```

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Result;
use clap::Parser;
use modelserver::app::{follow_results, AppKafka, AppTopics};
use modelserver::dataset;
use modelserver::job::Job;
use modelserver::kafka::publish::{model_with_bytes, Publisher};
use modelserver::model::ModelKind;
use modelserver::proto::ServingResult;
use modelserver::record::WineRecord;
use modelserver::state::query::{query_job, render_table};

/// Serve wine-quality models on a stream of wine records, swapping one model for another.
#[derive(Parser, Debug)]
struct Args {
    /// Kafka bootstrap servers (default: an embedded Kafka).
    #[arg(long, env = "KAFKA_BOOTSTRAP")]
    bootstrap: Option<String>,
    /// Records to serve (the bundled red-wine rows, repeated as needed).
    #[arg(long, default_value_t = 1000)]
    records: usize,
    /// Worker threads.
    #[arg(short = 'w', long, default_value_t = 2)]
    workers: usize,
    /// Where the job answers state queries.
    #[arg(long, default_value = "127.0.0.1:9300")]
    state_addr: SocketAddr,
    /// Prefix of the app's topics (records, models, predictions).
    #[arg(long, default_value = "wine")]
    topics: String,
    /// Print every n-th prediction.
    #[arg(long, default_value_t = 100)]
    every: usize,
}

/// How often the job refreshes the statistics its state endpoint shows.
const STATS_INTERVAL: Duration = Duration::from_millis(200);

/// The first model, and the one that replaces it halfway through the records.
const FOREST: &[u8] = include_bytes!("../data/pmml/random_forest_classifier.pmml");
const BOOSTING: &[u8] = include_bytes!("../data/onnx/wine_gbm_classifier.onnx");

fn main() -> Result<()> {
    modelserver::cli::init_logging();
    let args = Args::parse();
    let topics = AppTopics::new(&args.topics);
    let kafka = AppKafka::connect(args.bootstrap.as_deref(), &topics.partitions())?;
    let place = if kafka.is_embedded() { "embedded " } else { "" };
    println!("{place}Kafka at {}", kafka.config.bootstrap);

    // The job: wine records keyed by dataType, predictions to their topic, a state endpoint.
    let mut config = topics.job_config(&kafka.config);
    config.state.addr = Some(args.state_addr);
    config.serving.stats_interval = Some(STATS_INTERVAL);
    let job = Job::new(config)?;
    let stop = job.stop_flag();
    let workers = args.workers;
    let running =
        std::thread::spawn(move || job.run::<WineRecord>(timely::Config::process(workers)));

    // The models and the records: the forest serves the first half, the boosting the rest.
    let publisher = Publisher::new(&kafka.config)?;
    let wines: Vec<WineRecord> = dataset::bundled()
        .iter()
        .cycle()
        .take(args.records)
        .map(|sample| sample.to_record("wine"))
        .collect();
    let (first, second) = wines.split_at(args.records / 2);
    let forest = model_with_bytes("pmml-forest", "wine", ModelKind::Pmml, FOREST.to_vec());
    publisher.publish_model(&topics.models, &forest)?;
    publisher.publish_records(&topics.records, first.to_vec(), None, |_| {})?;
    let boosting = model_with_bytes("onnx-boosting", "wine", ModelKind::Onnx, BOOSTING.to_vec());
    publisher.publish_model(&topics.models, &boosting)?;
    publisher.publish_records(&topics.records, second.to_vec(), None, |_| {})?;

    // The predictions, as they arrive.
    let mut printed = 0;
    let seen = follow_results(
        &kafka.config,
        &topics.predictions,
        args.records,
        Duration::from_secs(30),
        |result| {
            if printed % args.every == 0 {
                println!("{}", describe(&result));
            }
            printed += 1;
        },
    )?;
    println!("{seen} predictions for {} records\n", args.records);

    // What the job says about its models (once it has refreshed its statistics), then stop it.
    std::thread::sleep(2 * STATS_INTERVAL);
    let state = query_job(&[args.state_addr.to_string()], Duration::from_secs(5));
    print!("{}", render_table(&state));
    stop.store(true, Ordering::Relaxed);
    let counters = running.join().expect("the job does not panic")?;
    println!("\njob: {}", counters.summary());
    Ok(())
}

/// One prediction: where the record was read, the model, the quality and its probability.
fn describe(result: &ServingResult) -> String {
    let probability = result
        .probabilities
        .iter()
        .find(|class| class.label == result.label)
        .map_or(f64::NAN, |class| class.probability);
    format!(
        "[{}:{:>4}] {:<14} quality {} (p = {probability:.2})",
        result.source_partition, result.source_offset, result.model_name, result.label
    )
}
