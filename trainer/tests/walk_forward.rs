//! `odex-train walk-forward` end to end: rolling windows that never test on
//! what they trained on, one backtest per window through the runtime's
//! engine, deterministic tables, and a clear error for windows that do not fit.

use std::path::Path;
use std::process::Command;

fn odex_train(args: &[&str], dir: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_odex-train")).args(args).current_dir(dir).output().unwrap()
}

fn config() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config/ou-model.toml").display().to_string()
}

#[test]
fn rolling_windows_train_then_test_out_of_sample_and_rerun_identically() {
    let dir = tempfile::tempdir().unwrap();
    let st = odex_train(&["synth", "--kind", "ou", "--bars", "3000", "--seed", "41", "--out", "ou.csv"], dir.path());
    assert!(st.status.success(), "{st:?}");
    let run = |out: &str| {
        let cfg = config();
        let args = ["walk-forward", "--config", &cfg, "--data", "ou.csv", "--epochs", "10"];
        let o = odex_train(
            &[&args[..], &["--train-bars", "1000", "--test-bars", "500", "--out", out]].concat(),
            dir.path(),
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).to_string()
    };
    let printed = run("wf1");
    assert!(printed.starts_with("4 windows: mean out-of-sample Sharpe"), "{printed}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("wf1/walk_forward.json")).unwrap()).unwrap();
    let windows = json["windows"].as_array().unwrap();
    assert_eq!(windows.len(), 4);
    let ms = |w: &serde_json::Value, k: &str| w[k].as_i64().unwrap();
    for (k, w) in windows.iter().enumerate() {
        // 1,000 training bars, then the next 500 bars out of sample
        assert_eq!(ms(w, "train_last_ms") - ms(w, "train_first_ms"), 999 * 60_000);
        assert_eq!(ms(w, "test_first_ms"), ms(w, "train_last_ms") + 60_000);
        assert_eq!(ms(w, "test_last_ms") - ms(w, "test_first_ms"), 499 * 60_000);
        // the test windows tile the data: each starts where the last ended
        if let Some(prev) = k.checked_sub(1).and_then(|p| windows.get(p)) {
            assert_eq!(ms(w, "test_first_ms"), ms(prev, "test_last_ms") + 60_000);
        }
        let bt = dir.path().join(format!("wf1/window-{k}/backtest/summary.json"));
        let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(bt).unwrap()).unwrap();
        assert_eq!(s["events"], 500);
        assert_eq!(s["strategy"]["sharpe"].as_f64().unwrap(), w["sharpe"].as_f64().unwrap());
        assert!(s["signal"].as_str().unwrap().contains(&format!("ou-w{k}.odex")), "{s}");
    }
    // the OU market is learnable: the windows earn out of sample after fees
    assert!(json["mean_sharpe"].as_f64().unwrap() > 1.0, "{json}");
    // a pure function of (data, config, windows)
    run("wf2");
    let a = std::fs::read(dir.path().join("wf1/walk_forward.csv")).unwrap();
    let b = std::fs::read(dir.path().join("wf2/walk_forward.csv")).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.iter().filter(|&&c| c == b'\n').count(), 5);

    let cfg = config();
    let args = ["walk-forward", "--config", &cfg, "--data", "ou.csv", "--train-bars", "2600", "--test-bars", "500"];
    let o = odex_train(&args, dir.path());
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("one window needs 3100 bars (2600 train + 500 test), the data has 3000"), "{err}");
}
