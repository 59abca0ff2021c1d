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

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Result;
use clap::Parser;
use modelserver::app::{follow_results, AppKafka, AppTopics};
use modelserver::dataset::read_feature_records;
use modelserver::job::Job;
use modelserver::kafka::publish::{model_with_bytes, Publisher};
use modelserver::model::ModelKind;
use modelserver::proto::ServingResult;
use modelserver::record::{FeatureRecord, PayloadFormat};
use modelserver::state::query::{query_job, render_table};

/// Serve iris classifiers on feature records, swapping one model for another.
#[derive(Parser, Debug)]
struct Args {
    /// Kafka bootstrap servers (default: an embedded Kafka).
    #[arg(long, env = "KAFKA_BOOTSTRAP")]
    bootstrap: Option<String>,
    /// The flowers: a CSV with a header (its `species` column is left out of the records).
    #[arg(long, default_value = "data/iris/iris.csv")]
    csv: PathBuf,
    /// Records to serve (the CSV's rows, repeated as needed).
    #[arg(long, default_value_t = 300)]
    records: usize,
    /// Worker threads.
    #[arg(short = 'w', long, default_value_t = 2)]
    workers: usize,
    /// Where the job answers state queries.
    #[arg(long, default_value = "127.0.0.1:9301")]
    state_addr: SocketAddr,
    /// Prefix of the app's topics (records, models, predictions).
    #[arg(long, default_value = "iris")]
    topics: String,
    /// Print every n-th prediction.
    #[arg(long, default_value_t = 30)]
    every: usize,
}

const STATS_INTERVAL: Duration = Duration::from_millis(200);
const TREE: &[u8] = include_bytes!("../data/iris/iris_tree.pmml");
const FOREST: &[u8] = include_bytes!("../data/iris/iris_forest.onnx");

fn main() -> Result<()> {
    modelserver::cli::init_logging();
    let args = Args::parse();
    let topics = AppTopics::new(&args.topics);
    let kafka = AppKafka::connect(args.bootstrap.as_deref(), &topics.partitions())?;
    let place = if kafka.is_embedded() { "embedded " } else { "" };
    println!("{place}Kafka at {}", kafka.config.bootstrap);

    // The job: feature records in JSON; nothing here knows what an iris is.
    let mut config = topics.job_config(&kafka.config);
    config.data_format = PayloadFormat::Json;
    config.state.addr = Some(args.state_addr);
    config.serving.stats_interval = Some(STATS_INTERVAL);
    let job = Job::new(config)?;
    let stop = job.stop_flag();
    let workers = args.workers;
    let running =
        std::thread::spawn(move || job.run::<FeatureRecord>(timely::Config::process(workers)));

    // The flowers, and the models: the tree first, the forest halfway through.
    let flowers = read_feature_records(&args.csv, "iris", &["species".into()])?;
    let flowers: Vec<FeatureRecord> = flowers.iter().cycle().take(args.records).cloned().collect();
    let (first, second) = flowers.split_at(args.records / 2);
    let publisher = Publisher::new(&kafka.config)?;
    let json = PayloadFormat::Json;
    let tree = model_with_bytes("pmml-tree", "iris", ModelKind::Pmml, TREE.to_vec());
    publisher.publish_model(&topics.models, &tree)?;
    publisher.publish_encoded(&topics.records, first.to_vec(), json, None, |_| {})?;
    let forest = model_with_bytes("onnx-forest", "iris", ModelKind::Onnx, FOREST.to_vec());
    publisher.publish_model(&topics.models, &forest)?;
    publisher.publish_encoded(&topics.records, second.to_vec(), json, None, |_| {})?;

    // The predictions, then what the job says about its models.
    let mut printed = 0;
    let idle = Duration::from_secs(30);
    let seen = follow_results(
        &kafka.config,
        &topics.predictions,
        args.records,
        idle,
        |result| {
            if printed % args.every == 0 {
                println!("{}", describe(&result));
            }
            printed += 1;
        },
    )?;
    println!("{seen} predictions for {} records\n", args.records);
    std::thread::sleep(2 * STATS_INTERVAL);
    let state = query_job(&[args.state_addr.to_string()], Duration::from_secs(5));
    print!("{}", render_table(&state));
    stop.store(true, Ordering::Relaxed);
    let counters = running.join().expect("the job does not panic")?;
    println!("\njob: {}", counters.summary());
    Ok(())
}

/// One prediction: where the record was read, the model, the species and its probability.
fn describe(result: &ServingResult) -> String {
    let probability = result
        .probabilities
        .iter()
        .find(|class| class.label == result.label)
        .map_or(f64::NAN, |class| class.probability);
    format!(
        "[{}:{:>4}] {:<14} species {} (p = {probability:.2})",
        result.source_partition, result.source_offset, result.model_name, result.label
    )
}
