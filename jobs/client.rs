//! `client`: publishes wine records and models to a serving job's topics.
//!
//! ```text
//! client publish-data --rate 100 --loop                 # the bundled 1,599 red-wine rows
//! client publish-model data/onnx/wine_tree_classifier.onnx --name tree --type onnx
//! ```

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use modelserver::cli::{init_logging, KafkaArgs};
use modelserver::dataset::{self, WineSample};
use modelserver::kafka::admin::ensure_topics;
use modelserver::kafka::publish::{model_at_location, model_with_bytes, Publisher};
use modelserver::model::ModelKind;

/// Publish data records and models to Kafka.
#[derive(Parser, Debug)]
struct Args {
    #[command(flatten)]
    kafka: KafkaArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Stream wine records (WineRecord) to the data topic.
    PublishData {
        /// Records per second (default: as fast as possible).
        #[arg(long)]
        rate: Option<f64>,
        /// Start over at the end of the data, forever.
        #[arg(long = "loop")]
        repeat: bool,
        /// Stop after this many records.
        #[arg(long)]
        count: Option<u64>,
        /// Read the rows from this CSV (UCI layout with a header, or the original's `;` layout)
        /// instead of the bundled data.
        #[arg(long)]
        csv: Option<PathBuf>,
        /// The dataType of the records (the model key).
        #[arg(long, default_value = "wine")]
        data_type: String,
        /// The data topic.
        #[arg(long, default_value = "mdata")]
        topic: String,
        /// Partitions to create the topic with, if it does not exist.
        #[arg(long, default_value_t = 4)]
        partitions: i32,
    },
    /// Publish a model (ModelDescriptor) to the models topic.
    PublishModel {
        /// The model file.
        file: PathBuf,
        /// The model's name.
        #[arg(long)]
        name: String,
        /// The dataType it serves.
        #[arg(long, default_value = "wine")]
        data_type: String,
        /// The model type: pmml, onnx, tensorflow, tensorflow-saved.
        #[arg(long = "type")]
        kind: ModelKind,
        /// A description (default: the type and name).
        #[arg(long)]
        description: Option<String>,
        /// Send the file's path as the model's location instead of its bytes.
        #[arg(long)]
        location: bool,
        /// The models topic.
        #[arg(long, default_value = "models")]
        topic: String,
    },
}

fn main() -> Result<()> {
    init_logging();
    let args = Args::parse();
    let kafka = args.kafka.config();
    let publisher = Publisher::new(&kafka)?;
    match args.command {
        Command::PublishData {
            rate,
            repeat,
            count,
            csv,
            data_type,
            topic,
            partitions,
        } => {
            ensure_topics(&kafka, &[(&topic, partitions)])?;
            let samples = match csv {
                Some(path) => dataset::read_csv(&path)?,
                None => dataset::bundled(),
            };
            let total = count.or((!repeat).then_some(samples.len() as u64));
            let records = cycle(&samples, repeat).map(|sample| sample.to_record(&data_type));
            let records = records.take(count.map_or(usize::MAX, |count| count as usize));
            let bar = progress_bar(total);
            let sent =
                publisher.publish_records(&topic, records, rate, |sent| bar.set_position(sent))?;
            bar.finish_with_message(format!("{sent} records published to `{topic}`"));
        }
        Command::PublishModel {
            file,
            name,
            data_type,
            kind,
            description,
            location,
            topic,
        } => {
            ensure_topics(&kafka, &[(&topic, 1)])?;
            let mut descriptor = if location {
                let path = file
                    .canonicalize()
                    .with_context(|| format!("locating {}", file.display()))?;
                model_at_location(&name, &data_type, kind, &path.to_string_lossy())
            } else {
                let bytes =
                    std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
                model_with_bytes(&name, &data_type, kind, bytes)
            };
            if let Some(description) = description {
                descriptor.description = description;
            }
            publisher.publish_model(&topic, &descriptor)?;
            println!("model `{name}` ({kind}) for dataType `{data_type}` published to `{topic}`");
        }
    }
    Ok(())
}

/// The samples once, or over and over.
fn cycle(samples: &[WineSample], repeat: bool) -> Box<dyn Iterator<Item = &WineSample> + '_> {
    if repeat {
        Box::new(samples.iter().cycle())
    } else {
        Box::new(samples.iter())
    }
}

fn progress_bar(total: Option<u64>) -> ProgressBar {
    match total {
        Some(total) => ProgressBar::new(total).with_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} records, {per_sec}, eta {eta}")
                .expect("a valid template"),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} {pos} records, {per_sec}")
                .expect("a valid template"),
        ),
    }
}
