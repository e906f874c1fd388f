//! Market data in: Binance kline archives (`.csv` or the published `.zip`)
//! and generic OHLCV CSV files, validated into one time-ordered [`Series`].
//!
//! Row parsing is [`odex_shared::kline`] (the backtester uses the same code);
//! this module handles files, zip archives, header rows and the checks that
//! need more than one row.
//!
//! Formats, recognised from the first line of each file:
//! - no header, twelve columns: a Binance spot archive (timestamps in
//!   milliseconds, or microseconds from 2025: inferred per value);
//! - header `open_time,open,...,ignore`: a Binance futures archive;
//! - header `timestamp,open,high,low,close,volume[,taker_buy_volume]`: the
//!   generic format (what `odex-train synth` and `fetch` write).
//!
//! Validation policy:
//! - every row must parse and satisfy `0 < low <= open, close <= high`;
//!   otherwise an error names the file, line, column and value;
//! - timestamps must increase; a timestamp lower than the previous one is an
//!   error;
//! - an exact duplicate of the previous row (same timestamp, same values) is
//!   dropped and counted; a row with the previous timestamp but different
//!   values is an error;
//! - gaps (a step larger than the bar interval, itself the smallest step
//!   seen) are kept and reported: the dataset never builds a training window
//!   across a gap.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use odex_shared::kline::{self, KlineErrorKind, KlineRow, RowLayout};
use sha2::{Digest, Sha256};

/// Why data could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The zip archive is unreadable or holds no CSV file.
    #[error("{}: zip archive: {message}", path.display())]
    Zip {
        /// The archive.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A header row that matches no known layout.
    #[error("{}:{line}: unrecognised header {found:?} (expected a Binance kline header or `timestamp,open,high,low,close,volume[,taker_buy_volume]`)", file.display())]
    Header {
        /// The file.
        file: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The header text.
        found: String,
    },
    /// A row that does not parse or is inconsistent.
    #[error("{}:{line}: column {column} ({name}) value {value:?}: {kind}", file.display())]
    Row {
        /// The file.
        file: PathBuf,
        /// 1-based line number.
        line: usize,
        /// 1-based column number.
        column: usize,
        /// The column's name.
        name: &'static str,
        /// The offending text.
        value: String,
        /// What was wrong.
        kind: KlineErrorKind,
    },
    /// A timestamp lower than the previous row's, or equal to it with different values.
    #[error("{}:{line}: column 1 ({name}) value {value:?}: {problem} (previous open time {previous_ms} ms)", file.display())]
    Order {
        /// The file.
        file: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The timestamp column's name.
        name: &'static str,
        /// The offending timestamp text.
        value: String,
        /// The previous open time, milliseconds.
        previous_ms: i64,
        /// "timestamp goes backwards" or "duplicate timestamp with different values".
        problem: &'static str,
    },
    /// No bars at all.
    #[error("no bars in {what}")]
    Empty {
        /// The file(s).
        what: String,
    },
}

/// A run of missing bars.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Gap {
    /// Open time of the bar before the gap, milliseconds.
    pub after_ms: i64,
    /// Open time of the bar after the gap, milliseconds.
    pub before_ms: i64,
    /// Bars missing in between.
    pub missing: i64,
    /// Index (in [`Series::rows`]) of the first bar after the gap.
    pub index: usize,
}

/// A validated, time-ordered bar series.
#[derive(Debug, Clone)]
pub struct Series {
    /// The bars, strictly increasing in open time.
    pub rows: Vec<KlineRow>,
    /// The bar interval (smallest step between consecutive bars), ms.
    pub interval_ms: i64,
    /// Gaps, in order.
    pub gaps: Vec<Gap>,
    /// Exact duplicate rows dropped.
    pub duplicates: usize,
    /// The files read, in order.
    pub sources: Vec<PathBuf>,
    /// SHA-256 (hex) of the input files' bytes, in order.
    pub sha256: String,
}

impl Series {
    /// Builds a series from rows already in memory (synthetic data, tests),
    /// with the same ordering checks as files get.
    ///
    /// # Errors
    /// [`DataError`] as for files, naming `label` as the file.
    pub fn from_rows(label: &str, rows: &[KlineRow]) -> Result<Self, DataError> {
        let mut acc = Accumulator::default();
        let file = PathBuf::from(label);
        for (i, row) in rows.iter().enumerate() {
            acc.push(*row, &file, i + 1, "timestamp", || row.bar.open_time_ms.to_string())?;
        }
        acc.finish(Vec::new(), String::new(), label)
    }

    /// Close prices as floats.
    pub fn closes(&self) -> Vec<f64> {
        self.rows.iter().map(|r| r.bar.close.to_f64()).collect()
    }

