//! Backtest results: the summary and the files written for it.
//!
//! The output folder gets `summary.json` (metrics of the strategy and of
//! buy-and-hold, costs, counts, the engine's refusals, the conventions
//! used), `equity.csv` (one row per equity sample), `fills.csv` (one row per
//! fill), `ledger.json` (the venue's ledger at the end, for reconciliation),
//! `journal.bin` (the engine's journal, as `odex run` writes it), the plots
//! `equity.svg` and `drawdown.svg`, and `report.html`, one self-contained
//! page with the numbers and the plots. Nothing depends on the
//! wall clock or on hash order: the same run writes the same bytes.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use odex_shared::market::{Amount, Price};
use serde::Serialize;

use super::config::{BacktestConfig, BacktestError, DataSource, SignalConfig};
use super::metrics::{self, Metrics, RegimeStats};
use super::plots::{self, Series, YFormat, escape};
use super::replay::{Replay, SYMBOL};
use crate::config::OrderStyle;

/// The conventions behind the numbers, written into every summary.
pub const CONVENTIONS: &str = "simple returns between equity samples; 365-day year of 24 h; \
Sharpe = mean/sd*sqrt(periods_per_year), sample sd, zero risk-free rate; Sortino uses sqrt(mean(min(r,0)^2)); \
annualised return compounds total return over periods_per_year/n; turnover = traded notional / initial equity; \
buy and hold invests all equity at the first sample's mark with no costs";

/// The engine's journal in the output folder.
pub const JOURNAL_FILE: &str = "journal.bin";

/// The headline numbers of a backtest (`summary.json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Exchange symbol.
    pub symbol: String,
    /// Where the data came from.
    pub data: Vec<String>,
    /// What gave the signal.
    pub signal: String,
    /// The engine's order policy and account rules.
    pub engine: String,
    /// Events replayed.
    pub events: u64,
    /// Events the signal observed.
    pub observations: u64,
    /// First equity sample, ms since the epoch.
    pub first_time_ms: u64,
    /// Last equity sample, ms since the epoch.
    pub last_time_ms: u64,
    /// Opening equity (quote).
    pub initial_equity: String,
    /// Closing equity at the last mark (quote).
    pub final_equity: String,
    /// Closing minus opening equity.
    pub pnl: String,
    /// Commissions paid.
    pub fees: String,
    /// Quote value traded.
    pub traded_notional: String,
    /// Traded notional over opening equity.
    pub turnover: f64,
    /// Fills.
    pub fills: usize,
    /// Fills on the maker side.
    pub maker_fills: usize,
    /// Orders the engine sent.
    pub orders: u64,
    /// Orders the venue refused at submission.
    pub rejects: u64,
    /// Targets and orders the engine's risk layer refused or cut, by reason
    /// (only reasons that occurred).
    pub refusals: std::collections::BTreeMap<&'static str, u64>,
    /// Orders that ended (expired or rejected in matching) with no fill.
    pub unfilled_orders: u64,
    /// Base held at the end.
    pub final_base: String,
    /// Quote held at the end.
    pub final_quote: String,
    /// The strategy.
    pub strategy: Metrics,
    /// Buy and hold over the same samples.
    pub buy_and_hold: Metrics,
    /// The momentum baseline traded by the same engine on the same events
    /// (see `baselines`).
    pub momentum: Metrics,
    /// The model's physics prior alone (its network's output zeroed), traded
    /// by the same engine; absent for a model without a network.
    pub physics_only: Option<Metrics>,
    /// How the baselines are defined.
    pub baselines: String,
    /// The strategy and buy and hold per market regime.
    pub regimes: Vec<RegimeStats>,
    /// How regimes are labelled.
    pub regime_rule: &'static str,
    /// How the metrics are defined.
    pub conventions: &'static str,
}

/// What [`run`](super::run) returns.
#[derive(Debug, Clone, PartialEq)]
pub struct BacktestReport {
    /// The summary (also in `summary.json`).
    pub summary: Summary,
    /// The files written.
    pub files: Vec<PathBuf>,
}

/// The momentum baseline's lookback, in observations.
pub const MOMENTUM_LOOKBACK: usize = 20;

/// The baselines replayed beside the strategy.
#[derive(Debug, Clone)]
pub struct Baselines {
    /// The momentum rule.
    pub momentum: Replay,
    /// The model's physics prior alone (none for a model without a network).
    pub physics_only: Option<Replay>,
}

