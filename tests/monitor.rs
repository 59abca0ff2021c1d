//! The monitoring dataflow on known streams of records and results, fed at chosen ingestion
//! times: the windowed figures exactly (records entering and leaving the window), the agreement
//! of a shadow whose answers are known, and drift events when, and only when, the inputs shift.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use modelserver::model::Prediction;
use modelserver::pipeline::monitor::around;
use modelserver::pipeline::monitor::window::{MONITORED_KEYS, OTHER_KEYS};
use modelserver::pipeline::{Monitor, MonitorConfig};
use modelserver::record::{
    Feature, FeatureRecord, ModelTag, Origin, Outcome, Role, Scored, Sourced, Time,
};
use modelserver::state::monitor::{Drift, KeyMonitor, Monitors, HISTOGRAM_BINS};
use modelserver::state::{Counters, Reporter, StateEvent, StateEventBuilder, STATE_LOG};
use timely::dataflow::InputHandleVec;
use timely::worker::Worker;

const WINDOW: Duration = Duration::from_secs(10);
const TICK: Duration = Duration::from_secs(1);

/// The monitoring dataflow on one worker, with inputs the test feeds.
struct Harness {
    records: InputHandleVec<Time, Sourced<FeatureRecord>>,
    results: InputHandleVec<Time, Scored>,
    monitor: Monitor,
    monitors: Arc<Monitors>,
    drifts: Rc<RefCell<Vec<Drift>>>,
    offset: i64,
}

impl Harness {
    fn new(worker: &mut Worker) -> Self {
        let drifts = Rc::new(RefCell::new(Vec::new()));
        if let Some(mut registry) = worker.log_register() {
            let drifts = drifts.clone();
            registry.insert::<StateEventBuilder, _>(STATE_LOG, move |_, batch| {
                for (_, event) in batch.iter().flatten() {
                    if let StateEvent::Drift { drift, .. } = event {
                        drifts.borrow_mut().push(drift.clone());
                    }
                }
            });
        }
        let reporter = Reporter::for_worker(worker, Arc::new(Counters::default()));
        let config = MonitorConfig {
            window: WINDOW,
            tick: TICK,
            drift_threshold: 0.2,
        };
        let (mut records, mut results) = (InputHandleVec::new(), InputHandleVec::new());
        // The results are fed as if the pipeline had made them from the records.
        let trace = worker.dataflow(|scope| {
            let results = results.to_stream(scope);
            around(records.to_stream(scope), &config, |_records| results).1
        });
        let monitors = Arc::new(Monitors::default());
        let monitor = Monitor::new(trace, config, worker.index(), reporter, monitors.clone());
        Harness {
            records,
            results,
            monitor,
            monitors,
            drifts,
            offset: 0,
        }
    }

    /// Feeds, at `time`, one record per `x` with its result `answer(x)` from live model `model`.
    fn feed(&mut self, time: Time, xs: &[f64], model: &str, answer: impl Fn(f64) -> Outcome) {
        self.advance(time);
        for &x in xs {
            let origin = Origin {
                partition: 0,
                offset: self.offset,
            };
            self.offset += 1;
            let record = FeatureRecord::new("iris", [Feature::number("x", x)]);
            self.records.send(Sourced { origin, record });
            self.results
                .send(scored(origin, model, Role::Live, answer(x)));
        }
    }

    fn advance(&mut self, time: Time) {
        self.records.advance_to(time);
        self.results.advance_to(time);
    }

    /// Moves the inputs past `as_of` and returns the figures read as of it.
    fn read(&mut self, worker: &mut Worker, as_of: Time) -> Option<KeyMonitor> {
        self.advance(as_of + 1);
        for _ in 0..10_000 {
            worker.step();
            match self.monitor.publish() {
                Some(read) if read == as_of => return self.monitors.latest(Some("iris")).pop(),
                Some(read) => assert!(read < as_of, "read as of {read}, beyond {as_of}"),
                None => {}
            }
        }
        panic!("the monitor never read the window as of {as_of}");
    }
}

fn scored(origin: Origin, model: &str, role: Role, outcome: Outcome) -> Scored {
    Scored {
        origin,
        data_type: Arc::from("iris"),
        model: Some(ModelTag {
            name: Arc::from(model),
            since: 0,
            labels: Arc::from([]),
        }),
        outcome,
        duration_ns: 1,
        worker: 0,
        unscored: None,
        role,
        members: Vec::new(),
    }
}

fn class(label: &str) -> Outcome {
    Outcome::Scored(Prediction::classification(Arc::from(label), Vec::new()))
}

