//! Model swaps under load: while a paced producer sends wine records at 50 % of the most the
//! job delivers beside it (`latency::paced_maximum`, measured in this run), a new version of
//! the model is published again and again (two generated forests alternating, each version
//! under its own name, which every result carries). Per swap: publish (the model message's Kafka timestamp) → the first result by the
//! new version (its Kafka timestamp), → the last result by the previous version (when every
//! worker has switched), and the longest gap between consecutive results in the window from the
//! publish to a second after the new version's first result; beside it, the longest gap in the
//! second before each publish (no swap). Then the same with two ~50 MB forests.

use std::time::{Duration, Instant};

use modelserver::kafka::publish::model_with_bytes;
use modelserver::model::{load_model, InputNames, ModelKind};
use modelserver::pipeline::PipelineKind;
use modelserver::record::WineRecord;

use super::common::{quantile, round, write_json, Paced, Producing, Reader, Serve, Topics};
use super::{Bench, Layout};

/// The small forests: 5 trees of depth 5 (about the bundled forest's size).
const SMALL: (usize, u32) = (5, 5);
/// The depth of the big forests' trees (as many trees as make ~50 MB).
const BIG_DEPTH: u32 = 14;
/// How long the stream runs undisturbed after each swap is visible.
const SETTLE: Duration = Duration::from_secs(1);
/// How long the benchmark waits for a swap to show before it publishes the next one (a swap
/// that shows later is still measured; one that never does is counted as not seen). It bounds
/// the section's time when the job falls behind its load.
const SWAP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the benchmark waits for the results of the last records once the load stops.
const DRAIN: Duration = Duration::from_secs(20);

pub fn swap(bench: &mut Bench) {
    let small = [
        bench.forests.forest(SMALL.0, SMALL.1, 101),
        bench.forests.forest(SMALL.0, SMALL.1, 102),
    ];
    let big_bytes = bench.options.big_mb * 1_000_000;
    let big = [
        bench.forests.forest_of_bytes(big_bytes, BIG_DEPTH, 201),
        bench.forests.forest_of_bytes(big_bytes, BIG_DEPTH, 202),
    ];
    let build = |bytes: &[u8]| {
        let started = Instant::now();
        load_model(
            ModelKind::Pmml,
            bytes,
            InputNames::Schema(WineRecord::SCHEMA),
        )
        .expect("a generated forest builds");
        started.elapsed().as_secs_f64() * 1000.0
    };
    let small_build = build(&small[0]);
    let big_build = build(&big[0]);
    println!(
        "models: {} trees of depth {} ({:.0} KB, built in {small_build:.1} ms in-process); \
         ~{} MB: {} trees of depth {BIG_DEPTH} ({:.1} MB, built in {big_build:.0} ms in-process)",
        SMALL.0,
        SMALL.1,
        small[0].len() as f64 / 1e3,
        bench.options.big_mb,
        String::from_utf8_lossy(&big[0])
            .matches("<TreeModel")
            .count(),
        big[0].len() as f64 / 1e6,
        big_build = big_build,
    );
    // The loads first, so that their measuring (if the throughput section did not) does not
    // cut into the table.
    for pipeline in [PipelineKind::Keyed, PipelineKind::Flat] {
        bench.load_rate(pipeline);
    }
    println!("{}", SwapRow::header());
    let mut rows = Vec::new();
    let plans = [
        ("small", &small, bench.options.swaps, small_build),
        ("big", &big, bench.options.big_swaps, big_build),
    ];
    for (tag, models, swaps, build_ms) in plans {
        if swaps == 0 {
            continue;
        }
        for pipeline in [PipelineKind::Keyed, PipelineKind::Flat] {
            let row = swap_run(bench, pipeline, tag, models, swaps, build_ms);
            println!("{}", row.line());
            rows.push(row.json());
        }
    }
    write_json(
        "swap",
        &serde_json::json!({
            "layout": Layout::ONE_BY_TWO.to_string(),
            "load": 0.5,
            "runs": rows,
        }),
    );
}

