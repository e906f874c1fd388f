//! `odex-train sweep`: every trial runs, the table is written and the best
//! trial (by validation objective) is exported.
use std::process::Command;

#[test]
fn sweep_runs_the_grid_and_exports_the_best() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("regime.csv");
    let bin = env!("CARGO_BIN_EXE_odex-train");
    assert!(
        Command::new(bin)
            .args(["synth", "--kind", "regime", "--bars", "1500", "--out"])
            .arg(&data)
            .status()
            .unwrap()
            .success()
    );
    let cfg = dir.path().join("sweep.toml");
    std::fs::write(
        &cfg,
        "[model]\nhidden = [4]\n[train]\nepochs = 5\ndevice = \"cpu\"\n[sweep]\nmode = \"grid\"\nlr = [1e-3, 1e-2]\nl_reg = [0.0, 1e-3]\n",
    )
    .unwrap();
    let out = Command::new(bin)
        .args(["sweep", "--quiet", "--name", "best", "--config"])
        .arg(&cfg)
        .arg("--data")
        .arg(&data)
        .arg("--models-dir")
        .arg(dir.path().join("models"))
        .arg("--reports-dir")
        .arg(dir.path().join("reports"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("<- best"), "{stdout}");
    let table = std::fs::read_to_string(dir.path().join("reports/best/sweep.csv")).unwrap();
    assert_eq!(table.lines().count(), 5, "{table}");
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("reports/best/sweep.json")).unwrap()).unwrap();
    let best = results
        .as_array()
        .unwrap()
        .iter()
        .min_by(|a, b| a["validation"].as_f64().unwrap().total_cmp(&b["validation"].as_f64().unwrap()))
        .unwrap();
    let card: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("models/best.json")).unwrap()).unwrap();
    assert_eq!(card["config"]["train"]["lr"], best["trial"]["lr"]);
    assert_eq!(card["config"]["loss"]["l_reg"], best["trial"]["l_reg"]);
    assert!(odex_shared::model_file::decode(&std::fs::read(dir.path().join("models/best.odex")).unwrap()).is_ok());
}
