//! The `odex-train` binary end to end: synth, fit on the real ETHUSDT
//! archives, config errors.
mod common;

use std::path::Path;
use std::process::Command;

fn odex_train() -> Command {
    Command::new(env!("CARGO_BIN_EXE_odex-train"))
}

#[test]
fn synth_is_deterministic_and_writes_its_true_parameters() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["a", "b"] {
        let out = dir.path().join(format!("{name}.csv"));
        let st = odex_train()
            .args(["synth", "--kind", "regime", "--bars", "2000", "--seed", "3", "--out"])
            .arg(&out)
            .status()
            .unwrap();
        assert!(st.success());
    }
    let a = std::fs::read(dir.path().join("a.csv")).unwrap();
    let b = std::fs::read(dir.path().join("b.csv")).unwrap();
    assert_eq!(a, b);
    assert!(a.starts_with(b"timestamp,open,high,low,close,volume,taker_buy_volume\n"));
    let side: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.path().join("a.json")).unwrap()).unwrap();
    assert_eq!(side["spec"]["process"]["kind"], "regime");
    assert_eq!(side["spec"]["seed"], 3);
    assert_eq!(side["regime_path"].as_array().unwrap().len(), 2000);
    // the written file loads back
    let s = odex_trainer::data::load(&[dir.path().join("a.csv")]).unwrap();
    assert_eq!(s.rows.len(), 2000);
}

#[test]
fn fit_on_real_ethusdt_archives_writes_model_card_and_report() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("eth.toml");
    std::fs::write(
        &cfg,
        "[model]\nname = \"eth\"\nhidden = [8, 8]\n[train]\nepochs = 15\ncheckpoint_every = 10\ndevice = \"cpu\"\n",
    )
    .unwrap();
    let models = dir.path().join("models");
    let reports = dir.path().join("reports");
    let out = odex_train()
        .args(["fit", "--config"])
        .arg(&cfg)
        .arg("--data")
        .arg(common::kline("ETHUSDT-1m-2022-08-14.zip"))
        .arg(common::kline("ETHUSDT-1m-2022-08-15.csv"))
        .arg("--models-dir")
        .arg(&models)
        .arg("--reports-dir")
        .arg(&reports)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("2880 bars") && stderr.contains("train J"), "{stderr}");

    let bytes = std::fs::read(models.join("eth.odex")).unwrap();
    let file = odex_shared::model_file::decode(&bytes).unwrap();
    assert_eq!(file.spec.features.dim(), 4);
    let mut p = odex_shared::Predictor::new(&file).unwrap();
    let series = odex_trainer::data::load(&[common::kline("ETHUSDT-1m-2022-08-15.csv")]).unwrap();
    for r in &series.rows[..100] {
        p.observe(&odex_shared::Observation {
            price: r.bar.close.to_f64(),
            bid_qty: r.taker_buy_volume.unwrap().to_f64(),
            ask_qty: r.taker_sell_volume().unwrap().to_f64(),
        });
    }
    assert!(p.signal().is_some_and(|s| s.expected_return.is_finite()));

    let card: serde_json::Value = serde_json::from_slice(&std::fs::read(models.join("eth.json")).unwrap()).unwrap();
    assert_eq!(card["data"]["bars"], 2880);
    assert_eq!(card["data"]["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(card["seed"], 42);
    assert_eq!(card["config"]["train"]["epochs"], 15);
    assert_eq!(card["metrics"].as_array().unwrap().len(), 3);
    assert!(card["physics"][0]["raw_units"]["kappa"].as_f64().unwrap() > 0.0);
    // normalised features: a sane model's rollout error is of order one, not a blow-up
    for m in card["metrics"].as_array().unwrap() {
        let mse = m["mse"].as_f64().unwrap();
        assert!(mse.is_finite() && mse < 10.0, "{m}");
    }

    let report = reports.join("eth");
    for f in [
        "loss.csv",
        "loss.svg",
        "trajectories.csv",
        "trajectories.svg",
        "returns.csv",
        "returns.svg",
        "metrics.json",
        "checkpoint-00010.safetensors",
    ] {
        let p = report.join(f);
        assert!(p.is_file() && std::fs::metadata(&p).unwrap().len() > 0, "missing {}", p.display());
    }
    let svg = std::fs::read_to_string(report.join("loss.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("polyline"), "{}", &svg[..svg.len().min(200)]);
    let loss = std::fs::read_to_string(report.join("loss.csv")).unwrap();
    assert_eq!(loss.lines().count(), 16);
}

#[test]
fn same_inputs_same_model_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("ou.csv");
    assert!(
        odex_train().args(["synth", "--kind", "ou", "--bars", "1500", "--out"]).arg(&data).status().unwrap().success()
    );
    let mut outputs = Vec::new();
    for run in ["one", "two"] {
        let models = dir.path().join(run);
        let st = odex_train()
            .args(["fit", "--quiet", "--epochs", "10", "--name", "det", "--data"])
            .arg(&data)
            .arg("--models-dir")
            .arg(&models)
            .arg("--reports-dir")
            .arg(dir.path().join("reports").join(run))
            .status()
            .unwrap();
        assert!(st.success());
        outputs
            .push((std::fs::read(models.join("det.odex")).unwrap(), std::fs::read(models.join("det.json")).unwrap()));
    }
    assert_eq!(outputs[0].0, outputs[1].0, "model bytes differ between identical runs");
    let strip = |b: &[u8]| {
        String::from_utf8_lossy(b)
            .replace(&dir.path().join("one").display().to_string(), "")
            .replace(&dir.path().join("two").display().to_string(), "")
    };
    assert_eq!(strip(&outputs[0].1), strip(&outputs[1].1));
}

#[test]
fn config_mistakes_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, "[train]\nlearning_rate = 0.1\n").unwrap();
    let out = odex_train().args(["fit", "--config"]).arg(&cfg).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("learning_rate") && stderr.contains("bad.toml"), "{stderr}");
    std::fs::write(&cfg, "[train]\nlr = -0.1\nepochs = 0\n").unwrap();
    let out = odex_train().args(["fit", "--config"]).arg(&cfg).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("train.lr") && stderr.contains("train.epochs"), "{stderr}");
    let out = odex_train().args(["fit", "--data", "/nonexistent/x.csv"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/x.csv"));
}

#[test]
fn help_shows_examples_and_config_prints_documented_defaults() {
    let out = odex_train().arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Examples:") && text.contains("odex-train fit"), "{text}");
    let out = odex_train().arg("config").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("[train]") && text.contains("# Peak learning rate."));
    let _ = Path::new("");
}
