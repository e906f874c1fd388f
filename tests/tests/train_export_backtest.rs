//! Train -> export -> backtest, across the two binaries: what `odex-train`
//! writes, `odex` must load and trade, and the same inputs must give the
//! same bytes.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace's binaries. `cargo test --workspace` (and nextest) build
/// them next to the test executable because their own packages have
/// integration tests; when this package is tested alone they may be missing,
/// and are then built here.
fn binaries() -> (PathBuf, PathBuf) {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe.parent().and_then(Path::parent).expect("target/<profile>/deps/<test>").to_path_buf();
    let (train, odex) = (dir.join("odex-train"), dir.join("odex"));
    if !(train.exists() && odex.exists()) {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "-p", "odex-trainer", "-p", "odex-runtime", "--bins"])
            .current_dir(workspace())
            .status()
            .expect("running cargo build");
        assert!(status.success(), "cargo build of the binaries failed");
    }
    (train, odex)
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

fn run(bin: &Path, args: &[&str]) -> String {
    let out = Command::new(bin).args(args).current_dir(workspace()).output().expect("spawning");
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{} {args:?} failed:\n{text}", bin.display());
    text
}

/// `odex-train fit` of `dir/train.csv` with a config of the repository,
/// exporting to `dir/models/NAME.odex` and reporting to `dir/reports`.
fn fit(train: &Path, dir: &Path, config: &str, name: &str, epochs: &str) {
    let p = |f: &str| dir.join(f).to_string_lossy().to_string();
    let (data, models, reports) = (p("train.csv"), p("models"), p("reports"));
    let args = ["fit", "--config", config, "--data", &data, "--name", name, "--epochs", epochs];
    run(train, &[&args[..], &["--models-dir", &models, "--reports-dir", &reports, "--quiet"]].concat());
}

#[test]
fn a_trained_model_is_exported_loaded_and_backtested_deterministically() {
    let (train, odex) = binaries();
    let tmp = tempfile::tempdir().expect("temp dir");
    let p = |name: &str| tmp.path().join(name).to_string_lossy().to_string();

    run(&train, &["synth", "--kind", "ou", "--bars", "3000", "--seed", "11", "--out", &p("train.csv")]);
    run(&train, &["synth", "--kind", "ou", "--bars", "1500", "--seed", "12", "--out", &p("test.csv")]);
    fit(&train, tmp.path(), "trainer/config/default-model.toml", "sys", "15");
    let model = p("models/sys.odex");
    let card: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p("models/sys.json")).expect("model card")).expect("card JSON");
    assert_eq!(card["name"], "sys");

    // the runtime reads the trainer's file and sees the spec the trainer wrote
    let inspect = run(&odex, &["model", "inspect", &model]);
    assert!(inspect.contains("4 -> 32 -> 32 -> 4"), "{inspect}");
    assert!(inspect.contains("EwmaDeviation"), "{inspect}");

    // and trades it on held-out data through the venue model
    for out in ["bt1", "bt2"] {
        run(&odex, &["backtest", "--model", &model, "--data", &p("test.csv"), "--out", &p(out), "--seed", "3"]);
    }
    let summary = std::fs::read(p("bt1/summary.json")).expect("summary");
    let s: serde_json::Value = serde_json::from_slice(&summary).expect("summary JSON");
    assert_eq!(s["events"], 1500);
    assert!(s["orders"].as_u64().expect("orders") > 0, "the model never traded: {s}");
    for file in ["summary.json", "equity.csv", "fills.csv", "ledger.json", "journal.bin"] {
        let a = std::fs::read(p(&format!("bt1/{file}"))).expect("first run");
        let b = std::fs::read(p(&format!("bt2/{file}"))).expect("second run");
        assert!(a == b, "{file} differs between two identical backtests");
    }

    // a damaged model file is refused with the reason, by both binaries' reader
    let mut bytes = std::fs::read(&model).expect("model bytes");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(p("bad.odex"), &bytes).expect("write");
    let out = Command::new(&odex).args(["model", "inspect", &p("bad.odex")]).output().expect("spawn");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("checksum mismatch"), "{out:?}");
}

/// The Sharpe ratio a backtest's summary reports for the strategy.
fn sharpe(summary: &Path) -> f64 {
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(summary).expect("summary")).expect("summary JSON");
    s["strategy"]["sharpe"].as_f64().unwrap_or_else(|| panic!("no strategy.sharpe in {s}"))
}

#[test]
fn a_trained_model_earns_at_least_80_percent_of_the_ou_oracles_sharpe_out_of_sample_after_fees() {
    let (train, odex) = binaries();
    let tmp = tempfile::tempdir().expect("temp dir");
    let p = |name: &str| tmp.path().join(name).to_string_lossy().to_string();

    // training and held-out series: the same OU process, different seeds
    run(&train, &["synth", "--kind", "ou", "--bars", "10000", "--seed", "21", "--out", &p("train.csv")]);
    run(&train, &["synth", "--kind", "ou", "--bars", "5000", "--seed", "22", "--out", &p("test.csv")]);
    fit(&train, tmp.path(), "trainer/config/ou-model.toml", "ou", "80");
    let model = p("models/ou.odex");
    // both trade the held-out series through the venue model with the
    // default costs (10 bps fees, 1 bp slippage, 1 ms latency); the oracle
    // knows the true parameters (the synth sidecar) and uses the model's
    // sizing and horizon
    let common = ["backtest", "--model", &model, "--data", &p("test.csv"), "--seed", "5"];
    run(&odex, &[&common[..], &["--out", &p("model")]].concat());
    run(&odex, &[&common[..], &["--oracle", &p("test.json"), "--out", &p("oracle")]].concat());
    let (model_sharpe, oracle_sharpe) =
        (sharpe(&tmp.path().join("model/summary.json")), sharpe(&tmp.path().join("oracle/summary.json")));
    eprintln!("out of sample, after fees: model Sharpe {model_sharpe:.2}, oracle {oracle_sharpe:.2}");
    assert!(oracle_sharpe > 1.0, "the oracle should earn on its own process after fees: Sharpe {oracle_sharpe}");
    assert!(
        model_sharpe >= 0.8 * oracle_sharpe,
        "model Sharpe {model_sharpe:.3} is below 80% of the oracle's {oracle_sharpe:.3}"
    );
}