fn class_counts(figures: &KeyMonitor, model: &str) -> Vec<(String, u64)> {
    let output = figures
        .outputs
        .iter()
        .find(|output| output.model == model && output.role == "live")
        .expect("the model's outputs");
    output
        .classes
        .iter()
        .map(|count| (count.value.clone(), count.count))
        .collect()
}

#[test]
fn records_count_while_in_the_window_and_leave_it_as_retractions() {
    timely::execute_directly(|worker| {
        let mut harness = Harness::new(worker);
        let label = |x: f64| class(if x < 2.0 { "low" } else { "high" });
        // Ingested at 0.5 s: counted at the 1 s tick, retracted at 11 s.
        harness.feed(500, &[1.0, 1.0, 1.0, 3.0], "a", label);
        let first = harness.read(worker, 2_000).expect("figures");
        assert_eq!(first.records, 4);
        assert_eq!(first.window_ms, 10_000);
        assert_eq!(
            class_counts(&first, "a"),
            [("low".into(), 3), ("high".into(), 1)]
        );
        let x = &first.features[0];
        assert_eq!((x.name.as_str(), x.count, x.missing), ("x", 4, 0));
        let numbers = x.numbers.as_ref().expect("numbers");
        assert_eq!((numbers.mean, numbers.variance), (1.5, 0.75));
        assert_eq!((numbers.min, numbers.max), (1.0, 3.0));

        // Ingested at 5.5 s: counted at 6 s, retracted at 16 s.
        harness.feed(5_500, &[3.0, 3.0], "a", label);
        let both = harness.read(worker, 6_000).expect("figures");
        assert_eq!(both.records, 6);
        assert_eq!(
            class_counts(&both, "a"),
            [("high".into(), 3), ("low".into(), 3)]
        );

        // At 11 s the first records have left the window.
        let second = harness.read(worker, 11_000).expect("figures");
        assert_eq!(second.records, 2);
        assert_eq!(class_counts(&second, "a"), [("high".into(), 2)]);
        let numbers = second.features[0].numbers.as_ref().expect("numbers");
        assert_eq!(
            (numbers.count, numbers.mean, numbers.variance),
            (2, 3.0, 0.0)
        );

        // At 16 s the window is empty: the key is no longer reported.
        assert_eq!(harness.read(worker, 16_000), None);
    });
}

#[test]
fn failures_and_missing_models_are_rated_over_the_window() {
    timely::execute_directly(|worker| {
        let mut harness = Harness::new(worker);
        harness.feed(500, &[1.0, 2.0, 3.0], "a", |x| match x < 1.5 {
            true => Outcome::Failed("rejected".into()),
            false => Outcome::Scored(Prediction::regression(x * 10.0)),
        });
        harness.advance(700);
        let origin = Origin {
            partition: 0,
            offset: 99,
        };
        let mut nothing = scored(origin, "", Role::Live, Outcome::NoModel);
        nothing.model = None;
        harness.results.send(nothing);
        let figures = harness.read(worker, 1_000).expect("figures");
        assert_eq!(figures.records, 4);
        let a = figures.outputs.iter().find(|o| o.model == "a").unwrap();
        assert_eq!((a.results, a.failed, a.no_model), (3, 1, 0));
        assert!((a.failure_rate - 1.0 / 3.0).abs() < 1e-15);
        let values = a.values.as_ref().expect("a regression's values");
        assert_eq!(
            (values.count, values.mean, values.variance),
            (2, 25.0, 25.0)
        );
        let none = figures.outputs.iter().find(|o| o.model.is_empty()).unwrap();
        assert_eq!(
            (none.results, none.no_model, none.no_model_rate),
            (1, 1, 1.0)
        );
    });
}

/// The figures of `values`, computed from every one of them.
fn exact_distribution(values: &[f64]) -> (f64, f64, f64, f64, Vec<u64>) {
    let count = values.len() as f64;
    let mean = values.iter().sum::<f64>() / count;
    let variance = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / count;
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let width = (max - min) / HISTOGRAM_BINS as f64;
    let mut histogram = vec![0; HISTOGRAM_BINS];
    for value in values {
        histogram[(((value - min) / width) as usize).min(HISTOGRAM_BINS - 1)] += 1;
    }
    (mean, variance, min, max, histogram)
}

