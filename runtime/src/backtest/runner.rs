//! `run`: load the data and the signal, replay, summarise, write.

use odex_shared::model_file;

use super::config::{BacktestConfig, BacktestError, DataSource, SignalConfig};
use super::data::{self, DataError, KlineRow};
use super::replay::{self, SYMBOL};
use super::report::{self, BacktestReport};
use crate::event::MarketEvent;

/// The events of a data source, in time order.
///
/// # Errors
/// [`BacktestError::Data`] naming the file, line and column of a bad row,
/// or files that overlap in time.
pub fn load_events(source: &DataSource) -> Result<Vec<MarketEvent>, BacktestError> {
    let rows: Vec<KlineRow> = match source {
        DataSource::Klines(files) => {
            let mut rows: Vec<KlineRow> = Vec::new();
            for path in files {
                let more = data::read_klines(path)?;
                if let (Some(last), Some(first)) = (rows.last(), more.first())
                    && first.bar.open_time_ms <= last.bar.open_time_ms
                {
                    return Err(DataError::Row {
                        path: path.clone(),
                        line: 1,
                        column: 1,
                        field: "open_time",
                        message: format!(
                            "file starts at {} ms, not after the previous file's last bar at {} ms (list files in time order)",
                            first.bar.open_time_ms, last.bar.open_time_ms
                        ),
                    }
                    .into());
                }
                rows.extend(more);
            }
            rows
        }
        DataSource::SyntheticOu(ou) => ou.kline_rows(),
    };
    Ok(data::bar_events(&rows, SYMBOL))
}

/// Runs a backtest end to end and writes its results into `config.out_dir`.
///
/// # Errors
/// [`BacktestError`] for a bad config, unreadable data or model, or a
/// failed write; each names what and where.
pub fn run(config: &BacktestConfig) -> Result<BacktestReport, BacktestError> {
    config.validate()?;
    let events = load_events(&config.data)?;
    let path = &config.model;
    let model_err = |message: String| BacktestError::Model { path: path.clone(), message };
    let bytes = std::fs::read(path).map_err(|e| model_err(e.to_string()))?;
    let model = model_file::decode(&bytes).map_err(|e| model_err(e.to_string()))?;
    let dir = &config.out_dir;
    std::fs::create_dir_all(dir).map_err(|source| BacktestError::Write { path: dir.clone(), source })?;
    let r = replay::replay(config, &events, &model, Some(&dir.join(report::JOURNAL_FILE)))?;
    // the baselines: the same engine and venue, other deciders
    let momentum =
        BacktestConfig { signal: SignalConfig::Momentum { lookback: report::MOMENTUM_LOOKBACK }, ..config.clone() };
    let baselines = report::Baselines {
        momentum: replay::replay(&momentum, &events, &model, None)?,
        physics_only: if model.spec.hidden.is_empty() {
            None
        } else {
            let physics = BacktestConfig { signal: SignalConfig::Model, ..config.clone() };
            Some(replay::replay(&physics, &events, &model.physics_only(), None)?)
        },
    };
    let summary = report::summarise(config, &r, &baselines);
    let files = report::write_all(config, &r, &baselines, &summary)?;
    Ok(BacktestReport { summary, files })
}
