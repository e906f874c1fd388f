//! Data in: Binance archives (spot, futures, zip, ms and µs) and error reporting.
mod common;

use std::path::{Path, PathBuf};

use odex_shared::kline::TimeUnit;
use odex_trainer::data::{self, DataError};

#[test]
fn zip_and_csv_of_the_same_day_give_identical_bars() {
    let csv = data::load(&[common::kline("ETHUSDT-1m-2022-08-14.csv")]).unwrap();
    let zip = data::load(&[common::kline("ETHUSDT-1m-2022-08-14.zip")]).unwrap();
    assert_eq!(csv.rows.len(), 1440);
    assert_eq!(csv.rows, zip.rows);
    assert_eq!(csv.interval_ms, 60_000);
    assert!(csv.gaps.is_empty() && csv.duplicates == 0);
    assert_ne!(csv.sha256, zip.sha256, "the hash covers the input bytes as read");
    assert_eq!(csv.rows[0].bar.close.to_string(), "1982.29");
    assert_eq!(csv.rows[0].taker_buy_volume.unwrap().to_string(), "105.2993");
}

#[test]
fn two_consecutive_days_form_one_series_without_gaps() {
    let dir = common::data_dir().join("binance/klines");
    let s =
        data::load(&[common::kline("ETHUSDT-1m-2022-08-14.zip"), common::kline("ETHUSDT-1m-2022-08-15.csv")]).unwrap();
    assert_eq!(s.rows.len(), 2880);
    assert!(s.gaps.is_empty());
    let btc = data::load(&[dir.join("BTCUSDT-1h-2022-09-07.csv")]).unwrap();
    assert_eq!((btc.rows.len(), btc.interval_ms), (24, 3_600_000));
}

#[test]
fn futures_header_is_recognised() {
    let s = data::load(&[common::kline("FUTURES-UM-BTCUSDT-1m-2022-09-05.csv")]).unwrap();
    assert_eq!(s.rows.len(), 1440);
    assert_eq!(s.rows[0].bar.open_time_ms, 1_662_336_000_000);
    assert_eq!(s.rows[0].bar.close.to_string(), "19996.8");
}

/// The spot file with every timestamp in microseconds (as Binance publishes
/// from 2025) gives the same bars, with the unit recorded.
#[test]
fn microsecond_timestamps_are_inferred() {
    let path = common::kline("ETHUSDT-1m-2022-08-14.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    let micros: String = text
        .lines()
        .map(|l| {
            let mut f: Vec<String> = l.split(',').map(str::to_string).collect();
            f[0].push_str("000");
            f[6].push_str("999");
            f.join(",") + "\n"
        })
        .collect();
    let ms = data::parse_csv(Path::new("ms.csv"), text.as_bytes()).unwrap();
    let us = data::parse_csv(Path::new("us.csv"), micros.as_bytes()).unwrap();
    assert_eq!(ms.rows.len(), us.rows.len());
    for (a, b) in ms.rows.iter().zip(&us.rows) {
        assert_eq!(a.bar, b.bar);
        assert_eq!((a.unit, b.unit), (TimeUnit::Millis, TimeUnit::Micros));
    }
}

fn corrupt(line: usize, column: usize, value: &str) -> (PathBuf, Vec<u8>) {
    let path = common::kline("ETHUSDT-1m-2022-08-15.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    let out: String = text
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i + 1 == line {
                let mut f: Vec<&str> = l.split(',').collect();
                f[column - 1] = value;
                f.join(",") + "\n"
            } else {
                l.to_string() + "\n"
            }
        })
        .collect();
    (path, out.into_bytes())
}

#[test]
fn malformed_rows_name_file_line_column_and_value() {
    for (line, column, value, name) in [
        (17, 3, "19x4.5", "high"),
        (800, 1, "16605x", "open_time"),
        (1440, 10, "-1", "taker_buy_volume"),
        (2, 5, "", "close"),
    ] {
        let (path, bytes) = corrupt(line, column, value);
        let e = data::parse_csv(&path, &bytes).unwrap_err();
        let msg = e.to_string();
        match e {
            DataError::Row { file, line: l, column: c, name: n, value: v, .. } => {
                assert_eq!((file, l, c, n, v.as_str()), (path.clone(), line, column, name, value), "{msg}");
            }
            DataError::Order { line: l, .. } => panic!("unexpected order error at {l}: {msg}"),
            other => panic!("unexpected error {other}"),
        }
        assert!(msg.contains("ETHUSDT-1m-2022-08-15.csv") && msg.contains(&format!(":{line}:")), "{msg}");
    }
    // an inconsistent bar (close above high)
    let (path, bytes) = corrupt(5, 5, "99999.0");
    let msg = data::parse_csv(&path, &bytes).unwrap_err().to_string();
    assert!(msg.contains(":5:") && msg.contains("inconsistent"), "{msg}");
    // a timestamp that goes backwards
    let (path, bytes) = corrupt(9, 1, "1660521600000");
    let msg = data::parse_csv(&path, &bytes).unwrap_err().to_string();
    assert!(msg.contains(":9:") && msg.contains("column 1 (open_time)") && msg.contains("1660521600000"), "{msg}");
}

#[test]
fn removed_rows_are_reported_as_gaps_and_duplicates_dropped() {
    let path = common::kline("ETHUSDT-1m-2022-08-15.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut edited: Vec<&str> = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if (100..103).contains(&i) {
            continue;
        }
        edited.push(l);
        if i == 500 {
            edited.push(l);
        }
    }
    let s = data::parse_csv(&path, (edited.join("\n") + "\n").as_bytes()).unwrap();
    assert_eq!(s.rows.len(), 1437);
    assert_eq!(s.duplicates, 1);
    assert_eq!(s.gaps.len(), 1);
    assert_eq!(s.gaps[0].missing, 3);
    assert_eq!(s.gaps[0].index, 100);
}
