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

#[test]
fn a_trained_model_is_exported_loaded_and_backtested_deterministically() {
    let (train, odex) = binaries();
    let tmp = tempfile::tempdir().expect("temp dir");
    let p = |name: &str| tmp.path().join(name).to_string_lossy().to_string();

    run(&train, &["synth", "--kind", "ou", "--bars", "3000", "--seed", "11", "--out", &p("train.csv")]);
    run(&train, &["synth", "--kind", "ou", "--bars", "1500", "--seed", "12", "--out", &p("test.csv")]);
    run(
        &train,
        &[
            "fit",
            "--config",
            "trainer/config/default-model.toml",
            "--data",
            &p("train.csv"),
            "--name",
            "sys",
            "--epochs",
            "15",
            "--models-dir",
            &p("models"),
            "--reports-dir",
            &p("reports"),
            "--quiet",
        ],
    );
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
    for file in ["summary.json", "equity.csv", "fills.csv", "ledger.json"] {
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
