//! Serving throughput without Kafka: how fast each demo model (ONNX, and the frozen TensorFlow
//! graphs: ours and, when `MODELSERVER_ORIGINAL_DIR` names its files, the original system's) scores one record
//! in tract, and how many records per second the keyed and flat pipelines push through the
//! serving operator on 1 and 2 workers, against a passthrough dataflow over the same inputs.
//!
//! Each ONNX model is also timed in batches of 1,024 rows (`Model::score_batch`, one tract run)
//! beside onnxruntime on the same rows (`scripts/onnxruntime_batch.py`, run with the Python
//! that `ONNXRUNTIME_PYTHON` names, else `python3`; skipped, saying why, when onnxruntime cannot
//! be imported).
//!
//! `cargo bench --bench serving [-- FILTER…]`: only the models whose name contains a `FILTER`, the
//! pipelines if it is in `pipelines`, the statistics' cost if it is in `statistics` (set
//! `RECORDS` to change the number of records per run).

use std::sync::Arc;
use std::time::{Duration, Instant};

/// The allocator `serve` runs with, so that per-row allocations cost here what they cost there
/// (the system allocator put the single ONNX tree at 2.95 × onnxruntime against 2.25 ×).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use modelserver::dataset;
use modelserver::kafka::publish::model_with_bytes;
use modelserver::model::onnx::OnnxModel;
use modelserver::model::tensorflow::TensorFlowModel;
use modelserver::model::{Model, ModelKind};
use modelserver::pipeline::{
    serving_dataflow, Delivery, Loader, MonitorConfig, Monitoring, PipelineKind, Serving,
    ServingConfig, ServingDataflow,
};
use modelserver::record::{Origin, Sourced, WineRecord};
use modelserver::state::{hooks, Counters, EventSinks, ProcessState, Reporter};
use timely::dataflow::operators::vec::Map;
use timely::dataflow::operators::Probe;
use timely::dataflow::{InputHandleVec, ProbeHandle};
use timely::worker::Worker;

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

/// The monitoring of the benchmark's dataflows, whose times count batches of [`BATCH`] records
/// rather than milliseconds: a tick every 10 batches, a window of 100.
const BENCH_MONITOR: MonitorConfig = MonitorConfig {
    window: Duration::from_millis(100),
    tick: Duration::from_millis(10),
    drift_threshold: 0.2,
};

fn onnx_bytes(model: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/data/onnx/{model}.onnx",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("a fixture")
}

/// The frozen TensorFlow graphs: ours, and the original system's when its files are here.
fn tensorflow_graphs() -> Vec<(&'static str, Vec<u8>)> {
    let ours = format!("{}/data/tensorflow/wine_mlp.pb", env!("CARGO_MANIFEST_DIR"));
    let mut graphs = vec![(
        "tensorflow wine_mlp",
        std::fs::read(ours).expect("a fixture"),
    )];
    if let Some(original) = original_files::dir("the original frozen graph") {
        let bytes = std::fs::read(original.join("optimized_WineQuality.pb")).expect("the graph");
        graphs.push(("tensorflow optimized_WineQuality", bytes));
    }
    graphs
}

/// Mean nanoseconds per record of scoring the bundled rows one at a time.
fn scoring_ns(scorer: &mut dyn Model) -> f64 {
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

/// Mean nanoseconds per record of scoring [`BATCH`] bundled rows in one call.
fn batch_scoring_ns(scorer: &mut dyn Model) -> f64 {
    let samples = dataset::bundled();
    let rows: Vec<f64> = samples
        .iter()
        .cycle()
        .take(BATCH)
        .flat_map(|sample| sample.features)
        .collect();
    let mut results = Vec::with_capacity(BATCH);
    let budget = Duration::from_millis(500);
    let started = Instant::now();
    let mut scored = 0u64;
    while started.elapsed() < budget {
        results.clear();
        scorer.score_batch(&rows, BATCH, &mut results);
        assert!(results.iter().all(Result::is_ok), "scores");
        std::hint::black_box(&results);
        scored += BATCH as u64;
    }
    started.elapsed().as_nanos() as f64 / scored as f64
}

/// onnxruntime's nanoseconds per record in batches of [`BATCH`], by model, or why there are none.
fn onnxruntime_ns(models: &[&str]) -> Result<Vec<(String, f64)>, String> {
    let python = std::env::var("ONNXRUNTIME_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = format!(
        "{}/scripts/onnxruntime_batch.py",
        env!("CARGO_MANIFEST_DIR")
    );
    let output = std::process::Command::new(&python)
        .arg(script)
        .arg(BATCH.to_string())
        .args(models)
        .output()
        .map_err(|error| format!("cannot run `{python}`: {error}"))?;
    if !output.status.success() {
        let error = String::from_utf8_lossy(&output.stderr);
        let last = error.lines().last().unwrap_or_default();
        return Err(format!("`{python}` failed: {last}"));
    }
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| {
            let (model, ns) = line.split_once(' ')?;
            Some((model.to_owned(), ns.parse().ok()?))
        })
        .collect())
}