#[test]
fn numbers_that_never_repeat_keep_their_figures_in_bounded_memory() {
    timely::execute_directly(|worker| {
        let mut harness = Harness::new(worker);
        // 40,000 distinct numbers over two ticks (each folded into 128 kept numbers), skewed so
        // that the histogram's bins differ; answers the same numbers times 10.
        let xs: Vec<f64> = (0..40_000)
            .map(|i| (i as f64 / 40_000.0).powi(2) * 3.0 + 1.0)
            .collect();
        let answer = |x: f64| Outcome::Scored(Prediction::regression(x * 10.0));
        harness.feed(500, &xs[..20_000], "a", answer);
        harness.feed(1_500, &xs[20_000..], "a", answer);
        let figures = harness.read(worker, 2_000).expect("figures");
        assert_eq!(figures.records, 40_000);
        let tens: Vec<f64> = xs.iter().map(|x| x * 10.0).collect();
        let outputs = &figures.outputs[0];
        let features = &figures.features[0];
        for (read, exact) in [
            (features.numbers.as_ref().expect("numbers"), &xs),
            (outputs.values.as_ref().expect("values"), &tens),
        ] {
            let (mean, variance, min, max, histogram) = exact_distribution(exact);
            assert_eq!(read.count, 40_000);
            assert!(
                (read.mean - mean).abs() < 1e-9 * mean,
                "{} vs {mean}",
                read.mean
            );
            assert!(
                (read.variance - variance).abs() < 0.01 * variance,
                "{} vs {variance}",
                read.variance
            );
            assert_eq!((read.min, read.max), (min, max));
            for (bin, (read, exact)) in read.histogram.iter().zip(&histogram).enumerate() {
                let error = (*read as f64 - *exact as f64).abs() / *exact as f64;
                assert!(error < 0.25, "bin {bin}: {read} vs {exact}");
            }
        }
    });
}

#[test]
fn numbers_that_never_repeat_do_not_drift_until_they_shift() {
    timely::execute_directly(|worker| {
        let mut harness = Harness::new(worker);
        // 2,000 new numbers a second, each the sum of three uniform draws (a bell curve); from
        // 25 s on, moved up by 1 (about two thirds of a standard deviation).
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut uniform = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let answer = |x: f64| Outcome::Scored(Prediction::regression(x));
        let mut steady_psi: f64 = 0.0;
        for second in 0..32u64 {
            let shift = if second < 25 { 0.0 } else { 1.0 };
            let xs: Vec<f64> = (0..2_000)
                .map(|_| uniform() + uniform() + uniform() + shift)
                .collect();
            harness.feed(second * 1_000 + 500, &xs, "a", answer);
            let figures = harness.read(worker, (second + 1) * 1_000).expect("figures");
            if (11..25).contains(&second) {
                let psi = figures.features[0].drift.expect("a reference");
                steady_psi = steady_psi.max(psi);
            }
        }
        assert!(steady_psi < 0.02, "steady inputs barely move: {steady_psi}");
        let drifts = harness.drifts.borrow();
        assert!(
            (drifts.iter()).any(|drift| drift.subject == "feature:x" && drift.drifting),
            "the shifted inputs drift: {drifts:?}"
        );
    });
}

#[test]
fn a_shadow_agrees_with_the_live_model_as_often_as_its_answers_match() {
    timely::execute_directly(|worker| {
        let mut harness = Harness::new(worker);
        harness.advance(1_500);
        // The shadow answers like the live model except on every fourth record.
        for offset in 0..40 {
            let origin = Origin {
                partition: offset % 2,
                offset: offset as i64,
            };
            let live = if offset % 3 == 0 { "yes" } else { "no" };
            let shadow = match offset % 4 {
                0 => "maybe",
                _ => live,
            };
            harness
                .results
                .send(scored(origin, "shadow", Role::Shadow, class(shadow)));
            harness
                .results
                .send(scored(origin, "live", Role::Live, class(live)));
        }
        let figures = harness.read(worker, 2_000).expect("figures");
        assert_eq!(figures.records, 40, "shadow results are not records");
        let agreement = &figures.agreement[..];
        assert_eq!(agreement.len(), 1);
        assert_eq!(agreement[0].model, "shadow");
        assert_eq!((agreement[0].compared, agreement[0].agreed), (40, 30));
        assert_eq!(agreement[0].rate, 0.75);
        let shadow = figures.outputs.iter().find(|o| o.role == "shadow").unwrap();
        assert_eq!(shadow.results, 40);
    });
}

