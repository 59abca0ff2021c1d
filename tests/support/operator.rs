//! The serving operator on in-memory timely inputs, as the operator tests drive it: worker 0
//! feeds steps of records and models, the results are gathered in offset order.
#![allow(dead_code)] // each test binary uses its own part

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use modelserver::dataset;
use modelserver::kafka::publish::model_with_bytes;
use modelserver::model::onnx::OnnxModel;
use modelserver::model::{Model, ModelKind, Prediction};
use modelserver::pipeline::{
    serving_dataflow, Delivery, Loader, PipelineKind, Serving, ServingConfig, ServingDataflow,
};
use modelserver::proto::ModelDescriptor;
use modelserver::record::{Origin, Outcome, Record, Scored, Sourced, Time, WineRecord};
use modelserver::state::{hooks, Counters, EventSinks, ProcessState, Reporter};

/// What worker 0 feeds at one time: records first, then models (the operator must still apply
/// the models before scoring records of the same time).
pub struct Step<R = WineRecord> {
    pub time: Time,
    pub records: Vec<Sourced<R>>,
    pub models: Vec<ModelDescriptor>,
    /// Whether the workers run until the step's results are out before the next step is fed.
    pub settle: bool,
}

pub fn step<R>(time: Time, records: Vec<Sourced<R>>, models: Vec<ModelDescriptor>) -> Step<R> {
    Step {
        time,
        records,
        models,
        settle: true,
    }
}

impl<R> Step<R> {
    /// The step, with the next one fed at once (the operator sees both before it runs).
    pub fn at_once(self) -> Step<R> {
        Step {
            settle: false,
            ..self
        }
    }
}

/// Records with offsets `offsets` of key `data_type`, their features taken from the bundled rows.
pub fn records(data_type: &str, offsets: std::ops::Range<i64>) -> Vec<Sourced<WineRecord>> {
    static SAMPLES: std::sync::OnceLock<Vec<dataset::WineSample>> = std::sync::OnceLock::new();
    let samples = SAMPLES.get_or_init(dataset::bundled);
    offsets
        .map(|offset| Sourced {
            origin: Origin {
                partition: 0,
                offset,
            },
            record: samples[offset as usize % samples.len()].to_record(data_type),
        })
        .collect()
}

pub fn onnx_bytes(file: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/data/onnx/{file}.onnx",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("a fixture")
}

pub fn model(name: &str, data_type: &str, file: &str) -> ModelDescriptor {
    model_with_bytes(name, data_type, ModelKind::Onnx, onnx_bytes(file))
}

thread_local! {
    /// The reference models, each loaded once per test thread.
    static REFERENCES: std::cell::RefCell<std::collections::HashMap<String, OnnxModel>> =
        Default::default();
}

/// What the given model predicts for the record at `offset`.
pub fn expected(file: &str, offset: i64) -> Prediction {
    let features = records("any", offset..offset + 1)[0].record.features();
    REFERENCES.with_borrow_mut(|references| {
        references
            .entry(file.to_owned())
            .or_insert_with(|| {
                OnnxModel::load(&onnx_bytes(file), WineRecord::SCHEMA).expect("loads")
            })
            .score(&features)
            .expect("scores")
    })
}

/// Asserts that a served prediction is the model's own for that record: the same class, and
/// probabilities equal up to float32 rounding (records scored in one batch go through tract's
/// batched kernels, which may round the last bit differently from a single row's).
pub fn assert_predicts(scored: &Scored, file: &str) {
    let offset = scored.origin.offset;
    let (got, want) = (prediction(scored), expected(file, offset));
    assert_eq!(
        (&got.class, got.value),
        (&want.class, want.value),
        "{file} offset {offset}"
    );
    assert_eq!(got.probabilities.len(), want.probabilities.len());
    for (got, want) in got.probabilities.iter().zip(&want.probabilities) {
        assert!(
            (got - want).abs() <= 1e-6,
            "{file} offset {offset}: {got} vs {want}"
        );
    }
}