/// ONNX models in batches of [`BATCH`] rows: tract in one call, beside onnxruntime.
fn batches_against_onnxruntime(models: &[&str]) {
    println!("\nONNX in batches of {BATCH} rows, ns/record (one thread each):");
    let reference = onnxruntime_ns(models);
    if let Err(why) = &reference {
        println!(
            "  onnxruntime: not run ({why}; set ONNXRUNTIME_PYTHON to a Python with onnxruntime)"
        );
    }
    println!(
        "  {:<34} {:>12} {:>12} {:>12} {:>14}",
        "model", "one by one", "batched", "onnxruntime", "× onnxruntime"
    );
    for &model in models {
        let mut scorer = OnnxModel::load(&onnx_bytes(model), WineRecord::SCHEMA).expect("loads");
        let (single, batched) = (scoring_ns(&mut scorer), batch_scoring_ns(&mut scorer));
        let runtime = reference.as_ref().ok().and_then(|reference| {
            reference
                .iter()
                .find(|(name, _)| name == model)
                .map(|(_, ns)| *ns)
        });
        let (runtime, ratio) = match runtime {
            Some(ns) => (format!("{ns:.0}"), format!("{:.2}", batched / ns)),
            None => ("-".into(), "-".into()),
        };
        println!("  {model:<34} {single:>12.0} {batched:>12.0} {runtime:>12} {ratio:>14}");
    }
}

fn print_scoring(model: &str, ns: f64) {
    println!(
        "  {model:<34} {ns:>10.0} ns/record  {:>10.0} records/s",
        1e9 / ns
    );
}

/// Records per second through a dataflow on `workers` workers: the serving pipeline `kind`
/// with `model` (with or without statistics), or a passthrough when `kind` is `None`. Every
/// worker feeds its share.
fn throughput(
    kind: Option<PipelineKind>,
    (stats, monitor): (bool, bool),
    workers: usize,
    model: &str,
    records: usize,
) -> f64 {
    let descriptor = model_with_bytes(model, "wine", ModelKind::Onnx, onnx_bytes(model));
    let samples = Arc::new(dataset::bundled());
    let counters = Arc::new(Counters::default());
    let process = Arc::new(ProcessState::new(
        0,
        (0..workers).collect(),
        kind.unwrap_or(PipelineKind::Keyed),
        counters.clone(),
        Arc::default(),
    ));
    let loader = Arc::new(Loader::default());
    let sinks = Arc::new(EventSinks::tracing_only());
    let config = ServingConfig {
        stats_interval: stats.then_some(Duration::from_secs(1)),
        ..ServingConfig::default()
    };
    let started = Instant::now();
    timely::execute(timely::Config::process(workers), move |worker| {
        let (index, peers) = (worker.index(), worker.peers());
        hooks::register(worker, process.clone(), sinks.clone(), false);
        let ServingDataflow {
            mut data,
            mut models,
            probe,
            mut monitor,
        } = match kind {
            Some(kind) => {
                let serving = Serving {
                    kind,
                    config,
                    reporter: Reporter::for_worker(worker, counters.clone()),
                    loader: loader.clone(),
                    process_workers: (0..peers).collect(),
                    delivery: Delivery::WhereScored,
                    monitoring: monitor.then(|| Monitoring {
                        config: BENCH_MONITOR,
                        monitors: process.monitors().clone(),
                    }),
                };
                serving_dataflow(worker, serving, |_, _| {})
            }
            None => passthrough(worker),
        };
        if index == 0 {
            let origin = Origin {
                partition: 0,
                offset: 0,
            };
            models.send(Sourced {
                origin,
                record: descriptor.clone(),
            });
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
            if let Some(monitor) = &mut monitor {
                monitor.publish();
            }
        }
    })
    .expect("timely starts")
    .join()
    .into_iter()
    .for_each(|result| result.expect("no worker fails"));
    records as f64 / started.elapsed().as_secs_f64()
}