/// One swap run: `swaps` versions of `models` (alternating) published under load.
fn swap_run(
    bench: &mut Bench,
    pipeline: PipelineKind,
    tag: &str,
    models: &[Vec<u8>; 2],
    swaps: usize,
    build_ms: f64,
) -> SwapRow {
    let rate = 0.5 * bench.load_rate(pipeline);
    let kafka = &bench.kafka;
    let topics = Topics::create(kafka, &format!("swap-{tag}"));
    let producer = Producing::new(kafka);
    let version = |n: usize| {
        model_with_bytes(
            &format!("{tag}-v{n}"),
            "wine",
            ModelKind::Pmml,
            models[n % 2].clone(),
        )
    };
    producer.model(&topics.models, &version(0));
    producer.flush();
    let reader = Reader::start(kafka, &topics.results);
    let serve = Serve::start(
        kafka,
        pipeline,
        Layout::ONE_BY_TWO,
        (&topics.data, &topics.models, &topics.results),
        &[],
    );
    let paced = Paced::start(kafka, &topics.data, rate, 0, usize::MAX);
    let shows = |name: &str| {
        let name = name.to_owned();
        move |seen: &[super::common::Seen]| seen.iter().rev().any(|s| *s.model == *name)
    };
    reader.wait_until(SWAP_TIMEOUT, shows(&format!("{tag}-v0")));
    std::thread::sleep(SETTLE);
    let mut published = Vec::new();
    for n in 1..=swaps {
        let descriptor = version(n);
        let at = producer.model(&topics.models, &descriptor);
        producer.flush();
        published.push((descriptor.name.clone(), at));
        reader.wait_until(SWAP_TIMEOUT, shows(&descriptor.name));
        std::thread::sleep(SETTLE);
    }
    let sent = paced.finish();
    reader.wait_until(DRAIN, |seen| seen.len() >= sent.len());
    let seen = reader.finish();
    let peak_mib = serve.memory_mib("VmHWM");
    serve.stop();

    let mut times: Vec<i64> = seen.iter().map(|s| s.kafka_ms).collect();
    times.sort_unstable();
    // The longest gap between consecutive results whose later one falls in [from, to].
    let longest_gap = |from: i64, to: i64| {
        let start = times.partition_point(|&t| t < from).max(1);
        let end = times.partition_point(|&t| t <= to);
        (start..end)
            .map(|i| times[i] - times[i - 1])
            .max()
            .unwrap_or(0)
    };
    let mut visible = Vec::new();
    let mut switched = Vec::new();
    let mut gaps = Vec::new();
    let mut quiet_gaps = Vec::new();
    let mut unseen = 0;
    let mut previous = format!("{tag}-v0");
    for (name, at) in &published {
        let first_new = seen
            .iter()
            .filter(|s| *s.model == **name)
            .map(|s| s.kafka_ms)
            .min();
        let last_old = seen
            .iter()
            .filter(|s| *s.model == *previous)
            .map(|s| s.kafka_ms)
            .max();
        previous = name.clone();
        let Some(first_new) = first_new else {
            unseen += 1;
            continue;
        };
        visible.push(first_new - at);
        switched.push(last_old.map_or(first_new, |last| last.max(first_new)) - at);
        gaps.push(longest_gap(*at, first_new + SETTLE.as_millis() as i64));
        quiet_gaps.push(longest_gap(*at - SETTLE.as_millis() as i64 + 100, *at - 1));
    }
    for values in [&mut visible, &mut switched, &mut gaps, &mut quiet_gaps] {
        values.sort_unstable();
    }
    let q = |values: &[i64], q: f64| quantile(values, q).unwrap_or(-1);
    SwapRow {
        pipeline: pipeline.to_string(),
        model: tag.to_owned(),
        megabytes: models[0].len() as f64 / 1e6,
        build_ms,
        rate,
        swaps,
        unseen,
        visible: (q(&visible, 0.5), q(&visible, 1.0)),
        switched: (q(&switched, 0.5), q(&switched, 1.0)),
        gap: (q(&gaps, 0.5), q(&gaps, 1.0)),
        quiet_gap: q(&quiet_gaps, 1.0),
        peak_mib,
    }
}

struct SwapRow {
    pipeline: String,
    model: String,
    megabytes: f64,
    build_ms: f64,
    rate: f64,
    swaps: usize,
    unseen: usize,
    /// Publish → first result by the new version, ms: p50, max.
    visible: (i64, i64),
    /// Publish → last result by the previous version (or the first new one, if later), ms.
    switched: (i64, i64),
    /// Longest gap between results in a swap's window, ms: p50, max.
    gap: (i64, i64),
    /// Longest gap in the seconds before the swaps, ms (the stream's own).
    quiet_gap: i64,
    /// The job's peak RSS (`VmHWM`), MiB.
    peak_mib: f64,
}

impl SwapRow {
    fn header() -> String {
        format!(
            "{:<6} {:<6} {:>8} {:>9} {:>9} {:>6} {:>7} {:>10} {:>10} {:>10} {:>10} {:>9} {:>9} {:>10} {:>9}",
            "pipe",
            "model",
            "MB",
            "build ms",
            "load/s",
            "swaps",
            "unseen",
            "new p50",
            "new max",
            "all p50",
            "all max",
            "gap p50",
            "gap max",
            "quiet gap",
            "peak MiB"
        )
    }

    fn line(&self) -> String {
        format!(
            "{:<6} {:<6} {:>8.2} {:>9.1} {:>9.0} {:>6} {:>7} {:>10} {:>10} {:>10} {:>10} {:>9} {:>9} {:>10} {:>9.0}",
            self.pipeline,
            self.model,
            self.megabytes,
            self.build_ms,
            self.rate,
            self.swaps,
            self.unseen,
            self.visible.0,
            self.visible.1,
            self.switched.0,
            self.switched.1,
            self.gap.0,
            self.gap.1,
            self.quiet_gap,
            self.peak_mib
        )
    }

    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "pipeline": self.pipeline,
            "model": self.model,
            "model_megabytes": round(self.megabytes, 2),
            "build_ms_in_process": round(self.build_ms, 1),
            "load_records_per_second": self.rate.round(),
            "swaps": self.swaps,
            "swaps_not_seen": self.unseen,
            "publish_to_first_new_result_ms": {"p50": self.visible.0, "max": self.visible.1},
            "publish_to_last_old_result_ms": {"p50": self.switched.0, "max": self.switched.1},
            "longest_gap_in_swap_window_ms": {"p50": self.gap.0, "max": self.gap.1},
            "longest_gap_before_swaps_ms": self.quiet_gap,
            "peak_rss_mib": round(self.peak_mib, 1),
        })
    }
}