/// Buy and hold's equity at each sample: the opening quote invested at the
/// first sample's mark, no costs.
fn buy_and_hold(config: &BacktestConfig, r: &Replay) -> Vec<f64> {
    let first_mark = r.equity.first().map_or(0.0, |p| p.mark.to_f64());
    let capital = config.initial_quote().to_f64();
    r.equity.iter().map(|p| capital * p.mark.to_f64() / first_mark).collect()
}

/// The strategy's drawdown at each sample: the fall from the running peak
/// as a fraction of it.
fn drawdowns(r: &Replay) -> impl Iterator<Item = f64> + '_ {
    let mut peak = 0.0f64;
    r.equity.iter().map(move |p| {
        let e = p.equity.to_f64();
        peak = peak.max(e);
        if peak > 0.0 { 1.0 - e / peak } else { 0.0 }
    })
}

/// The statistics of a replay's equity curve.
pub fn curve_metrics(r: &Replay) -> Metrics {
    let times: Vec<f64> = r.equity.iter().map(|p| p.time.0 as f64 * 1e-9).collect();
    let equity: Vec<f64> = r.equity.iter().map(|p| p.equity.to_f64()).collect();
    let exposed: Vec<bool> = r.equity.iter().map(|p| !p.base.is_zero()).collect();
    metrics::compute(&times, &equity, &exposed)
}

/// Builds the summary of a replay and its baselines.
pub fn summarise(config: &BacktestConfig, r: &Replay, baselines: &Baselines) -> Summary {
    let times: Vec<f64> = r.equity.iter().map(|p| p.time.0 as f64 * 1e-9).collect();
    let equity: Vec<f64> = r.equity.iter().map(|p| p.equity.to_f64()).collect();
    let marks: Vec<f64> = r.equity.iter().map(|p| p.mark.to_f64()).collect();
    let first_equity = config.initial_quote().to_f64();
    let hold = buy_and_hold(config, r);
    let strategy = curve_metrics(r);
    let acct = r.venue.account(SYMBOL).copied().unwrap_or_default();
    let last_mark = r.equity.last().map_or(Price::ZERO, |p| p.mark);
    let final_equity = acct.quote.saturating_add(last_mark.notional(acct.base).unwrap_or(Amount::ZERO));
    let traded = acct.buy_notional.saturating_add(acct.sell_notional);
    let data = match &config.data {
        DataSource::Klines(files) => files.iter().map(|f| f.display().to_string()).collect(),
        DataSource::SyntheticOu(ou) => vec![format!(
            "synthetic OU: kappa {} mu {} sigma {} bars {} seed {}",
            ou.kappa, ou.mu, ou.sigma, ou.bars, ou.seed
        )],
    };
    let signal = match &config.signal {
        SignalConfig::Model => format!("model {}", config.model.display()),
        SignalConfig::Momentum { lookback } => format!("momentum, lookback {lookback} observations"),
        SignalConfig::Oracle { params, horizon } => format!(
            "OU oracle: kappa {} mu {} sigma {} horizon {} (sized as model {})",
            params.kappa,
            params.mu,
            params.sigma,
            horizon,
            config.model.display()
        ),
    };
    let (risk, orders) = (&config.engine.risk, &config.engine.orders);
    let style = match orders.style {
        OrderStyle::Limit => "limit",
        OrderStyle::Market => "market",
        OrderStyle::PostOnly => "post-only",
        OrderStyle::Ioc => "ioc",
    };
    let engine = format!(
        "{style} orders (offset {} ticks), rebalance band {} bps, {}",
        orders.price_offset_ticks,
        orders.min_rebalance_bps,
        if risk.allow_short {
            "shorts allowed".to_string()
        } else {
            format!("spot (cash reserve {} bps)", risk.cash_reserve_bps)
        }
    );
    Summary {
        symbol: config.symbol().symbol,
        data,
        signal,
        engine,
        events: r.events,
        observations: r.observations,
        first_time_ms: r.equity.first().map_or(0, |p| p.time.as_millis()),
        last_time_ms: r.equity.last().map_or(0, |p| p.time.as_millis()),
        initial_equity: config.initial_quote().to_string(),
        final_equity: final_equity.to_string(),
        pnl: final_equity.saturating_sub(config.initial_quote()).to_string(),
        fees: acct.fees.to_string(),
        traded_notional: traded.to_string(),
        turnover: traded.to_f64() / first_equity,
        fills: r.fills.len(),
        maker_fills: r.fills.iter().filter(|f| f.maker).count(),
        orders: r.orders,
        rejects: r.rejects,
        refusals: r.refusals.iter().filter(|(_, n)| *n > 0).map(|(k, n)| (k.as_str(), n)).collect(),
        unfilled_orders: r.unfilled_ends,
        final_base: acct.base.to_string(),
        final_quote: acct.quote.to_string(),
        regimes: metrics::by_regime(&marks, &equity, strategy.periods_per_year),
        regime_rule: metrics::REGIME_RULE,
        strategy,
        buy_and_hold: metrics::compute(&times, &hold, &vec![true; hold.len()]),
        momentum: curve_metrics(&baselines.momentum),
        physics_only: baselines.physics_only.as_ref().map(curve_metrics),
        baselines: format!(
            "buy and hold: all equity in at the first mark, no costs; momentum: the same engine and venue trading a \
             target of 1 (all in) while the price is above its level {MOMENTUM_LOOKBACK} observations ago, 0 \
             otherwise; physics-only: the same engine and venue trading the model with its network's output zeroed"
        ),
        conventions: CONVENTIONS,
    }
}

