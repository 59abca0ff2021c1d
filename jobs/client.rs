//! `client`: publishes records and models to a serving job's topics.
//!
//! ```text
//! client publish-data --rate 100 --loop                 # the bundled 1,599 red-wine rows
//! client publish-model data/onnx/wine_tree_classifier.onnx --name tree --type onnx
//! client publish-data --record features --csv data/iris/iris.csv --exclude species --data-type iris
//! client dead-letters --count 10                        # what the job gave up on, and why
//! client publish-model data/onnx/wine_logistic.onnx --name logistic --type onnx --stage
//! client canary --data-type wine --model logistic --share 10
//! client promote --data-type wine                       # or: abort
//! client rollback --data-type wine [--to tree]
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use cli::{init_logging, KafkaArgs, RecordKind};
use indicatif::{ProgressBar, ProgressStyle};
use modelserver::dataset;
use modelserver::job::{DeadLetterTopic, JobConfig};
use modelserver::kafka::admin::ensure_topics;
use modelserver::kafka::publish::{
    lifecycle_operation, model_at_location, model_with_bytes, staged, Publisher,
};
use modelserver::kafka::sink::{read_dead_letters, ReadDeadLetter};
use modelserver::model::ModelKind;
use modelserver::proto::lifecycle::{Decider, Operation};
use modelserver::proto::Lifecycle;
use modelserver::record::{PayloadFormat, Record};

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
    /// Stream records to the data topic: wine records (WineRecord), or the rows of any CSV as
    /// feature records (FeatureRecord).
    PublishData {
        /// The record type.
        #[arg(long, value_enum, default_value = "wine")]
        record: RecordKind,
        /// How to encode the records: protobuf or json.
        #[arg(long, default_value_t = PayloadFormat::default())]
        format: PayloadFormat,
        /// Records per second (default: as fast as possible).
        #[arg(long)]
        rate: Option<f64>,
        /// Start over at the end of the data, forever.
        #[arg(long = "loop")]
        repeat: bool,
        /// Publish this many records, starting over at the end of the data as often as needed.
        #[arg(long, conflicts_with = "repeat")]
        count: Option<u64>,
        /// Read the rows from this CSV instead of the bundled wine data: for wine records, the UCI
        /// layout with a header or the original's `;` layout; for feature records, any CSV with
        /// a header (numbers are numeric features, other cells categorical, empty cells missing).
        #[arg(long, required_if_eq("record", "features"))]
        csv: Option<PathBuf>,
        /// A column to leave out of feature records (e.g. the label); repeatable.
        #[arg(long)]
        exclude: Vec<String>,
        /// The dataType of the records (the model key).
        #[arg(long, default_value = "wine")]
        data_type: String,
        /// The data topic.
        #[arg(long, default_value = JobConfig::DATA_TOPIC)]
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
        /// The record features that feed the model's inputs, in input order (for feature records
        /// and models that do not name their own), comma-separated.
        #[arg(long, value_delimiter = ',')]
        inputs: Vec<String>,
        /// Send the file's path as the model's location instead of its bytes.
        #[arg(long)]
        location: bool,
        /// Keep the model ready as a version of its dataType without serving it (for a canary,
        /// a shadow, an ensemble or a rollback later).
        #[arg(long)]
        stage: bool,
        /// The models topic.
        #[arg(long, default_value = JobConfig::MODELS_TOPIC)]
        topic: String,
    },
    /// Serve an earlier version of a dataType again (kept by the job: the last few published).
    Rollback {
        #[command(flatten)]
        key: Key,
        /// The version (default: the one published before the current one).
        #[arg(long)]
        to: Option<String>,
    },
    /// Stop serving newly published models of a dataType: they are staged until `unpin`.
    Pin {
        #[command(flatten)]
        key: Key,
    },
    /// Serve newly published models of a dataType again.
    Unpin {
        #[command(flatten)]
        key: Key,
    },
    /// Send a share of a dataType's records to a staged version (the choice is made by each
    /// record's Kafka position: a replayed record takes the same path).
    Canary {
        #[command(flatten)]
        key: Key,
        /// The version.
        #[arg(long)]
        model: String,
        /// The share of records, in percent.
        #[arg(long)]
        share: f64,
    },
    /// Make the canary serve every record.
    Promote {
        #[command(flatten)]
        key: Key,
    },
    /// Drop the canary.
    Abort {
        #[command(flatten)]
        key: Key,
    },
    /// Score every record with a staged version too; its results come flagged SHADOW beside
    /// the live ones, which they do not change.
    Shadow {
        #[command(flatten)]
        key: Key,
        /// The version.
        #[arg(long)]
        model: String,
    },
    /// Drop the shadow.
    Unshadow {
        #[command(flatten)]
        key: Key,
    },
    /// Serve a dataType with several versions at once, a decider choosing the answer.
    Ensemble {
        #[command(flatten)]
        key: Key,
        /// The versions, in order, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        members: Vec<String>,
        /// majority, mean or first-within.
        #[arg(long, default_value = "majority")]
        decider: String,
        /// first-within: the time each member has per record, in microseconds.
        #[arg(long, default_value_t = 0.0)]
        budget_us: f64,
    },
    /// Drop the ensemble: the current version serves alone.
    Disband {
        #[command(flatten)]
        key: Key,
    },
    /// Print what a job gave up on (its dead-letter topic), one JSON line each: where it came
    /// from, why, and its bytes (as text when they are UTF-8, else their length).
    DeadLetters {
        /// The dead-letter topic (default: the default data topic's).
        #[arg(long)]
        topic: Option<String>,
        /// Stop after this many.
        #[arg(long, default_value_t = usize::MAX)]
        count: usize,
        /// Stop when none has come for this many seconds.
        #[arg(long, default_value_t = 5.0)]
        idle: f64,
    },
}

