//! Latency produce → result under a paced load at 25 %, 50 % and 90 % of the most the job
//! delivers with the paced producer beside it ([`paced_maximum`]), measured in the same run.
//!
//! First the passthrough (at the keyed job's loads: the floor of producer, broker and consumer,
//! a result naming each record written for it), then one `serve` (5-tree forest, 1 process × 2
//! workers) per pipeline, each on fresh topics. This thread
//! sends wine records at a steady rate, record `i` to partition `i % 2` of a fresh data topic
//! (so at offset `i / 2`: one idempotent producer), noting when each was handed to the producer
//! (µs); a reader thread notes when each result arrives (µs, the same clock) and the input
//! partition and offset the result names. Latency = result read − record sent: producer, broker,
//! job, broker, consumer, all on this machine. Every record's send time and latency is written to
//! `target/bench/latency-<relay>.tsv`, to see when the slow ones came.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use modelserver::kafka::KafkaConfig;
use modelserver::pipeline::PipelineKind;
use modelserver::proto::ModelDescriptor;

use super::common::{
    quantile, round, send_paced, write_json, Producing, Reader, Seen, Serve, Topics, WinePayloads,
};
use super::throughput::{load_model, start_passthrough, Relaying};
use super::{repo, Bench, Layout, LOAD_MODEL, PARTITIONS};

/// What turns records into results in a latency run.
#[derive(Clone, Copy)]
enum Relay {
    /// A `serve` job of this pipeline.
    Job(PipelineKind),
    /// The passthrough, writing for each record a result that names it: the floor of
    /// producer, broker and consumer on this machine, at the keyed job's loads.
    Passthrough,
}

impl std::fmt::Display for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Relay::Job(pipeline) => write!(f, "{pipeline}"),
            Relay::Passthrough => write!(f, "pass"),
        }
    }
}

/// A relay at work on a run's topics.
enum Running {
    Job(Serve),
    Passthrough(Arc<AtomicBool>, Vec<JoinHandle<()>>),
}

impl Running {
    fn start(relay: Relay, kafka: &KafkaConfig, topics: &Topics) -> Running {
        match relay {
            Relay::Job(pipeline) => Running::Job(Serve::start(
                kafka,
                pipeline,
                Layout::ONE_BY_TWO,
                (&topics.data, &topics.models, &topics.results),
                &[],
            )),
            Relay::Passthrough => {
                let stop = Arc::new(AtomicBool::new(false));
                let relaying = Relaying::Results { stop: stop.clone() };
                let copiers = start_passthrough(kafka, &topics.data, &topics.results, relaying);
                Running::Passthrough(stop, copiers)
            }
        }
    }

    fn stop(self) {
        match self {
            Running::Job(serve) => serve.stop(),
            Running::Passthrough(stop, copiers) => {
                stop.store(true, Ordering::Relaxed);
                for copier in copiers {
                    copier.join().expect("a copier");
                }
            }
        }
    }
}

/// A relay at work on fresh topics, its model published and warmed up, with the paced producer
/// and the reader of its results.
struct RelayRun {
    topics: Topics,
    producer: Producing,
    payloads: WinePayloads,
    reader: Reader,
    running: Running,
    /// When each record was handed to the producer (µs), record `i` at index `i`.
    sent: Vec<u64>,
}

impl RelayRun {
    /// Starts `relay` with `descriptor` as its model.
    fn start(kafka: &KafkaConfig, relay: Relay, descriptor: &ModelDescriptor) -> RelayRun {
        let topics = Topics::create(kafka, "latency");
        let producer = Producing::new(kafka);
        producer.model(&topics.models, descriptor);
        producer.flush();
        let reader = Reader::start(kafka, &topics.results);
        let running = Running::start(relay, kafka, &topics);
        let mut run = RelayRun {
            topics,
            producer,
            payloads: WinePayloads::new("wine"),
            reader,
            running,
            sent: Vec::new(),
        };
        // Warm-up: the job connects and loads its model, the producer connects.
        run.send(2_000.0, 2_000);
        run
    }

    /// Sends `count` records at `rate` records/s, waits (a bounded time) for their results, and
    /// returns the range of their indices.
    fn send(&mut self, rate: f64, count: usize) -> Range<usize> {
        let first = self.sent.len();
        let never = AtomicBool::new(false);
        let stamps = send_paced(
            &self.producer,
            &self.topics.data,
            &self.payloads,
            rate,
            first,
            count,
            &never,
        );
        self.producer.flush();
        self.sent.extend(stamps);
        self.reader
            .wait_for(self.sent.len(), Duration::from_secs(30));
        first..self.sent.len()
    }

    /// Stops the relay: the send times, and the results read.
    fn finish(self) -> (Vec<u64>, Vec<Seen>) {
        let seen = self.reader.finish();
        self.running.stop();
        (self.sent, seen)
    }
}

/// The most records/s `pipeline`'s job (the 5-tree forest, 1 process × 2 workers) delivers
/// while the paced producer runs beside it on the same cores, as it does under every load of
/// the latency and swap sections: the producer offers the job's maximum on a backlog for a
/// level's seconds, and the rate is the results read while it sends, over the time it sends
/// (at most the rate it sent at).
pub fn paced_maximum(bench: &mut Bench, pipeline: PipelineKind) -> f64 {
    let offered = bench.max_rate(pipeline);
    let descriptor = load_model().descriptor();
    let mut run = RelayRun::start(&bench.kafka, Relay::Job(pipeline), &descriptor);
    let count = (offered * bench.options.level_seconds) as usize;
    let range = run.send(offered, count);
    let stamps = &run.sent[range];
    let (first, last) = (stamps[0], stamps[stamps.len() - 1]);
    let delivered = run.reader.with(|seen| {
        seen.iter()
            .filter(|result| (first..=last).contains(&result.seen_us))
            .count()
    });
    let sent_rate = rate_of(stamps);
    let delivered_rate = delivered as f64 / ((last - first) as f64 / 1e6);
    run.finish();
    println!(
        "{LOAD_MODEL}, {pipeline}, 1p×2w, beside the paced producer: {delivered_rate:.0} \
         records/s delivered of {sent_rate:.0} sent (the maximum the loads are taken from)"
    );
    delivered_rate.min(sent_rate)
}

