//! The report folder of a run: the numbers as CSV and JSON (for pandas) and
//! the same as SVG charts (plotters' SVG backend: no system fonts needed).
//!
//! Files:
//! - `loss.csv`, `loss.svg`: training and validation objective per epoch;
//! - `trajectories.csv`, `trajectories.svg`: the return feature observed vs
//!   predicted one horizon ahead, over the test part (validation or train
//!   when it is empty);
//! - `returns.csv`, `returns.svg`: predicted vs realised log return per window;
//! - `metrics.json`: per-part metrics, best epoch, history.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use plotters::prelude::*;
use tch::Kind;

use crate::config::Config;
use crate::dataset::{Dataset, PART_NAMES};
use crate::fit::{Fitted, objective};
use crate::loss::Batch;

/// Why a report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Drawing a chart failed.
    #[error("{}: chart: {message}", path.display())]
    Chart {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

fn write(path: &Path, text: &str) -> Result<(), ReportError> {
    std::fs::write(path, text).map_err(|source| ReportError::Io { path: path.to_path_buf(), source })
}

/// One named line of a chart.
struct Line<'a> {
    name: &'a str,
    points: Vec<(f64, f64)>,
    color: RGBColor,
}

fn bounds(lines: &[Line<'_>]) -> ((f64, f64), (f64, f64)) {
    let mut x = (f64::INFINITY, f64::NEG_INFINITY);
    let mut y = (f64::INFINITY, f64::NEG_INFINITY);
    for (px, py) in lines.iter().flat_map(|l| l.points.iter()) {
        if px.is_finite() && py.is_finite() {
            x = (x.0.min(*px), x.1.max(*px));
            y = (y.0.min(*py), y.1.max(*py));
        }
    }
    let pad = |(lo, hi): (f64, f64)| {
        if !lo.is_finite() {
            (0.0, 1.0)
        } else if hi - lo <= 0.0 {
            (lo - 1.0, hi + 1.0)
        } else {
            (lo - 0.02 * (hi - lo), hi + 0.02 * (hi - lo))
        }
    };
    (pad(x), pad(y))
}

fn chart(
    path: &Path,
    title: &str,
    xlabel: &str,
    ylabel: &str,
    lines: &[Line<'_>],
    scatter: bool,
) -> Result<(), ReportError> {
    let err = |e: String| ReportError::Chart { path: path.to_path_buf(), message: e };
    let ((x0, x1), (y0, y1)) = bounds(lines);
    let root = SVGBackend::new(path, (900, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
    let mut c = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(|e| err(e.to_string()))?;
    c.configure_mesh().x_desc(xlabel).y_desc(ylabel).draw().map_err(|e| err(e.to_string()))?;
    for l in lines {
        let color = l.color;
        let series = l.points.iter().copied().filter(|(x, y)| x.is_finite() && y.is_finite());
        let anno = if scatter {
            c.draw_series(series.map(|p| Circle::new(p, 2, color.filled()))).map_err(|e| err(e.to_string()))?
        } else {
            c.draw_series(LineSeries::new(series, &color)).map_err(|e| err(e.to_string()))?
        };
        anno.label(l.name).legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
    }
    c.configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| err(e.to_string()))?;
    root.present().map_err(|e| err(e.to_string()))?;
    Ok(())
}

/// Writes the report folder of a fit.
///
/// # Errors
/// [`ReportError`] when a file cannot be written.
pub fn write_report(dir: &Path, fitted: &Fitted, dataset: &Dataset, cfg: &Config) -> Result<(), ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportError::Io { path: dir.to_path_buf(), source })?;

    let mut csv = String::from("epoch,lr,train,validation\n");
    for e in &fitted.history {
        let _ = writeln!(csv, "{},{},{},{}", e.epoch, e.lr, e.train, e.validation);
    }
    write(&dir.join("loss.csv"), &csv)?;
    let ep = |f: fn(&crate::fit::EpochLog) -> f64| -> Vec<(f64, f64)> {
        fitted.history.iter().map(|e| (f64::from(e.epoch), f(e))).collect()
    };
    chart(
        &dir.join("loss.svg"),
        "objective J per epoch",
        "epoch",
        "J",
        &[
            Line { name: "train", points: ep(|e| e.train), color: BLUE },
            Line { name: "validation", points: ep(|e| e.validation), color: RED },
        ],
        false,
    )?;

    // Predictions on the last non-empty part.
    let part = (0..3).rev().find(|&p| !dataset.windows[p].is_empty()).unwrap_or(0);
    let w = &dataset.windows[part];
    let batch = Batch::new(w, dataset.horizon, dataset.dim(), fitted.net.device());
    let obj = objective(dataset, cfg);
    let (pred_ret, pred_end, position) = tch::no_grad(|| {
        let t = obj.terms(&fitted.net, &batch);
        let rd = obj.return_dim as i64;
        let end = t.means.select(1, dataset.horizon as i64 - 1).select(1, rd).to_kind(Kind::Double);
        let v = |x: &tch::Tensor| Vec::<f64>::try_from(&x.to_device(tch::Device::Cpu)).unwrap_or_default();
        (v(&t.predicted_return), v(&end), v(&t.position))
    });
    let rd = obj.return_dim;
    let mut csv = String::from("observation,actual,predicted\n");
    let mut actual = Vec::new();
    let mut predicted = Vec::new();
    for (i, &t) in w.start.iter().enumerate() {
        let target = t + dataset.horizon;
        let a = dataset.states[target][rd];
        let p = pred_end.get(i).copied().unwrap_or(f64::NAN);
        let _ = writeln!(csv, "{target},{a},{p}");
        actual.push((target as f64, a));
        predicted.push((target as f64, p));
    }
    write(&dir.join("trajectories.csv"), &csv)?;
    let kind = dataset.spec.kinds.get(rd).map(|k| format!("{k:?}")).unwrap_or_default();
    chart(
        &dir.join("trajectories.svg"),
        &format!("{kind} (normalised), {} part: actual vs predicted {} steps ahead", PART_NAMES[part], dataset.horizon),
        "observation",
        &kind,
        &[
            Line { name: "actual", points: actual, color: BLACK },
            Line { name: "predicted", points: predicted, color: RED },
        ],
        false,
    )?;

    let mut csv = String::from("observation,predicted_return,realised_return,position\n");
    let mut pts = Vec::new();
    for (i, &t) in w.start.iter().enumerate() {
        let p = pred_ret.get(i).copied().unwrap_or(f64::NAN);
        let r = w.realised[i];
        let _ = writeln!(csv, "{t},{p},{r},{}", position.get(i).copied().unwrap_or(0.0));
        pts.push((p, r));
    }
    write(&dir.join("returns.csv"), &csv)?;
    chart(
        &dir.join("returns.svg"),
        &format!("{} part: predicted vs realised log return over the horizon", PART_NAMES[part]),
        "predicted",
        "realised",
        &[Line { name: "window", points: pts, color: BLUE }],
        true,
    )?;

    let metrics = serde_json::json!({
        "best_epoch": fitted.best_epoch,
        "stopped_early": fitted.stopped_early,
        "device": fitted.device,
        "metrics": fitted.metrics,
        "history": fitted.history,
    });
    write(&dir.join("metrics.json"), &(serde_json::to_string_pretty(&metrics).unwrap_or_default() + "\n"))?;
    Ok(())
}
