//! `iris`: a serving app for a data set the library knows nothing about, with no record type of
//! its own: Fisher's iris flowers as generic feature records, sent as JSON.
//!
//! Each CSV row becomes a `FeatureRecord` (`dataType` "iris" and the four named measurements);
//! the models name the features they take: the PMML tree through its MiningSchema, the ONNX
//! random forest through its `feature_names` metadata. The tree serves first, the forest
//! replaces it halfway through.
//!
//! ```text
//! cargo run --release --bin iris                            # on an embedded Kafka
//! cargo run --release --bin iris -- --bootstrap 127.0.0.1:9092
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

/// Workers allocate and free a result's buffers for every record, from several threads at once:
/// mimalloc's thread-local free lists serve that without glibc's arena growth and trimming.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::Parser;
use cli::AppArgs;
use modelserver::app::{
    print_predictions, print_state, wait_for_predictions, AppKafka, RunningJob,
};
use modelserver::dataset::read_feature_records;
use modelserver::job::Job;
use modelserver::kafka::publish::{model_with_bytes, Publisher};
use modelserver::model::ModelKind;
use modelserver::record::{FeatureRecord, PayloadFormat};

/// Serve iris classifiers on feature records, swapping one model for another.
#[derive(Parser, Debug)]
struct Args {
    #[command(flatten)]
    app: AppArgs,
    /// The flowers: a CSV with a header (its `species` column is left out of the records).
    #[arg(long, default_value = "data/iris/iris.csv")]
    csv: PathBuf,
}

const STATS_INTERVAL: Duration = Duration::from_millis(200);
const TREE: &[u8] = include_bytes!("../data/iris/iris_tree.pmml");
const FOREST: &[u8] = include_bytes!("../data/iris/iris_forest.onnx");

fn main() -> Result<()> {
    cli::allocator::tune();
    cli::init_logging();
    let args = Args::parse();
    let app = &args.app;
    let topics = app.topics("iris");
    let kafka = AppKafka::connect(app.bootstrap.as_deref(), &topics.partitions())?;
    let place = if kafka.is_embedded() { "embedded " } else { "" };
    println!("{place}Kafka at {}", kafka.config.bootstrap);

    // The job: feature records in JSON; nothing here knows what an iris is.
    let mut config = topics.job_config(&kafka.config);
    config.serving.data_format = PayloadFormat::Json;
    config.state.addr = Some(app.state_addr);
    config.serving.stats_interval = Some(STATS_INTERVAL);
    let running = RunningJob::spawn::<FeatureRecord>(Job::new(config)?, app.workers);

    // The flowers, and the models: the tree first, the forest halfway through.
    let flowers = read_feature_records(&args.csv, "iris", &["species".into()])?;
    let flowers: Vec<FeatureRecord> = flowers.iter().cycle().take(app.records).cloned().collect();
    let (first, second) = flowers.split_at(app.records / 2);
    let publisher = Publisher::new(&kafka.config)?;
    let json = PayloadFormat::Json;
    let tree = model_with_bytes("pmml-tree", "iris", ModelKind::Pmml, TREE.to_vec());
    publisher.publish_model(&topics.models, &tree)?;
    publisher.publish_encoded(&topics.records, first.to_vec(), json, None, |_| {})?;
    wait_for_predictions(&kafka.config, &topics.predictions, first.len())?;
    let forest = model_with_bytes("onnx-forest", "iris", ModelKind::Onnx, FOREST.to_vec());
    publisher.publish_model(&topics.models, &forest)?;
    publisher.publish_encoded(&topics.records, second.to_vec(), json, None, |_| {})?;

    // The predictions as they arrive, what the job says about its models, then stop it.
    print_predictions(
        &kafka.config,
        &topics.predictions,
        app.records,
        app.every,
        "species",
    )?;
    print_state(app.state_addr, STATS_INTERVAL);
    let counters = running.stop()?;
    println!("\njob: {}", counters.summary());
    Ok(())
}
