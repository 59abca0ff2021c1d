//! Memory of a keyed job (1 process × 2 workers), from `/proc/<pid>/status`:
//!
//! - **keys**: peak RSS (`VmHWM`) with 1, 100 and 1,000 keys (`dataType`s), each with its own
//!   generated 100-tree forest, and records spread over the keys, once every record is scored;
//!   RSS then, and again after the job has had [`SETTLE`] with nothing to do;
//! - **swaps**: RSS after every 1,000 of 10,000 versions of one key's model (two generated
//!   10-tree forests alternating), each sample taken once a record has been scored by the newest
//!   version (a record is sent every 200 ms until one is), and again after [`SETTLE`] with
//!   nothing to do: the versions published in a burst are in flight when the first is read
//!   (their messages read and queued, the newest built), so growth is read on the settled
//!   figures.

use std::time::{Duration, Instant};

use modelserver::dataset;
use modelserver::kafka::publish::model_with_bytes;
use modelserver::model::ModelKind;
use modelserver::pipeline::PipelineKind;
use prost::Message as _;

use super::common::{now_ms, round, write_json, Producing, Reader, Serve, Topics};
use super::{Bench, Layout, PARTITIONS};

/// The trees of each key's forest: 100 of depth 3 (8 leaves).
const KEY_FOREST: (usize, u32) = (100, 3);
/// The swapped forests: 10 trees of depth 3.
const SWAP_FOREST: (usize, u32) = (10, 3);
/// Records per key in the keys runs (at least 20,000 in all).
const RECORDS_PER_KEY: usize = 20;
/// How long a job with nothing to do is left before its RSS is read again.
const SETTLE: Duration = Duration::from_secs(3);

pub fn memory(bench: &mut Bench) {
    let keys = keys_runs(bench);
    let swaps = swaps_run(bench);
    write_json(
        "memory",
        &serde_json::json!({
            "pipeline": "keyed",
            "layout": Layout::ONE_BY_TWO.to_string(),
            "keys": keys,
            "swaps": swaps,
        }),
    );
}

fn keys_runs(bench: &mut Bench) -> Vec<serde_json::Value> {
    println!(
        "keys: each key its own forest of {} trees of depth {}",
        KEY_FOREST.0, KEY_FOREST.1
    );
    println!(
        "{:>6} {:>10} {:>9} {:>9} {:>11} {:>11} {:>11} {:>9}",
        "keys",
        "models MB",
        "records",
        "scored",
        "VmHWM MiB",
        "VmRSS MiB",
        "settled MiB",
        "seconds"
    );
    let samples = dataset::bundled();
    let mut rows = Vec::new();
    for keys in bench.options.keys.clone() {
        let started = Instant::now();
        let kafka = &bench.kafka;
        let topics = Topics::create(kafka, "memory-keys");
        let reader = Reader::start(kafka, &topics.results);
        let serve = Serve::start(
            kafka,
            PipelineKind::Keyed,
            Layout::ONE_BY_TWO,
            (&topics.data, &topics.models, &topics.results),
            &["--pending-timeout-ms", "300000"],
        );
        let producer = Producing::new(kafka);
        let mut model_bytes = 0;
        for key in 0..keys {
            let bytes = bench
                .forests
                .forest(KEY_FOREST.0, KEY_FOREST.1, 1_000 + key as u64);
            model_bytes += bytes.len();
            let descriptor = model_with_bytes(
                &format!("forest-{key}"),
                &format!("key-{key}"),
                ModelKind::Pmml,
                bytes,
            );
            producer.model(&topics.models, &descriptor);
        }
        producer.flush();
        let records = (keys * RECORDS_PER_KEY).max(20_000);
        for index in 0..records {
            let key = format!("key-{}", index % keys);
            let payload = samples[index % samples.len()]
                .to_record(&key)
                .encode_to_vec();
            let partition = (index % PARTITIONS as usize) as i32;
            producer.send(&topics.data, &key, &payload, Some(partition), now_ms());
        }
        producer.flush();
        reader.wait_for(records, Duration::from_secs(120));
        let hwm = serve.memory_mib("VmHWM");
        let rss = serve.memory_mib("VmRSS");
        std::thread::sleep(SETTLE);
        let settled = serve.memory_mib("VmRSS");
        let seen = reader.finish();
        serve.stop();
        let scored = seen.iter().filter(|s| s.scored).count();
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "{keys:>6} {:>10.1} {records:>9} {scored:>9} {hwm:>11.1} {rss:>11.1} {settled:>11.1} {seconds:>9.1}",
            model_bytes as f64 / 1e6
        );
        rows.push(serde_json::json!({
            "keys": keys,
            "trees_per_key": KEY_FOREST.0,
            "tree_depth": KEY_FOREST.1,
            "models_megabytes": round(model_bytes as f64 / 1e6, 1),
            "records": records,
            "results": seen.len(),
            "scored": scored,
            "vm_hwm_mib": round(hwm, 1),
            "vm_rss_mib": round(rss, 1),
            "settled_vm_rss_mib": round(settled, 1),
        }));
    }
    rows
}

