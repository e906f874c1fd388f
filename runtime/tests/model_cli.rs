//! `odex model inspect --json` and `odex model rollout`: the JSON holds
//! everything needed to rebuild the vector field, and the rollout CSV is
//! the trajectory of exactly that field.

use std::path::PathBuf;
use std::process::Command;

use odex_shared::integrator;
use odex_shared::model::{MAX_STATE, State};
use odex_shared::model_file::{ModelFile, ModelSpec};

fn model() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/default.odex")
}

fn odex(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_odex")).args(args).output().unwrap()
}

#[test]
fn json_rebuilds_the_field_and_rollout_follows_it_bit_for_bit() {
    let path = model();
    let out = odex(&["model", "inspect", path.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // rebuild from the JSON alone, as another program would
    let spec: ModelSpec = serde_json::from_value(doc["spec"].clone()).unwrap();
    let weights: Vec<f64> = serde_json::from_value(doc["weights"].clone()).unwrap();
    let rebuilt = ModelFile { spec, weights: heapless::Vec::from_slice(&weights).unwrap() };
    let original = odex_shared::model_file::decode(&std::fs::read(&path).unwrap()).unwrap();
    assert!(rebuilt == original, "the JSON lost something");
    assert_eq!(doc["bytes"], std::fs::metadata(&path).unwrap().len());

    let out = odex(&["model", "rollout", path.to_str().unwrap(), "--x0", "0.5,-1,1,0", "--steps", "50", "--dt", "0.2"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("step,t,x0,x1,x2,x3"));
    let field = rebuilt.build().unwrap();
    let mut x: State = [0.0; MAX_STATE];
    x[..4].copy_from_slice(&[0.5, -1.0, 1.0, 0.0]);
    let mut rows = 0;
    for (k, line) in lines.enumerate() {
        if k > 0 {
            integrator::step(&field, rebuilt.spec.method, &mut x, 0.2);
        }
        let cols: Vec<f64> = line.split(',').map(|c| c.parse().unwrap()).collect();
        assert_eq!(cols[0], k as f64);
        assert_eq!(&cols[2..], &x[..4], "step {k}");
        rows += 1;
    }
    assert_eq!(rows, 51);
    assert!(x[..4].iter().all(|v| v.is_finite()));
}

#[test]
fn rollout_refuses_bad_arguments_by_name() {
    let path = model();
    let p = path.to_str().unwrap();
    for (args, expect) in [
        (vec!["--x0", "1,2"], "the model has 4 state dimensions, got 2"),
        (vec!["--x0", "1,2,3,NaN"], "--x0: NaN is not a finite number"),
        (vec!["--x0", "1,2,3,4", "--dt", "-1"], "--dt: must be a positive number"),
    ] {
        let mut all = vec!["model", "rollout", p];
        all.extend(args);
        let out = odex(&all);
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expect), "{err}");
    }
    let out = odex(&["model", "inspect", "/nonexistent.odex", "--json"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent.odex"));
}
