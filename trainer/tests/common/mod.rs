//! Helpers shared by the trainer's integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// The shared data folder: `../shared/data` beside the repository root (CI's
/// layout), else `/work/shared/data`. A missing folder fails the test.
pub fn data_dir() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let candidates = [workspace.join("../shared/data"), PathBuf::from("/work/shared/data")];
    for c in &candidates {
        if c.join("binance/klines").is_dir() {
            return c.clone();
        }
    }
    panic!("shared test data not found; looked in {candidates:?} (the repository's parent must hold shared/data)");
}

/// `data_dir()/binance/klines/NAME`.
pub fn kline(name: &str) -> PathBuf {
    let p = data_dir().join("binance/klines").join(name);
    assert!(p.is_file(), "missing test data file {}", p.display());
    p
}