fn swaps_run(bench: &mut Bench) -> serde_json::Value {
    let total = bench.options.memory_swaps;
    let models = [
        bench.forests.forest(SWAP_FOREST.0, SWAP_FOREST.1, 301),
        bench.forests.forest(SWAP_FOREST.0, SWAP_FOREST.1, 302),
    ];
    println!(
        "swaps of one key: {total} versions, two forests of {} trees of depth {} ({:.0} KB) alternating",
        SWAP_FOREST.0,
        SWAP_FOREST.1,
        models[0].len() as f64 / 1e3
    );
    println!(
        "{:>7} {:>11} {:>11} {:>11} {:>9}",
        "swaps", "VmRSS MiB", "VmHWM MiB", "settled MiB", "seconds"
    );
    let started = Instant::now();
    let kafka = &bench.kafka;
    let topics = Topics::create(kafka, "memory-swaps");
    let reader = Reader::start(kafka, &topics.results);
    let serve = Serve::start(
        kafka,
        PipelineKind::Keyed,
        Layout::ONE_BY_TWO,
        (&topics.data, &topics.models, &topics.results),
        &[],
    );
    let producer = Producing::new(kafka);
    let marker = dataset::bundled()[0].to_record("swap").encode_to_vec();
    let mut markers = 0usize;
    let mut samples = Vec::new();
    let mut not_seen = Vec::new();
    let step = 1_000.min(total.max(1));
    for n in 0..=total {
        let descriptor = model_with_bytes(
            &format!("v{n}"),
            "swap",
            ModelKind::Pmml,
            models[n % 2].clone(),
        );
        producer.model(&topics.models, &descriptor);
        if n % step != 0 && n != total {
            continue;
        }
        producer.flush();
        // A record every 200 ms until one is scored by version n.
        let name = descriptor.name.clone();
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut seen = false;
        while !seen && Instant::now() < deadline {
            let partition = (markers % PARTITIONS as usize) as i32;
            producer.send(&topics.data, "swap", &marker, Some(partition), now_ms());
            producer.flush();
            markers += 1;
            seen = reader.wait_until(Duration::from_millis(200), |results| {
                results.iter().rev().any(|s| *s.model == *name)
            });
        }
        if !seen {
            not_seen.push(n);
        }
        let rss = serve.memory_mib("VmRSS");
        let hwm = serve.memory_mib("VmHWM");
        std::thread::sleep(SETTLE);
        let settled = serve.memory_mib("VmRSS");
        let seconds = started.elapsed().as_secs_f64();
        println!("{n:>7} {rss:>11.1} {hwm:>11.1} {settled:>11.1} {seconds:>9.1}");
        samples.push(serde_json::json!({
            "swaps": n,
            "vm_rss_mib": round(rss, 1),
            "vm_hwm_mib": round(hwm, 1),
            "settled_vm_rss_mib": round(settled, 1),
            "seconds": round(seconds, 1),
        }));
    }
    let _ = reader.finish();
    serve.stop();
    if !not_seen.is_empty() {
        println!("versions never seen in a result: {not_seen:?}");
    }
    serde_json::json!({
        "versions": total,
        "trees": SWAP_FOREST.0,
        "tree_depth": SWAP_FOREST.1,
        "model_kilobytes": round(models[0].len() as f64 / 1e3, 1),
        "records_sent": markers,
        "versions_not_seen": not_seen,
        "samples": samples,
    })
}