/// `equity.csv`.
pub fn equity_csv(r: &Replay) -> String {
    let mut s = String::with_capacity(64 * (r.equity.len() + 1));
    s.push_str("time_ms,mark,base,quote,equity,drawdown,target_fraction\n");
    for (p, dd) in r.equity.iter().zip(drawdowns(r)) {
        let _ = writeln!(
            s,
            "{},{},{},{},{},{:.8},{:.8}",
            p.time.as_millis(),
            p.mark,
            p.base,
            p.quote,
            p.equity,
            dd,
            if p.target.is_finite() { p.target } else { 0.0 }
        );
    }
    s
}

/// `fills.csv`.
pub fn fills_csv(r: &Replay) -> String {
    let mut s = String::with_capacity(96 * (r.fills.len() + 1));
    s.push_str("time_ms,order_id,client_id,side,price,qty,quote,fee,liquidity\n");
    for f in &r.fills {
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{},{},{}",
            f.time.as_millis(),
            f.order_id,
            f.client_id,
            f.side.as_str(),
            f.price,
            f.qty,
            f.price.notional(f.qty).unwrap_or(Amount::ZERO),
            f.fee,
            if f.maker { "maker" } else { "taker" }
        );
    }
    s
}

/// One replay's equity curve as chart points (ms, quote).
fn equity_points(r: &Replay) -> Vec<(f64, f64)> {
    r.equity.iter().map(|p| (p.time.0 as f64 * 1e-6, p.equity.to_f64())).collect()
}

/// `equity.svg`: the strategy, buy and hold and the baselines.
pub fn equity_svg(config: &BacktestConfig, r: &Replay, baselines: &Baselines) -> String {
    let strategy = equity_points(r);
    let hold: Vec<(f64, f64)> =
        r.equity.iter().zip(buy_and_hold(config, r)).map(|(p, h)| (p.time.0 as f64 * 1e-6, h)).collect();
    let momentum = equity_points(&baselines.momentum);
    let physics = baselines.physics_only.as_ref().map(equity_points);
    let mut series = vec![
        Series { name: "strategy", points: &strategy },
        Series { name: "buy and hold", points: &hold },
        Series { name: "momentum", points: &momentum },
    ];
    if let Some(p) = &physics {
        series.push(Series { name: "physics-only", points: p });
    }
    plots::line_chart("Equity", "equity (quote)", YFormat::Plain, &series, 900, 420)
}

/// `drawdown.svg`: the strategy's fall from its running peak.
pub fn drawdown_svg(r: &Replay) -> String {
    let points: Vec<(f64, f64)> =
        r.equity.iter().zip(drawdowns(r)).map(|(p, dd)| (p.time.0 as f64 * 1e-6, -dd)).collect();
    plots::line_chart(
        "Drawdown",
        "from peak",
        YFormat::Percent,
        &[Series { name: "strategy", points: &points }],
        900,
        260,
    )
}