/// A dataflow with the serving dataflow's inputs that passes each record's offset through.
fn passthrough(worker: &mut Worker) -> ServingDataflow<WineRecord> {
    let (mut data, mut models) = (InputHandleVec::new(), InputHandleVec::new());
    let probe = ProbeHandle::new();
    worker.dataflow(|scope| {
        models.to_stream(scope);
        data.to_stream(scope)
            .map(|sourced: Sourced<WineRecord>| sourced.origin.offset)
            .probe_with(&probe);
    });
    ServingDataflow {
        data,
        models,
        probe,
        monitor: None,
    }
}

fn main() {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with("--"))
        .collect();
    let selected = |name: &str| {
        filters.is_empty() || filters.iter().any(|filter| name.contains(filter.as_str()))
    };
    println!("scoring one record at a time in tract (mean over the bundled rows):");
    for model in MODELS.into_iter().filter(|model| selected(model)) {
        print_scoring(model, onnx_scoring_ns(model));
    }
    for (name, bytes) in tensorflow_graphs() {
        if selected(name) {
            let mut scorer = TensorFlowModel::load(&bytes, WineRecord::SCHEMA).expect("loads");
            print_scoring(name, scoring_ns(&mut scorer));
            let batched = batch_scoring_ns(&mut scorer);
            println!("  {name:<34} {batched:>10.0} ns/record in batches of {BATCH}");
        }
    }
    let onnx: Vec<&str> = MODELS.into_iter().filter(|model| selected(model)).collect();
    if !onnx.is_empty() {
        batches_against_onnxruntime(&onnx);
    }
    let records: usize = std::env::var("RECORDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200_000);
    if selected("pipelines") {
        pipelines(records);
    }
    if selected("statistics") {
        statistics_cost("wine_linear_regression", records);
    }
    if selected("monitoring") {
        monitoring_cost("wine_tree_classifier", records);
    }
}

fn onnx_scoring_ns(model: &str) -> f64 {
    let mut scorer = OnnxModel::load(&onnx_bytes(model), WineRecord::SCHEMA).expect("loads");
    scoring_ns(&mut scorer)
}

/// The keyed and flat pipelines against a passthrough, on 1 and 2 workers.
fn pipelines(records: usize) {
    let model = "wine_linear_regression";
    let scoring_rate = 1e9 / onnx_scoring_ns(model);
    println!("\npipelines over {records} in-memory records, model {model} (records/s; ratio to passthrough, to bare scoring):");
    for workers in [1, 2] {
        let passthrough = throughput(None, (false, false), workers, model, records);
        println!("  {workers} worker(s) passthrough  {passthrough:>12.0}");
        for kind in [PipelineKind::Keyed, PipelineKind::Flat] {
            let rate = throughput(Some(kind), (true, false), workers, model, records);
            println!(
                "  {workers} worker(s) {kind:<11} {rate:>12.0}   {:>5.2} × passthrough   {:>5.2} × bare scoring",
                rate / passthrough,
                rate / scoring_rate
            );
        }
    }
}

/// Throughput with statistics against without, alternating runs to even out the machine's
/// drift; prints the median of each and their ratio.
fn statistics_cost(model: &str, records: usize) {
    let (off, on) = ((false, false), (true, false));
    on_off_cost(("statistics", "stats"), 7, (off, on), model, records);
}

/// Throughput with the monitoring dataflow against without (statistics on in both), alternating
/// runs; prints the median of each and their ratio.
fn monitoring_cost(model: &str, records: usize) {
    let (off, on) = ((true, false), (true, true));
    on_off_cost(("monitoring", "monitoring"), 5, (off, on), model, records);
}

/// Throughput with a feature (`on`: statistics, monitoring) against without (`off`), `runs`
/// alternating runs of each on 1 and 2 workers, both pipelines; prints the medians and ratio
/// (the feature's name in the title, its label in the rows).
fn on_off_cost(
    (feature, label): (&str, &str),
    runs: usize,
    (off, on): ((bool, bool), (bool, bool)),
    model: &str,
    records: usize,
) {
    println!(
        "\n{feature} on vs off, model {model}, median of {runs} alternating runs (records/s):"
    );
    for workers in [1, 2] {
        for kind in [PipelineKind::Keyed, PipelineKind::Flat] {
            let (mut with, mut without) = (Vec::new(), Vec::new());
            for _ in 0..runs {
                without.push(throughput(Some(kind), off, workers, model, records));
                with.push(throughput(Some(kind), on, workers, model, records));
            }
            let (with, without) = (median(with), median(without));
            println!(
                "  {workers} worker(s) {kind:<6} {label} off {without:>10.0}   {label} on {with:>10.0}   on/off {:.3}",
                with / without
            );
        }
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
