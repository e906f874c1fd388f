//! `odex-train sweep`: every trial runs, the table is written and the best
//! trial (by validation objective) is exported; `--shard K/N` runs a part.
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_odex-train");

/// Synthetic data and a 2 x 2 grid config (4 trials) in `dir`.
fn data_and_config(dir: &Path) -> (PathBuf, PathBuf) {
    let data = dir.join("regime.csv");
    assert!(
        Command::new(BIN)
            .args(["synth", "--kind", "regime", "--bars", "1500", "--out"])
            .arg(&data)
            .status()
            .unwrap()
            .success()
    );
    let cfg = dir.join("sweep.toml");
    std::fs::write(
        &cfg,
        "[model]\nhidden = [4]\n[train]\nepochs = 5\ndevice = \"cpu\"\n[sweep]\nmode = \"grid\"\nlr = [1e-3, 1e-2]\nl_reg = [0.0, 1e-3]\n",
    )
    .unwrap();
    (data, cfg)
}

#[test]
fn sweep_runs_the_grid_and_exports_the_best() {
    let dir = tempfile::tempdir().unwrap();
    let (data, cfg) = data_and_config(dir.path());
    let out = Command::new(BIN)
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

#[test]
fn shards_split_the_trials_and_their_tables_concatenate() {
    let dir = tempfile::tempdir().unwrap();
    let (data, cfg) = data_and_config(dir.path());
    let sweep = |shard: &str, folder: &str| {
        Command::new(BIN)
            .args(["sweep", "--quiet", "--name", "best", "--shard", shard, "--config"])
            .arg(&cfg)
            .arg("--data")
            .arg(&data)
            .arg("--models-dir")
            .arg(dir.path().join(folder).join("models"))
            .arg("--reports-dir")
            .arg(dir.path().join(folder).join("reports"))
            .output()
            .unwrap()
    };
    let trial_numbers = |folder: &str| -> (String, Vec<String>) {
        let table = std::fs::read_to_string(dir.path().join(folder).join("reports/best/sweep.csv")).unwrap();
        let mut lines = table.lines();
        let header = lines.next().unwrap().to_string();
        (header, lines.map(|l| l.split(',').next().unwrap().to_string()).collect())
    };

    // 4 trials over 2 shards: 0 and 2, then 1 and 3, each shard with its own best model
    let mut headers = Vec::new();
    for (shard, folder, expected) in [("0/2", "s0", ["0", "2"]), ("1/2", "s1", ["1", "3"])] {
        let out = sweep(shard, folder);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let (header, trials) = trial_numbers(folder);
        assert_eq!(trials, expected, "shard {shard}");
        headers.push(header);
        assert!(dir.path().join(folder).join("models/best.odex").is_file(), "shard {shard}");
    }
    assert_eq!(headers[0], headers[1]);

    // more shards than trials: this one has none, writes the header only and exports nothing
    let out = sweep("5/6", "s5");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("no trials"));
    let (header, trials) = trial_numbers("s5");
    assert_eq!((header.as_str(), trials.len()), (headers[0].as_str(), 0));
    assert!(!dir.path().join("s5/models/best.odex").exists());

    // a shard outside 0..N is refused with the reason
    let out = sweep("3/2", "bad");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("K must be below N"), "{err}");
}