/// `report.html`: the summary's numbers and the plots on one page with no
/// outside references.
pub fn report_html(summary: &Summary, equity_svg: &str, drawdown_svg: &str) -> String {
    let mut h = String::with_capacity(16_384 + equity_svg.len() + drawdown_svg.len());
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>odex backtest: {}</title>\n<style>\
         body{{font-family:sans-serif;max-width:960px;margin:2em auto;color:#222}}\
         table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}\
         th:first-child,td:first-child{{text-align:left}}p.note{{color:#555;font-size:90%}}</style></head><body>\n",
        escape(&summary.symbol)
    );
    let _ = writeln!(h, "<h1>Backtest of {}</h1>", escape(&summary.signal));
    let _ = writeln!(
        h,
        "<p>{} on {} ({} events); engine: {}.</p>",
        escape(&summary.symbol),
        escape(&summary.data.join(", ")),
        summary.events,
        escape(&summary.engine)
    );
    let _ = writeln!(
        h,
        "<p>Equity {} &rarr; {} (PnL {}, fees {}); {} orders, {} fills ({} maker), {} rejected.</p>",
        summary.initial_equity,
        summary.final_equity,
        summary.pnl,
        summary.fees,
        summary.orders,
        summary.fills,
        summary.maker_fills,
        summary.rejects
    );
    h.push_str(
        "<table><tr><th></th><th>total return</th><th>annualised</th><th>volatility</th><th>Sharpe</th>\
         <th>Sortino</th><th>max drawdown</th><th>Calmar</th><th>hit rate</th><th>exposure</th></tr>\n",
    );
    let rows = [("strategy", Some(&summary.strategy)), ("buy and hold", Some(&summary.buy_and_hold))]
        .into_iter()
        .chain([("momentum", Some(&summary.momentum)), ("physics-only", summary.physics_only.as_ref())]);
    for (name, m) in rows.filter_map(|(n, m)| Some((n, m?))) {
        let _ = writeln!(
            h,
            "<tr><td>{name}</td><td>{:+.2}%</td><td>{:+.2}%</td><td>{:.2}%</td><td>{:.2}</td><td>{:.2}</td>\
             <td>{:.2}%</td><td>{:.2}</td><td>{:.1}%</td><td>{:.1}%</td></tr>",
            100.0 * m.total_return,
            100.0 * m.annualised_return,
            100.0 * m.annualised_volatility,
            m.sharpe,
            m.sortino,
            100.0 * m.max_drawdown,
            m.calmar,
            100.0 * m.hit_rate,
            100.0 * m.exposure
        );
    }
    h.push_str("</table>\n");
    let _ = writeln!(h, "<p class=\"note\">{}. {}.</p>", escape(&summary.baselines), escape(summary.conventions));
    h.push_str(equity_svg);
    h.push_str(drawdown_svg);
    h.push_str(
        "<h2>By market regime</h2>\n<table><tr><th>regime</th><th>share</th><th>strategy</th>\
         <th>Sharpe</th><th>hit rate</th><th>buy and hold</th></tr>\n",
    );
    for r in &summary.regimes {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{:.1}%</td><td>{:+.2}%</td><td>{:.2}</td><td>{:.1}%</td><td>{:+.2}%</td></tr>",
            r.regime,
            100.0 * r.share,
            100.0 * r.strategy_return,
            r.strategy_sharpe,
            100.0 * r.hit_rate,
            100.0 * r.buy_and_hold_return
        );
    }
    let _ = writeln!(h, "</table>\n<p class=\"note\">{}.</p>", escape(summary.regime_rule));
    let refusals: Vec<String> = summary.refusals.iter().map(|(k, n)| format!("{k} {n}")).collect();
    let _ = writeln!(
        h,
        "<p>Risk layer refusals: {}.</p>\n</body></html>",
        if refusals.is_empty() { "none".to_string() } else { refusals.join(", ") }
    );
    h
}

fn write(dir: &Path, name: &str, text: &str, files: &mut Vec<PathBuf>) -> Result<(), BacktestError> {
    let path = dir.join(name);
    std::fs::write(&path, text).map_err(|source| BacktestError::Write { path: path.clone(), source })?;
    files.push(path);
    Ok(())
}

/// Writes every result file into `config.out_dir` (created if missing).
///
/// # Errors
/// [`BacktestError::Write`] naming the path that failed.
pub fn write_all(
    config: &BacktestConfig,
    r: &Replay,
    baselines: &Baselines,
    summary: &Summary,
) -> Result<Vec<PathBuf>, BacktestError> {
    let dir = &config.out_dir;
    std::fs::create_dir_all(dir).map_err(|source| BacktestError::Write { path: dir.clone(), source })?;
    let mut files = Vec::with_capacity(8);
    let mut json = serde_json::to_string_pretty(summary)?;
    json.push('\n');
    write(dir, "summary.json", &json, &mut files)?;
    write(dir, "equity.csv", &equity_csv(r), &mut files)?;
    write(dir, "fills.csv", &fills_csv(r), &mut files)?;
    let mut ledger = r.venue.ledger_json();
    ledger.push('\n');
    write(dir, "ledger.json", &ledger, &mut files)?;
    files.push(dir.join(JOURNAL_FILE));
    let (equity, drawdown) = (equity_svg(config, r, baselines), drawdown_svg(r));
    write(dir, "equity.svg", &equity, &mut files)?;
    write(dir, "drawdown.svg", &drawdown, &mut files)?;
    write(dir, "report.html", &report_html(summary, &equity, &drawdown), &mut files)?;
    Ok(files)
}
