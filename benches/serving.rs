//! Serving throughput without Kafka: how fast each demo model scores one record in tract, and how
//! many records per second the keyed and flat pipelines push through the serving operator on 1
//! and 2 workers, against a passthrough dataflow over the same inputs.
//!
//! `cargo bench --bench serving` (set `RECORDS` to change the number of records per run);
//! `cargo bench --bench serving -- FILTER` scores only the models whose name contains `FILTER`,
//! and runs the pipelines only when `FILTER` is `pipelines`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use modelserver::dataset;
use modelserver::kafka::publish::model_with_bytes;
use modelserver::model::onnx::OnnxModel;
use modelserver::model::{Model, ModelKind};
use modelserver::pipeline::{self, PipelineKind, ServingConfig};
use modelserver::record::{Origin, Record, Sourced, WineRecord};
use modelserver::state::Counters;
use timely::dataflow::operators::vec::Map;
use timely::dataflow::operators::Probe;
use timely::dataflow::{InputHandleVec, ProbeHandle};

const MODELS: [&str; 12] = [
    "wine_linear_regression",
    "wine_logistic",
    "wine_mlp_classifier",
    "wine_tree_classifier",
    "wine_forest_classifier",
    "wine_gbm_classifier",
    "wine_gbm_binary",
    "wine_forest_binary",
    "wine_forest_regressor",
    "wine_gbm_regressor",
    "wine_xgb_regressor",
    "wine_lgbm_regressor",
];
const BATCH: usize = 1024;

fn onnx_bytes(model: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/data/onnx/{model}.onnx",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("a fixture")
}

/// Mean nanoseconds per record of scoring the bundled rows one at a time.
fn scoring_ns(model: &str) -> f64 {
    let mut scorer = OnnxModel::load(&onnx_bytes(model), WineRecord::SCHEMA).expect("loads");
    let samples = dataset::bundled();
    let budget = Duration::from_millis(500);
    let started = Instant::now();
    let mut scored = 0u64;
    while started.elapsed() < budget {
        for sample in samples.iter().take(256) {
            std::hint::black_box(scorer.score(&sample.features).expect("scores"));
        }
        scored += 256;
    }
    started.elapsed().as_nanos() as f64 / scored as f64
}

/// Records per second through a dataflow on `workers` workers: the serving pipeline `kind`
/// with `model`, or a passthrough when `kind` is `None`. Every worker feeds its share.
fn throughput(kind: Option<PipelineKind>, workers: usize, model: &str, records: usize) -> f64 {
    let descriptor = model_with_bytes(model, "wine", ModelKind::Onnx, onnx_bytes(model));
    let samples = Arc::new(dataset::bundled());
    let started = Instant::now();
    timely::execute(timely::Config::process(workers), move |worker| {
        let (index, peers) = (worker.index(), worker.peers());
        let (mut data, mut models) = (InputHandleVec::new(), InputHandleVec::new());
        let probe = ProbeHandle::new();
        worker.dataflow::<u64, _, _>(|scope| {
            let data = data.to_stream(scope);
            let models = models.to_stream(scope);
            match kind {
                Some(kind) => {
                    let counters = Arc::new(Counters::default());
                    pipeline::build(kind, data, models, ServingConfig::default(), counters)
                        .probe_with(&probe);
                }
                None => {
                    data.map(|sourced: Sourced<WineRecord>| sourced.origin.offset)
                        .probe_with(&probe);
                }
            }
        });
        if index == 0 {
            models.send(descriptor.clone());
        }
        let mine: Vec<usize> = (index..records).step_by(peers).collect();
        for (epoch, chunk) in mine.chunks(BATCH).enumerate() {
            for &offset in chunk {
                let record = samples[offset % samples.len()].to_record("wine");
                data.send(Sourced {
                    origin: Origin {
                        partition: index as i32,
                        offset: offset as i64,
                    },
                    record,
                });
            }
            let next = epoch as u64 + 1;
            data.advance_to(next);
            models.advance_to(next);
            while probe.less_than(&(next.saturating_sub(4))) {
                worker.step();
            }
        }
    })
    .expect("timely starts")
    .join()
    .into_iter()
    .for_each(|result| result.expect("no worker fails"));
    records as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let records: usize = std::env::var("RECORDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200_000);
    // cargo passes `--bench`; anything else is the filter.
    let filter = std::env::args().skip(1).find(|arg| !arg.starts_with("--"));
    println!("scoring one record at a time in tract (mean over the bundled rows):");
    for model in MODELS {
        if filter
            .as_ref()
            .is_some_and(|filter| !model.contains(filter.as_str()))
        {
            continue;
        }
        let ns = scoring_ns(model);
        println!(
            "  {model:<26} {ns:>10.0} ns/record  {:>10.0} records/s",
            1e9 / ns
        );
    }
    if filter.is_none_or(|filter| filter == "pipelines") {
        pipelines(records);
    }
}

/// The pipelines against a passthrough and against bare scoring, with the linear regression.
fn pipelines(records: usize) {
    let model = "wine_linear_regression";
    let scoring_rate = 1e9 / scoring_ns(model);
    println!("\npipelines over {records} in-memory records, model {model} (records/s; ratio to passthrough, to bare scoring):");
    for workers in [1, 2] {
        let passthrough = throughput(None, workers, model, records);
        println!("  {workers} worker(s) passthrough  {passthrough:>12.0}");
        for kind in [PipelineKind::Keyed, PipelineKind::Flat] {
            let rate = throughput(Some(kind), workers, model, records);
            println!(
                "  {workers} worker(s) {kind:<11} {rate:>12.0}   {:>5.2} × passthrough   {:>5.2} × bare scoring",
                rate / passthrough,
                rate / scoring_rate
            );
        }
    }
}
