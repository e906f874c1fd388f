//! Helpers shared by the runtime's system tests: locating the recorded
//! Binance data and reading the capture.
#![allow(dead_code)]

use std::path::PathBuf;

/// The shared data directory: `<workspace root>/../shared/data`, else
/// `/work/shared/data`. Missing data fails the test loudly.
pub fn data_dir() -> PathBuf {
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let candidates = [workspace.join("../shared/data"), PathBuf::from("/work/shared/data")];
    for c in &candidates {
        if c.join("binance").is_dir() {
            return c.clone();
        }
    }
    panic!("Binance test data not found; looked in {candidates:?}. The tests need the shared data directory.");
}

/// Reads a file under the data directory, failing loudly when it is absent.
pub fn read_data(rel: &str) -> Vec<u8> {
    let path = data_dir().join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read test data {}: {e}", path.display()))
}

/// The frames of the 2021-10-12 WebSocket capture, each the raw JSON of one
/// message (the `<time>: ` prefix and the URL line removed).
pub fn capture_frames() -> Vec<Vec<u8>> {
    let text = read_data("binance/ws-capture-2021-10-12/BINANCE.ws.1.0");
    let mut frames = Vec::new();
    for line in text.split(|&b| b == b'\n').skip(1) {
        if line.is_empty() {
            continue;
        }
        let at = line.windows(2).position(|w| w == b": ").expect("capture line without '<time>: '");
        frames.push(line[at + 2..].to_vec());
    }
    assert!(!frames.is_empty(), "the capture holds no frames");
    frames
}