/// The dataType a lifecycle operation applies to, and where it is published.
#[derive(clap::Args, Debug)]
struct Key {
    /// The dataType.
    #[arg(long, default_value = "wine")]
    data_type: String,
    /// The models topic.
    #[arg(long, default_value = JobConfig::MODELS_TOPIC)]
    topic: String,
}

fn main() -> Result<()> {
    init_logging();
    let args = Args::parse();
    let kafka = args.kafka.config();
    let publisher = Publisher::new(&kafka)?;
    match args.command {
        Command::PublishData {
            record,
            format,
            rate,
            repeat,
            count,
            csv,
            exclude,
            data_type,
            topic,
            partitions,
        } => {
            ensure_topics(&kafka, &[(&topic, partitions)])?;
            let stream = Stream {
                publisher: &publisher,
                topic: &topic,
                format,
                rate,
                repeat,
                count,
            };
            match (record, csv) {
                (RecordKind::Wine, csv) => {
                    let samples = match csv {
                        Some(path) => dataset::read_csv(&path)?,
                        None => dataset::bundled(),
                    };
                    let records: Vec<_> = samples
                        .iter()
                        .map(|sample| sample.to_record(&data_type))
                        .collect();
                    stream.publish(&records)?;
                }
                (RecordKind::Features, Some(path)) => {
                    stream.publish(&dataset::read_feature_records(&path, &data_type, &exclude)?)?;
                }
                (RecordKind::Features, None) => unreachable!("clap requires --csv"),
            }
        }
        Command::PublishModel {
            file,
            name,
            data_type,
            kind,
            description,
            inputs,
            location,
            stage,
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
            descriptor.inputs = inputs;
            if stage {
                descriptor = staged(descriptor);
            }
            publisher.publish_model(&topic, &descriptor)?;
            let how = if stage { "staged" } else { "published" };
            println!("model `{name}` ({kind}) for dataType `{data_type}` {how} on `{topic}`");
        }
        Command::DeadLetters { topic, count, idle } => {
            print_dead_letters(&kafka, topic, count, idle)?;
        }
        operation => {
            let (key, lifecycle) = lifecycle(operation)?;
            ensure_topics(&kafka, &[(&key.topic, 1)])?;
            let descriptor = lifecycle_operation(&key.data_type, lifecycle);
            publisher.publish_model(&key.topic, &descriptor)?;
            let operation = descriptor.lifecycle.as_ref().map(|l| l.operation());
            let name = operation.map_or("", |o| o.as_str_name()).to_lowercase();
            println!(
                "{name} for dataType `{}` published on `{}`",
                key.data_type, key.topic
            );
        }
    }
    Ok(())
}