    /// A one-paragraph human summary (bars, interval, gaps, duplicates).
    pub fn summary(&self) -> String {
        let first = self.rows.first().map_or(0, |r| r.bar.open_time_ms);
        let last = self.rows.last().map_or(0, |r| r.bar.open_time_ms);
        let missing: i64 = self.gaps.iter().map(|g| g.missing).sum();
        format!(
            "{} bars from {} files, interval {} ms, open times {}..={} ms, {} gaps ({} bars missing), {} duplicate rows dropped",
            self.rows.len(),
            self.sources.len(),
            self.interval_ms,
            first,
            last,
            self.gaps.len(),
            missing,
            self.duplicates
        )
    }
}

#[derive(Default)]
struct Accumulator {
    rows: Vec<KlineRow>,
    duplicates: usize,
}

impl Accumulator {
    fn push(
        &mut self,
        row: KlineRow,
        file: &Path,
        line: usize,
        name: &'static str,
        value: impl FnOnce() -> String,
    ) -> Result<(), DataError> {
        if let Some(prev) = self.rows.last() {
            let (p, t) = (prev.bar.open_time_ms, row.bar.open_time_ms);
            if t == p && prev.bar == row.bar && prev.taker_buy_volume == row.taker_buy_volume {
                self.duplicates += 1;
                return Ok(());
            }
            if t <= p {
                let problem =
                    if t == p { "duplicate timestamp with different values" } else { "timestamp goes backwards" };
                return Err(DataError::Order {
                    file: file.to_path_buf(),
                    line,
                    name,
                    value: value(),
                    previous_ms: p,
                    problem,
                });
            }
        }
        self.rows.push(row);
        Ok(())
    }

    fn finish(self, sources: Vec<PathBuf>, sha256: String, what: &str) -> Result<Series, DataError> {
        if self.rows.is_empty() {
            return Err(DataError::Empty { what: what.to_string() });
        }
        let interval_ms =
            self.rows.windows(2).map(|w| w[1].bar.open_time_ms - w[0].bar.open_time_ms).min().unwrap_or(60_000);
        let mut gaps = Vec::new();
        for (i, w) in self.rows.windows(2).enumerate() {
            let step = w[1].bar.open_time_ms - w[0].bar.open_time_ms;
            if step > interval_ms {
                gaps.push(Gap {
                    after_ms: w[0].bar.open_time_ms,
                    before_ms: w[1].bar.open_time_ms,
                    missing: step / interval_ms - 1,
                    index: i + 1,
                });
            }
        }
        Ok(Series { rows: self.rows, interval_ms, gaps, duplicates: self.duplicates, sources, sha256 })
    }
}

/// Expands directories into the `.csv` and `.zip` files they hold (sorted by
/// name, which for Binance archives is by date); files are kept as given.
///
/// # Errors
/// [`DataError::Io`] if a directory cannot be listed.
pub fn expand_paths(paths: &[PathBuf]) -> Result<Vec<PathBuf>, DataError> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found = Vec::new();
            let entries = std::fs::read_dir(p).map_err(|source| DataError::Io { path: p.clone(), source })?;
            for e in entries {
                let e = e.map_err(|source| DataError::Io { path: p.clone(), source })?;
                let path = e.path();
                let ext = path.extension().and_then(|s| s.to_str()).unwrap_or("");
                if ext == "csv" || ext == "zip" {
                    found.push(path);
                }
            }
            found.sort();
            out.extend(found);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// Reads a file's bytes, unpacking the first `.csv` entry of a `.zip`.
/// Returns `(raw file bytes, csv bytes)`.
fn read_csv_bytes(path: &Path) -> Result<(Vec<u8>, Vec<u8>), DataError> {
    let raw = std::fs::read(path).map_err(|source| DataError::Io { path: path.to_path_buf(), source })?;
    if path.extension().and_then(|s| s.to_str()) != Some("zip") {
        return Ok((raw.clone(), raw));
    }
    let zerr = |message: String| DataError::Zip { path: path.to_path_buf(), message };
    let csv = {
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(&raw)).map_err(|e| zerr(e.to_string()))?;
        let mut found = None;
        for i in 0..archive.len() {
            let mut entry = archive.by_index(i).map_err(|e| zerr(e.to_string()))?;
            if entry.name().ends_with(".csv") {
                let mut csv = Vec::with_capacity(entry.size() as usize);
                entry.read_to_end(&mut csv).map_err(|e| zerr(e.to_string()))?;
                found = Some(csv);
                break;
            }
        }
        found.ok_or_else(|| zerr("no .csv entry".to_string()))?
    };
    Ok((raw, csv))
}

/// Loads and validates one or more files (in the given order) into one series.
///
/// # Errors
/// [`DataError`] naming the file, line, column and value of the first problem.
pub fn load(paths: &[PathBuf]) -> Result<Series, DataError> {
    let files = expand_paths(paths)?;
    let mut acc = Accumulator::default();
    let mut hasher = Sha256::new();
    for file in &files {
        let (raw, csv) = read_csv_bytes(file)?;
        hasher.update(&raw);
        parse_into(&mut acc, file, &csv)?;
    }
    let what = files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ");
    acc.finish(files, hex(&hasher.finalize()), &what)
}