/// Runs a pipeline on `workers` threads; worker 0 feeds the steps, each run to completion (or
/// for at most 200 ms while records wait for a model).
pub fn run<R: Record + Sync>(
    kind: PipelineKind,
    workers: usize,
    config: ServingConfig,
    steps: Vec<Step<R>>,
) -> (Vec<Scored>, Arc<Counters>) {
    let (results, counters, _) = run_observed(kind, workers, config, steps);
    (results, counters)
}

/// As [`run`], with the workers' state log feeding a process state, as in `serve`.
pub fn run_observed<R: Record + Sync>(
    kind: PipelineKind,
    workers: usize,
    config: ServingConfig,
    steps: Vec<Step<R>>,
) -> (Vec<Scored>, Arc<Counters>, Arc<ProcessState>) {
    let steps = Arc::new(steps);
    let results = Arc::new(Mutex::new(Vec::new()));
    let counters = Arc::new(Counters::default());
    let process = Arc::new(ProcessState::new(
        0,
        (0..workers).collect(),
        kind,
        counters.clone(),
        Arc::default(),
    ));
    let loader = Arc::new(Loader::default());
    let sinks = Arc::new(EventSinks::tracing_only());
    let (sink, shared, observed) = (results.clone(), counters.clone(), process.clone());
    timely::execute(timely::Config::process(workers), move |worker| {
        let sink = sink.clone();
        hooks::register(worker, observed.clone(), sinks.clone(), false);
        let serving = Serving {
            kind,
            config,
            reporter: Reporter::for_worker(worker, shared.clone()),
            loader: loader.clone(),
            process_workers: (0..worker.peers()).collect(),
            delivery: Delivery::WhereScored,
            monitoring: None,
        };
        let deliver = move |_, scored: &Scored| sink.lock().unwrap().push(scored.clone());
        let ServingDataflow {
            mut data,
            mut models,
            probe,
            ..
        } = serving_dataflow(worker, serving, deliver);
        if worker.index() != 0 {
            return;
        }
        for step in steps.iter() {
            data.advance_to(step.time);
            models.advance_to(step.time);
            step.records
                .iter()
                .cloned()
                .for_each(|record| data.send(record));
            for model in &step.models {
                let origin = Origin {
                    partition: 0,
                    offset: step.time as i64,
                };
                let record = model.clone();
                models.send(Sourced { origin, record });
            }
            data.advance_to(step.time + 1);
            models.advance_to(step.time + 1);
            // Records waiting for a model hold the frontier back on purpose: give up waiting then.
            let deadline = Instant::now() + Duration::from_millis(200);
            while step.settle && probe.less_than(&(step.time + 1)) && Instant::now() < deadline {
                worker.step_or_park(Some(Duration::from_millis(1)));
            }
        }
    })
    .expect("timely starts")
    .join()
    .into_iter()
    .for_each(|worker| worker.expect("no worker fails"));
    let mut results = std::mem::take(&mut *results.lock().unwrap());
    results.sort_by_key(|scored| scored.origin.offset);
    (results, counters, process)
}

/// Every record of `offsets` has exactly one result.
pub fn assert_one_result_each(results: &[Scored], offsets: std::ops::Range<i64>) {
    let seen: Vec<i64> = results.iter().map(|scored| scored.origin.offset).collect();
    assert_eq!(
        seen,
        offsets.collect::<Vec<_>>(),
        "one result per record, none lost, none repeated"
    );
}

pub fn model_name(scored: &Scored) -> Option<&str> {
    scored.model.as_ref().map(|tag| &*tag.name)
}

pub fn prediction(scored: &Scored) -> &Prediction {
    match &scored.outcome {
        Outcome::Scored(prediction) => prediction,
        other => panic!("offset {} was not scored: {other:?}", scored.origin.offset),
    }
}