/// Prints the dead letters of `topic` (by default the default data topic's).
fn print_dead_letters(
    kafka: &modelserver::kafka::KafkaConfig,
    topic: Option<String>,
    count: usize,
    idle: f64,
) -> Result<()> {
    let topic = topic.unwrap_or_else(|| {
        DeadLetterTopic::Derived
            .name(JobConfig::DATA_TOPIC)
            .expect("a derived name")
    });
    let idle = Duration::from_secs_f64(idle);
    for letter in read_dead_letters(kafka, &topic, count, idle)? {
        println!("{}", dead_letter_line(&letter));
    }
    Ok(())
}

/// The lifecycle operation a command publishes, and on which key.
fn lifecycle(command: Command) -> Result<(Key, Lifecycle)> {
    let mut lifecycle = Lifecycle::default();
    let (key, operation) = match command {
        Command::Rollback { key, to } => {
            lifecycle.model = to.unwrap_or_default();
            (key, Operation::Rollback)
        }
        Command::Pin { key } => (key, Operation::Pin),
        Command::Unpin { key } => (key, Operation::Unpin),
        Command::Canary { key, model, share } => {
            (lifecycle.model, lifecycle.share) = (model, share);
            (key, Operation::Canary)
        }
        Command::Promote { key } => (key, Operation::Promote),
        Command::Abort { key } => (key, Operation::Abort),
        Command::Shadow { key, model } => {
            lifecycle.model = model;
            (key, Operation::Shadow)
        }
        Command::Unshadow { key } => (key, Operation::Unshadow),
        Command::Ensemble {
            key,
            members,
            decider,
            budget_us,
        } => {
            let decider = Decider::from_str_name(&decider.to_uppercase().replace('-', "_"))
                .with_context(|| {
                    format!("unknown decider `{decider}` (majority, mean, first-within)")
                })?;
            lifecycle.members = members;
            lifecycle.set_decider(decider);
            lifecycle.budget_ns = (budget_us * 1_000.0) as i64;
            (key, Operation::Ensemble)
        }
        Command::Disband { key } => (key, Operation::Disband),
        Command::PublishData { .. }
        | Command::PublishModel { .. }
        | Command::DeadLetters { .. } => {
            unreachable!("not a lifecycle operation")
        }
    };
    lifecycle.set_operation(operation);
    Ok((key, lifecycle))
}

/// A dead letter as a JSON line.
fn dead_letter_line(letter: &ReadDeadLetter) -> serde_json::Value {
    let payload = match std::str::from_utf8(&letter.payload) {
        Ok(text) => serde_json::Value::from(text),
        Err(_) => serde_json::Value::from(format!("({} bytes)", letter.payload.len())),
    };
    serde_json::json!({
        "partition": letter.partition,
        "offset": letter.offset,
        "key": letter.key,
        "headers": letter.headers,
        "payload": payload,
    })
}

/// How `publish-data` streams records.
struct Stream<'a> {
    publisher: &'a Publisher,
    topic: &'a str,
    format: PayloadFormat,
    rate: Option<f64>,
    repeat: bool,
    count: Option<u64>,
}

impl Stream<'_> {
    /// Publishes `records` once, over and over, or `count` of them (cycling through them as
    /// needed), with a progress bar.
    fn publish<R: Record>(&self, records: &[R]) -> Result<()> {
        let total = self
            .count
            .or((!self.repeat).then_some(records.len() as u64));
        let cycled: Box<dyn Iterator<Item = &R>> = if self.repeat || self.count.is_some() {
            Box::new(records.iter().cycle())
        } else {
            Box::new(records.iter())
        };
        let limit = total.map_or(usize::MAX, |count| count as usize);
        let bar = progress_bar(total);
        let sent = self.publisher.publish_encoded(
            self.topic,
            cycled.take(limit).cloned(),
            self.format,
            self.rate,
            |sent| bar.set_position(sent),
        )?;
        bar.finish_with_message(format!("{sent} records published to `{}`", self.topic));
        Ok(())
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