/// Parses one file's CSV text (for tests and in-memory data).
///
/// # Errors
/// [`DataError`] as [`load`].
pub fn parse_csv(file: &Path, csv: &[u8]) -> Result<Series, DataError> {
    let mut acc = Accumulator::default();
    parse_into(&mut acc, file, csv)?;
    let mut h = Sha256::new();
    h.update(csv);
    acc.finish(vec![file.to_path_buf()], hex(&h.finalize()), &file.display().to_string())
}

fn parse_into(acc: &mut Accumulator, file: &Path, csv: &[u8]) -> Result<(), DataError> {
    let mut layout = None;
    for (i, line) in csv.split(|&b| b == b'\n').enumerate() {
        let line_no = i + 1;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let layout = match layout {
            Some(l) => l,
            None => {
                let l = if line.first().is_some_and(u8::is_ascii_digit) {
                    RowLayout::Binance
                } else {
                    let l = kline::header_layout(line).ok_or_else(|| DataError::Header {
                        file: file.to_path_buf(),
                        line: line_no,
                        found: String::from_utf8_lossy(line).to_string(),
                    })?;
                    layout = Some(l);
                    continue;
                };
                layout = Some(l);
                l
            }
        };
        let row = kline::parse_row(line, layout).map_err(|e| DataError::Row {
            file: file.to_path_buf(),
            line: line_no,
            column: e.column + 1,
            name: e.name,
            value: String::from_utf8_lossy(line.get(e.span.0..e.span.1).unwrap_or(&[])).to_string(),
            kind: e.kind,
        })?;
        let ts_text = || {
            let end = line.iter().position(|&b| b == b',').unwrap_or(line.len());
            String::from_utf8_lossy(&line[..end]).to_string()
        };
        acc.push(row, file, line_no, layout.column_name(0), ts_text)?;
    }
    Ok(())
}

/// Lowercase hex of a byte string.
pub fn hex(bytes: &[u8]) -> String {
    use fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Writes bars in the generic CSV format, with `taker_buy_volume` when every
/// row has it.
pub fn write_generic_csv(rows: &[KlineRow]) -> String {
    let taker = rows.iter().all(|r| r.taker_buy_volume.is_some());
    let mut out = String::with_capacity(rows.len() * 64);
    out.push_str("timestamp,open,high,low,close,volume");
    out.push_str(if taker { ",taker_buy_volume\n" } else { "\n" });
    for r in rows {
        let b = &r.bar;
        out.push_str(&format!("{},{},{},{},{},{}", b.open_time_ms, b.open, b.high, b.low, b.close, b.volume));
        match r.taker_buy_volume {
            Some(t) if taker => out.push_str(&format!(",{t}\n")),
            _ => out.push('\n'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_dropped_and_gaps_reported() {
        let csv = b"timestamp,open,high,low,close,volume\n0,1,2,0.5,1.5,1\n60000,1,2,0.5,1.5,1\n60000,1,2,0.5,1.5,1\n240000,1,2,0.5,1.5,1\n";
        let s = parse_csv(Path::new("t.csv"), csv).unwrap();
        assert_eq!(s.rows.len(), 3);
        assert_eq!(s.duplicates, 1);
        assert_eq!(s.interval_ms, 60_000);
        assert_eq!(s.gaps, vec![Gap { after_ms: 60_000, before_ms: 240_000, missing: 2, index: 2 }]);
    }

    #[test]
    fn order_errors_name_the_line() {
        let csv = b"timestamp,open,high,low,close,volume\n60000,1,2,0.5,1.5,1\n0,1,2,0.5,1.5,1\n";
        let e = parse_csv(Path::new("t.csv"), csv).unwrap_err().to_string();
        assert!(e.contains("t.csv:3") && e.contains("backwards") && e.contains("\"0\""), "{e}");
        let csv = b"timestamp,open,high,low,close,volume\n60000,1,2,0.5,1.5,1\n60000,1,2,0.5,1.4,1\n";
        let e = parse_csv(Path::new("t.csv"), csv).unwrap_err().to_string();
        assert!(e.contains("t.csv:3") && e.contains("different values"), "{e}");
    }

    #[test]
    fn unknown_header_is_refused() {
        let e = parse_csv(Path::new("h.csv"), b"time,o,h,l,c\n").unwrap_err();
        assert!(matches!(e, DataError::Header { line: 1, .. }), "{e}");
    }

    #[test]
    fn generic_csv_round_trips() {
        let csv =
            b"timestamp,open,high,low,close,volume,taker_buy_volume\n0,1,2,0.5,1.5,3,1\n60000,1.5,2,0.5,1.25,1,0.5\n";
        let s = parse_csv(Path::new("t.csv"), csv).unwrap();
        let text = write_generic_csv(&s.rows);
        assert_eq!(text.as_bytes(), csv);
    }
}