pub fn latency(bench: &mut Bench) {
    let descriptor = load_model().descriptor();
    let seconds = bench.options.level_seconds;
    let mut rows = Vec::new();
    for pipeline in [PipelineKind::Keyed, PipelineKind::Flat] {
        bench.load_rate(pipeline);
    }
    println!("{}", LatencyRow::header());
    let relays = [
        Relay::Passthrough,
        Relay::Job(PipelineKind::Keyed),
        Relay::Job(PipelineKind::Flat),
    ];
    for relay in relays {
        let max = bench.load_rate(match relay {
            Relay::Job(pipeline) => pipeline,
            Relay::Passthrough => PipelineKind::Keyed,
        });
        let mut run = RelayRun::start(&bench.kafka, relay, &descriptor);
        let mut levels = Vec::new();
        for &level in &bench.options.levels {
            let rate = level * max;
            let range = run.send(rate, (rate * seconds) as usize);
            let achieved = rate_of(&run.sent[range.clone()]);
            levels.push((level, rate, achieved, range));
            std::thread::sleep(Duration::from_millis(500));
        }
        let (sent, seen) = run.finish();
        let mut latency_us: Vec<Option<u64>> = vec![None; sent.len()];
        for result in &seen {
            let index = result.source_offset as usize * PARTITIONS as usize
                + result.source_partition as usize;
            if let Some(slot) = latency_us.get_mut(index) {
                if slot.is_none() {
                    *slot = Some(result.seen_us.saturating_sub(sent[index]));
                }
            }
        }
        write_series(relay, &sent, &latency_us);
        for (level, rate, achieved, range) in levels {
            let mut values: Vec<u64> = latency_us[range.clone()]
                .iter()
                .flatten()
                .copied()
                .collect();
            values.sort_unstable();
            let ms = |q: f64| quantile(&values, q).map_or(f64::NAN, |us| us as f64 / 1000.0);
            let row = LatencyRow {
                pipeline: relay.to_string(),
                level,
                target: rate,
                achieved,
                records: range.len(),
                missing: range.len() - values.len(),
                p50: ms(0.5),
                p99: ms(0.99),
                p999: ms(0.999),
                max: ms(1.0),
            };
            println!("{}", row.line());
            rows.push(row.json(max));
        }
    }
    write_json(
        "latency",
        &serde_json::json!({
            "model": LOAD_MODEL,
            "layout": Layout::ONE_BY_TWO.to_string(),
            "seconds_per_level": seconds,
            "levels": rows,
        }),
    );
}

/// Writes each record's send time and latency (µs; `-` for a record without a result) to
/// `target/bench/latency-<relay>.tsv`.
fn write_series(relay: Relay, sent: &[u64], latency_us: &[Option<u64>]) {
    let mut text = String::from("sent_us\tlatency_us\n");
    for (sent, latency) in sent.iter().zip(latency_us) {
        let latency = latency.map_or("-".to_owned(), |us| us.to_string());
        text.push_str(&format!("{sent}\t{latency}\n"));
    }
    let directory = repo("target/bench");
    std::fs::create_dir_all(&directory).expect("target/bench");
    let path = directory.join(format!("latency-{relay}.tsv"));
    std::fs::write(&path, text).unwrap_or_else(|error| panic!("writing {path:?}: {error}"));
}

/// Records/s of sends stamped `stamps` (µs).
fn rate_of(stamps: &[u64]) -> f64 {
    match (stamps.first(), stamps.last()) {
        (Some(first), Some(last)) if last > first => {
            (stamps.len() - 1) as f64 / ((last - first) as f64 / 1e6)
        }
        _ => f64::NAN,
    }
}

struct LatencyRow {
    pipeline: String,
    level: f64,
    target: f64,
    achieved: f64,
    records: usize,
    missing: usize,
    p50: f64,
    p99: f64,
    p999: f64,
    max: f64,
}

impl LatencyRow {
    fn header() -> String {
        format!(
            "{:<6} {:>5} {:>10} {:>10} {:>9} {:>8} {:>8} {:>8} {:>9} {:>8}",
            "pipe",
            "load",
            "target/s",
            "sent/s",
            "records",
            "missing",
            "p50 ms",
            "p99 ms",
            "p99.9 ms",
            "max ms"
        )
    }

    fn line(&self) -> String {
        format!(
            "{:<6} {:>4.0}% {:>10.0} {:>10.0} {:>9} {:>8} {:>8.2} {:>8.2} {:>8.2} {:>9.2}",
            self.pipeline,
            self.level * 100.0,
            self.target,
            self.achieved,
            self.records,
            self.missing,
            self.p50,
            self.p99,
            self.p999,
            self.max
        )
    }

    fn json(&self, max: f64) -> serde_json::Value {
        serde_json::json!({
            "pipeline": self.pipeline,
            "load": self.level,
            "max_records_per_second": max.round(),
            "target_records_per_second": self.target.round(),
            "sent_records_per_second": self.achieved.round(),
            "records": self.records,
            "missing_results": self.missing,
            "p50_ms": round(self.p50, 2),
            "p99_ms": round(self.p99, 2),
            "p99_9_ms": round(self.p999, 2),
            "max_ms": round(self.max, 2),
        })
    }
}
