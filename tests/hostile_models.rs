//! Hostile models are refused at load, each with an error that says why, never with a panic,
//! a hang or a blown-up process: through the factory as a job builds them.

mod support;

use std::time::{Duration, Instant};

use modelserver::model::{build_model, ModelSource};
use modelserver::record::WineRecord;
use support::hostile::corpus;

#[test]
fn every_hostile_model_is_refused_quickly_with_a_reason() {
    let dir = std::env::temp_dir().join(format!("hostile-{}", std::process::id()));
    let root = dir.join("root");
    std::fs::create_dir_all(&root).unwrap();
    let source = ModelSource::new(Some(root.clone()), 1 << 20);
    modelserver::job::quiet_contained_panics();
    for hostile in corpus("wine", &root) {
        let started = Instant::now();
        let error = match build_model(&hostile.descriptor, Some(WineRecord::SCHEMA), &source) {
            Ok(_) => panic!("{}: loaded", hostile.what),
            Err(error) => error.to_string(),
        };
        let took = started.elapsed();
        eprintln!("{:<36} {:>8.1?}  {error}", hostile.what, took);
        assert!(!error.is_empty(), "{}", hostile.what);
        assert!(
            took < Duration::from_secs(30),
            "{}: took {took:?}",
            hostile.what
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
