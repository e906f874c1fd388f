//! Crash safety of the engine's journal: trade against a model exchange,
//! flush the journal now and then, "crash" at many points (the file cut at
//! a flush boundary plus a torn partial record, or a flipped byte), recover,
//! replay into a fresh engine, and compare open orders and positions with
//! the state the engine had when that journal prefix was written.

use std::path::{Path, PathBuf};

use odex_runtime::clock::{Clock, SimClock};
use odex_runtime::config::{Config, FsyncPolicy, RawConfig};
use odex_runtime::engine::{Engine, JournalWriter, KillSwitch, OrderState, RecordingVenue, Sent, StopReason, recover};
use odex_runtime::event::{BookUpdate, MarketData, MarketEvent};
use odex_runtime::filters::SymbolFilters;
use odex_runtime::order::{ClientOrderId, ExecType, ExecutionReport, OrderRequest, OrderStatus, SymbolId};
use odex_shared::market::{Amount, BookTop, Nanos, Price, Qty, Side};
use odex_shared::model_file::ModelFile;

type E = Engine<RecordingVenue, SimClock>;

fn setup() -> (Config, ModelFile, SymbolFilters) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let text = std::fs::read_to_string(dir.join("paper.toml"))
        .unwrap()
        .replace("max_orders_per_sec = 5.0", "max_orders_per_sec = 50.0")
        // the golden model's forecast barely moves on a random walk; a tight
        // volatility target makes the position follow the volatility instead,
        // so the engine keeps trading
        .replace("vol_target = 0.02", "vol_target = 0.0005");
    let cfg = RawConfig::parse(&text).unwrap().validate(Some(&dir)).unwrap();
    let model = cfg.load_model().unwrap();
    let filters = SymbolFilters::tick_step(Price::parse("0.01").unwrap(), Qty::parse("0.00001").unwrap());
    (cfg, model, filters)
}

fn engine(prefix: &str) -> E {
    let (cfg, model, filters) = setup();
    Engine::new(
        &cfg,
        &model,
        &[filters],
        prefix,
        KillSwitch::new(),
        RecordingVenue::new(256),
        SimClock::new(Nanos(1_000_000_000_000)),
    )
    .unwrap()
}

/// What must survive a crash.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Snapshot {
    open: Vec<(ClientOrderId, OrderState, Qty, Side, Qty)>,
    position: Qty,
    avg_entry: Price,
    realised: Amount,
    fees: Amount,
    cash: Amount,
}

fn snapshot(e: &E) -> Snapshot {
    let mut open: Vec<_> =
        e.orders().open_orders().map(|o| (o.req.client_id, o.state, o.filled, o.req.side, o.req.qty)).collect();
    open.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
    let p = e.portfolio().position(SymbolId(0));
    Snapshot { open, position: p.qty, avg_entry: p.avg_entry, realised: p.realised, fees: p.fees(), cash: p.cash }
}

fn rep(req: &OrderRequest, id: u64, x: ExecType, s: OrderStatus) -> ExecutionReport {
    ExecutionReport { maker: true, time: Nanos(id), ..ExecutionReport::unfilled(req, id, x, s) }
}

