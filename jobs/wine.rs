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

#![forbid(unsafe_code)]
#![warn(missing_docs)]

/// Workers allocate and free a result's buffers for every record, from several threads at once:
/// mimalloc's thread-local free lists serve that without glibc's arena growth and trimming.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::Duration;

use anyhow::Result;
use clap::Parser;
use cli::AppArgs;
use modelserver::app::{
    print_predictions, print_state, wait_for_predictions, AppKafka, RunningJob,
};
use modelserver::dataset;
use modelserver::job::Job;
use modelserver::kafka::publish::{model_with_bytes, Publisher};
use modelserver::model::ModelKind;
use modelserver::record::WineRecord;

/// Serve wine-quality models on a stream of wine records, swapping one model for another.
#[derive(Parser, Debug)]
struct Args {
    #[command(flatten)]
    app: AppArgs,
}

/// How often the job refreshes the statistics its state endpoint shows.
const STATS_INTERVAL: Duration = Duration::from_millis(200);

/// The first model, and the one that replaces it halfway through the records.
const FOREST: &[u8] = include_bytes!("../data/pmml/random_forest_classifier.pmml");
const BOOSTING: &[u8] = include_bytes!("../data/onnx/wine_gbm_classifier.onnx");

fn main() -> Result<()> {
    cli::allocator::tune();
    cli::init_logging();
    let args = Args::parse();
    let app = &args.app;
    let topics = app.topics("wine");
    let kafka = AppKafka::connect(app.bootstrap.as_deref(), &topics.partitions())?;
    let place = if kafka.is_embedded() { "embedded " } else { "" };
    println!("{place}Kafka at {}", kafka.config.bootstrap);

    // The job: wine records keyed by dataType, predictions to their topic, a state endpoint.
    let mut config = topics.job_config(&kafka.config);
    config.state.addr = Some(app.state_addr);
    config.serving.stats_interval = Some(STATS_INTERVAL);
    let running = RunningJob::spawn::<WineRecord>(Job::new(config)?, app.workers);

    // The models and the records: the forest serves the first half, the boosting the rest.
    let publisher = Publisher::new(&kafka.config)?;
    let wines: Vec<WineRecord> = dataset::bundled()
        .iter()
        .cycle()
        .take(app.records)
        .map(|sample| sample.to_record("wine"))
        .collect();
    let (first, second) = wines.split_at(app.records / 2);
    let forest = model_with_bytes("pmml-forest", "wine", ModelKind::Pmml, FOREST.to_vec());
    publisher.publish_model(&topics.models, &forest)?;
    publisher.publish_records(&topics.records, first.to_vec(), None, |_| {})?;
    wait_for_predictions(&kafka.config, &topics.predictions, first.len())?;
    let boosting = model_with_bytes("onnx-boosting", "wine", ModelKind::Onnx, BOOSTING.to_vec());
    publisher.publish_model(&topics.models, &boosting)?;
    publisher.publish_records(&topics.records, second.to_vec(), None, |_| {})?;

    // The predictions as they arrive, what the job says about its models, then stop it.
    print_predictions(
        &kafka.config,
        &topics.predictions,
        app.records,
        app.every,
        "quality",
    )?;
    print_state(app.state_addr, STATS_INTERVAL);
    let counters = running.stop()?;
    println!("\njob: {}", counters.summary());
    Ok(())
}