#[test]
fn drift_is_raised_when_the_inputs_shift_and_not_before() {
    timely::execute_directly(|worker| {
        let mut harness = Harness::new(worker);
        let steady: Vec<f64> = (0..100).map(f64::from).collect();
        let label = |x: f64| class(if x < 50.0 { "low" } else { "high" });
        for second in 0..40u64 {
            let time = second * 1_000 + 500;
            let xs: Vec<f64> = match second < 25 {
                true => steady.clone(),
                false => steady.iter().map(|x| x + 60.0).collect(),
            };
            harness.feed(time, &xs, "a", label);
            let figures = harness.read(worker, (second + 1) * 1_000).expect("figures");
            let x_drift = figures.features[0].drift;
            // The model was first seen at 1 s: its first whole window (and one tick) ends at 12 s.
            if second < 11 {
                assert_eq!(x_drift, None, "no reference before a whole window");
            }
            if (11..25).contains(&second) {
                let psi = x_drift.expect("a reference after a whole window");
                assert!(psi < 1e-9, "the same inputs do not drift: {psi}");
                assert!(harness.drifts.borrow().is_empty());
            }
        }
        let drifts = harness.drifts.borrow();
        let feature: Vec<&Drift> = drifts
            .iter()
            .filter(|drift| drift.subject == "feature:x")
            .collect();
        assert_eq!(
            feature.len(),
            1,
            "one drift event for the feature: {drifts:?}"
        );
        assert!(feature[0].drifting && feature[0].psi > 0.2);
        assert_eq!(
            (feature[0].model.as_str(), feature[0].role.as_str()),
            ("a", "live")
        );
        let output: Vec<&Drift> = drifts
            .iter()
            .filter(|drift| drift.subject == "output:a:live")
            .collect();
        assert!(
            output.first().is_some_and(|drift| drift.drifting),
            "the outputs shift with the inputs: {drifts:?}"
        );
        // The window of 28 s holds 3 shifted seconds of 10: 30 % of the values moved up by 60,
        // a stability index of 0.25 (at 27 s it was 0.12).
        assert_eq!(feature[0].as_of, 28_000, "{:?}", feature[0]);
        assert!((feature[0].psi - 0.25).abs() < 0.01, "{:?}", feature[0]);
    });
}

#[test]
fn a_flood_of_keys_counts_beyond_the_first_thousand_under_one() {
    timely::execute_directly(|worker| {
        let mut harness = Harness::new(worker);
        harness.advance(500);
        for index in 0..1_005 {
            let origin = Origin {
                partition: 0,
                offset: index,
            };
            let key = format!("junk-{index}");
            let record = FeatureRecord::new(&key, [Feature::number("x", 1.0)]);
            harness.records.send(Sourced { origin, record });
        }
        harness.advance(1_001);
        let mut keys = Vec::new();
        for _ in 0..10_000 {
            worker.step();
            if harness.monitor.publish() == Some(1_000) {
                keys = harness.monitors.latest(None);
                break;
            }
        }
        assert_eq!(keys.len(), MONITORED_KEYS + 1);
        let other = keys.iter().find(|key| key.data_type == OTHER_KEYS).unwrap();
        assert_eq!(other.features[0].count, 5);
        assert!(keys.iter().any(|key| key.data_type == "junk-999"));
        assert!(!keys.iter().any(|key| key.data_type == "junk-1000"));
    });
}

#[test]
fn a_canary_is_compared_with_the_live_answers_of_the_same_window() {
    timely::execute_directly(|worker| {
        let mut harness = Harness::new(worker);
        harness.advance(500);
        // Live: half "a", half "b"; the canary: nine "a" in ten.
        for offset in 0..100 {
            let origin = Origin {
                partition: 0,
                offset,
            };
            let live = if offset % 2 == 0 { "a" } else { "b" };
            let canary = if offset % 10 == 0 { "b" } else { "a" };
            let (model, role, answer) = match offset < 50 {
                true => ("live", Role::Live, live),
                false => ("canary", Role::Canary, canary),
            };
            harness
                .results
                .send(scored(origin, model, role, class(answer)));
        }
        let figures = harness.read(worker, 1_000).expect("figures");
        let canary = figures.outputs.iter().find(|o| o.role == "canary").unwrap();
        let live = figures.outputs.iter().find(|o| o.role == "live").unwrap();
        let expected = (0.9 - 0.5) * (0.9f64 / 0.5).ln() + (0.1 - 0.5) * (0.1f64 / 0.5).ln();
        let vs_live = canary.vs_live.expect("compared with live");
        assert!(
            (vs_live - expected).abs() < 1e-12,
            "{vs_live} vs {expected}"
        );
        assert_eq!(live.vs_live, None);
        assert_eq!(figures.records, 100, "canary results are records");
    });
}