/// Trades `events` ticks; returns the journal path and, for every flush,
/// the file length after it and the engine's snapshot at that moment.
fn trade(events: u64, name: &str) -> (PathBuf, Vec<(u64, Snapshot)>, E) {
    let path = std::env::temp_dir().join(format!("odex-{name}-{}.journal", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let mut e = engine("odx-j-");
    let mut w = JournalWriter::open(&path, FsyncPolicy::EveryRecord).unwrap();
    let mut resting: Vec<(OrderRequest, u64, Qty)> = Vec::new();
    let mut next_id = 0u64;
    let mut mid: i64 = 3_000_000;
    let mut seed = 0x1234_5678_9abc_def1u64;
    let mut points = vec![(0u64, snapshot(&e))];
    for n in 0..events {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        mid += (seed % 5) as i64 - 2
            + if (n / 2000) % 2 == 0 {
                i64::from(seed.is_multiple_of(13))
            } else {
                -i64::from(seed.is_multiple_of(13))
            };
        e.clock().advance(Nanos(2_000_000));
        let top = BookTop {
            bid: Price::from_raw(mid * 1_000_000),
            bid_qty: Qty::from_raw(((seed >> 8) % 100 + 1) as i64 * 10_000_000),
            ask: Price::from_raw((mid + 1) * 1_000_000),
            ask_qty: Qty::from_raw(((seed >> 24) % 100 + 1) as i64 * 10_000_000),
        };
        let ev = MarketEvent {
            recv: e.clock().monotonic(),
            exchange_time: None,
            data: MarketData::Book(BookUpdate { symbol: SymbolId(0), update_id: n, top }),
        };
        e.on_market(&ev);
        let sent: Vec<Sent> = e.venue_mut().drain().collect();
        let mut reports = Vec::new();
        for s in sent {
            match s {
                Sent::Place(req) => {
                    next_id += 1;
                    reports.push(rep(&req, next_id, ExecType::New, OrderStatus::New));
                    resting.push((req, next_id, Qty::ZERO));
                }
                Sent::Cancel(_, id) => {
                    if let Some(i) = resting.iter().position(|(r, _, _)| r.client_id == id) {
                        let (req, oid, filled) = resting.swap_remove(i);
                        let mut r = rep(&req, oid, ExecType::Canceled, OrderStatus::Canceled);
                        r.cum_qty = filled;
                        reports.push(r);
                    }
                }
                Sent::Query(..) => {}
            }
        }
        // partial fills: half of what is left when the book touches the price
        let mut i = 0;
        while i < resting.len() {
            let (req, oid, filled) = resting[i];
            let px = req.price.unwrap();
            let touched = match req.side {
                Side::Buy => top.ask <= px,
                Side::Sell => top.bid >= px,
            };
            if !touched {
                i += 1;
                continue;
            }
            let left = req.qty.raw() - filled.raw();
            let q = if left <= 1000 { left } else { left / 2 };
            let cum = Qty::from_raw(filled.raw() + q);
            let full = cum == req.qty;
            let mut r =
                rep(&req, oid, ExecType::Trade, if full { OrderStatus::Filled } else { OrderStatus::PartiallyFilled });
            r.last_qty = Qty::from_raw(q);
            r.last_price = px;
            r.cum_qty = cum;
            r.commission = Amount::from_raw(px.notional(Qty::from_raw(q)).unwrap().raw() / 1000);
            r.fee_in_base = oid % 3 == 0;
            reports.push(r);
            if full {
                resting.swap_remove(i);
            } else {
                resting[i].2 = cum;
                i += 1;
            }
        }
        for r in &reports {
            e.on_execution(r);
        }
        if n % 97 == 96 {
            e.flush_journal(&mut w).unwrap();
            points.push((w.written(), snapshot(&e)));
        }
    }
    e.flush_journal(&mut w).unwrap();
    points.push((w.written(), snapshot(&e)));
    (path, points, e)
}

fn replayed(path: &Path) -> (Snapshot, Option<StopReason>, u64) {
    let rec = recover(path).unwrap();
    let mut fresh = engine("odx-k-");
    fresh.replay(&rec.records);
    (snapshot(&fresh), rec.stop, rec.valid_len)
}

#[test]
fn replay_equals_the_state_before_the_crash() {
    let (path, points, e) = trade(6000, "replay");
    let placed = e.orders().counters().placed;
    assert!(placed > 50, "too few orders: {placed}");
    assert!(points.last().unwrap().1.open.iter().any(|o| o.1 != OrderState::Filled) || placed > 0);
    let full = std::fs::read(&path).unwrap();
    // the whole journal
    let (snap, stop, _) = replayed(&path);
    assert_eq!(stop, None);
    assert_eq!(snap, points.last().unwrap().1);
    assert!(!snap.position.is_zero() || snap.realised != Amount::ZERO, "the run should have traded: {snap:?}");
    // crashes at flush boundaries, each with a torn partial record behind it
    let mut checked = 0;
    for (k, (len, want)) in points.iter().enumerate().step_by(3) {
        let len = *len as usize;
        let next = points.get(k + 1).map_or(full.len(), |p| p.0 as usize);
        let torn = (next - len).min(5 + k % 40);
        std::fs::write(&path, &full[..len + torn]).unwrap();
        let (snap, stop, valid) = replayed(&path);
        assert_eq!(valid as usize, len, "crash point {k}");
        assert_eq!(&snap, want, "crash point {k}");
        assert_eq!(stop.is_some(), torn > 0);
        assert_eq!(std::fs::metadata(&path).unwrap().len() as usize, len, "the torn tail is truncated");
        checked += 1;
    }
    assert!(checked > 10);
    std::fs::remove_file(&path).ok();
}

#[test]
fn crc_mismatch_mid_file_stops_recovery_there() {
    let (path, points, _) = trade(6000, "crc");
    let mut bytes = std::fs::read(&path).unwrap();
    // a flush point in the second half with records written after it
    let k = (points.len() / 3..points.len() - 1)
        .find(|&k| points[k + 1].0 > points[k].0 + 20)
        .expect("records after the middle");
    let (cut, want) = &points[k];
    let cut = *cut as usize;
    bytes[cut + 12] ^= 0xff; // inside the payload of the first record after the cut
    std::fs::write(&path, &bytes).unwrap();
    let (snap, stop, valid) = replayed(&path);
    assert!(matches!(stop, Some(StopReason::CrcMismatch { .. })), "{stop:?}");
    assert_eq!(valid as usize, cut);
    assert_eq!(&snap, want);
    std::fs::remove_file(&path).ok();
}
