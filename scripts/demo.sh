#!/usr/bin/env bash
# The main job on the embedded default: seeded synthetic data -> train the
# hybrid ODE with LibTorch -> export -> backtest out of sample on the
# simulated venue (fees, slippage, latency) -> also backtest the bundled real
# ETHUSDT days -> start odex-sim (a local Binance venue) and trade the model
# with `odex run` over real sockets, first in paper mode, then in live mode
# -> summary. Everything lands in out/demo/.
#
# Environment: BARS (training bars, default 20000), EPOCHS (default: the
# config's), SEED (default 7), TRADE_SECS (seconds per trading mode,
# default 30).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh

BARS=${BARS:-20000}
SEED=${SEED:-7}
OUT=out/demo
step() { printf '\n\033[1m==> [%s] %s\033[0m\n' "$(date +%H:%M:%S)" "$*"; }

step "building odex-train (LibTorch) and odex (release, no LibTorch)"
cargo build --locked -p odex-trainer
cargo build --locked --release -p odex-runtime
TRAIN=target/debug/odex-train
ODEX=target/release/odex
SIM=target/release/odex-sim
TRADE_SECS=${TRADE_SECS:-30}

rm -rf "$OUT" && mkdir -p "$OUT/data"
step "synthetic Ornstein-Uhlenbeck data: $BARS training bars (seed $SEED), 5000 held-out bars (seed $((SEED + 1)))"
$TRAIN synth --kind ou --bars "$BARS" --seed "$SEED" --out "$OUT/data/train.csv"
$TRAIN synth --kind ou --bars 5000 --seed "$((SEED + 1))" --out "$OUT/data/test.csv"

step "training the hybrid ODE (4 -> 32 -> 32 -> 4, RK4) with LibTorch"
fit_args=(fit --config trainer/config/default-model.toml --data "$OUT/data/train.csv" --name demo
    --models-dir "$OUT/models" --reports-dir "$OUT/reports")
[ -n "${EPOCHS:-}" ] && fit_args+=(--epochs "$EPOCHS")
$TRAIN "${fit_args[@]}"

step "the exported model file"
$ODEX model inspect "$OUT/models/demo.odex"

step "backtest out of sample (held-out synthetic data, 10 bps fees, 1 bp slippage, 1 ms latency)"
$ODEX backtest --model "$OUT/models/demo.odex" --data "$OUT/data/test.csv" --out "$OUT/backtest-synthetic"

step "the same held-out data traded by the oracle (it knows the true OU parameters; same sizing, horizon, fees)"
$ODEX backtest --model "$OUT/models/demo.odex" --oracle "$OUT/data/test.json" --data "$OUT/data/test.csv" \
    --out "$OUT/backtest-oracle"

# the recorded archives beside the repository (as the tests look for them)
DATA=../shared/data/binance/klines
[ -d "$DATA" ] || DATA=/work/shared/data/binance/klines
if [ -f "$DATA/ETHUSDT-1m-2022-08-14.csv" ]; then
    step "backtest on the real ETHUSDT archive (2022-08-14 and -15) with the same model"
    $ODEX backtest --model "$OUT/models/demo.odex" \
        --data "$DATA/ETHUSDT-1m-2022-08-14.csv" --data "$DATA/ETHUSDT-1m-2022-08-15.csv" \
        --out "$OUT/backtest-ethusdt"
fi

step "odex-sim: a local Binance venue (market streams, WebSocket API, REST) on 127.0.0.1"
SIM_PID=""
trap '[ -n "$SIM_PID" ] && kill "$SIM_PID" 2>/dev/null || true' EXIT
# synthetic OU market at 300x (a 1m bar every 0.2 s); the Binance docs' example HMAC key
$SIM --port 0 --doc-example-key --speed 300 --seed "$SEED" --duration $((4 * TRADE_SECS + 120)) \
    >"$OUT/sim.out" 2>"$OUT/sim.log" &
SIM_PID=$!
for _ in $(seq 50); do grep -q listening "$OUT/sim.out" 2>/dev/null && break; sleep 0.1; done
PORT=$(sed -n 's/.*127\.0\.0\.1:\([0-9]*\).*/\1/p' "$OUT/sim.out" | head -1)
[ -n "$PORT" ] || { echo "odex-sim did not start: $(cat "$OUT/sim.log")" >&2; exit 1; }
echo "odex-sim listening on 127.0.0.1:$PORT"

write_config() { # mode, file
    local keys=""
    [ "$1" = live ] && keys='[keys]
kind = "hmac"
api_key_env = "ODEX_DEMO_API_KEY"
secret_env = "ODEX_DEMO_SECRET"'
    cat >"$2" <<EOF
# written by scripts/demo.sh: odex run against the local odex-sim
mode = "$1"
[endpoints]
market_stream = "ws://127.0.0.1:$PORT/stream"
ws_api = "ws://127.0.0.1:$PORT/ws-api/v3"
rest = "http://127.0.0.1:$PORT"
allow_plain_loopback = true
[[symbols]]
name = "ETHUSDT"
base = "ETH"
quote = "USDT"
[model]
file = "models/demo.odex"
$keys
[risk]
capital = "10000"
max_position = "2"
max_notional = "8000"
max_orders_per_sec = 5.0
order_burst = 5
max_open_orders = 4
price_band_bps = 50
stop_loss_bps = 200
take_profit_bps = 400
drawdown_reduce_bps = 500
drawdown_halt_bps = 1000
stale_data_ms = 5000
[orders]
type = "limit"
timeout_ms = 3000
client_id_prefix = "demo"
[journal]
path = "$1.journal"
fsync = "interval"
fsync_interval_ms = 50
[metrics]
listen = "127.0.0.1:0"
EOF
}
write_config paper "$OUT/paper.toml"
write_config live "$OUT/live.toml"
# the Binance documentation's example key pair, which odex-sim accepts
export ODEX_DEMO_API_KEY=vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A
export ODEX_DEMO_SECRET=NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j

step "paper trading for ${TRADE_SECS}s: market data from odex-sim, fills from the backtester's venue model"
$ODEX check-config "$OUT/paper.toml"
$ODEX run --config "$OUT/paper.toml" --duration "${TRADE_SECS}s" --progress 10s \
    --summary-json "$OUT/paper-summary.json"

step "live trading for ${TRADE_SECS}s: HMAC-signed orders over odex-sim's WebSocket API, fills from its ledger"
$ODEX check-config "$OUT/live.toml"
$ODEX run --config "$OUT/live.toml" --duration "${TRADE_SECS}s" --progress 10s \
    --summary-json "$OUT/live-summary.json"
kill "$SIM_PID" 2>/dev/null || true
SIM_PID=""

step "summary"
python3 - "$OUT" <<'PY'
import json, sys, pathlib
out = pathlib.Path(sys.argv[1])
card = json.loads((out / "models/demo.json").read_text())
print(f"model        {out}/models/demo.odex  (card: {out}/models/demo.json)")
print(f"  trained {card['epochs_run']} epochs (best {card['best_epoch']}), seed {card['seed']}, device {card['device']}")
for m in card["metrics"]:
    print(f"  {m['part']:<11} MSE {m['mse']:.4f}  hit rate {m['hit_rate']:.3f}  correlation {m['correlation']:.3f}  ({m['windows']} windows)")
for name in ("backtest-synthetic", "backtest-oracle", "backtest-ethusdt"):
    p = out / name / "summary.json"
    if not p.exists():
        continue
    s = json.loads(p.read_text())
    st, bh = s["strategy"], s["buy_and_hold"]
    print(f"{name:<20} PnL {s['pnl']} (fees {s['fees']}), {s['orders']} orders, {s['fills']} fills, "
          f"Sharpe {st['sharpe']:.2f} vs buy & hold {bh['sharpe']:.2f}, max drawdown {100 * st['max_drawdown']:.1f}%")
for mode in ("paper", "live"):
    p = out / f"{mode}-summary.json"
    if not p.exists():
        continue
    s = json.loads(p.read_text())
    us = lambda k: s[k] / 1e3
    print(f"odex run {mode:<6} {s['seconds']:.0f} s: PnL realised {s['realised_pnl']} unrealised {s['unrealised_pnl']} "
          f"fees {s['fees']} -> equity {s['equity']}; {s['market_events']} events, {s['orders']} orders, "
          f"{s['fills']} fills, {s['rejects']} rejects")
    print(f"  tick-to-order p50 {us('tick_to_order_p50_ns'):.1f} us, p99 {us('tick_to_order_p99_ns'):.1f} us, "
          f"p99.9 {us('tick_to_order_p999_ns'):.1f} us, max {us('tick_to_order_max_ns'):.1f} us "
          f"({s['tick_to_order_count']} orders); hot-path allocations {s['hot_path_allocations']}; "
          f"peak RSS {s['peak_rss_kib'] / 1024:.1f} MiB; journal {s['journal']}")
model_bt, oracle_bt = out / "backtest-synthetic/summary.json", out / "backtest-oracle/summary.json"
if model_bt.exists() and oracle_bt.exists():
    ms = json.loads(model_bt.read_text())["strategy"]["sharpe"]
    os_ = json.loads(oracle_bt.read_text())["strategy"]["sharpe"]
    print(f"model vs oracle out of sample after fees: Sharpe {ms:.2f} / {os_:.2f} = {100 * ms / os_:.0f}% of the oracle's")
    print("  (the general-purpose demo model; trainer/config/ou-model.toml, made for a mean-reverting price,")
    print("   reaches >= 80% of the oracle: tests/tests/train_export_backtest.rs)")
print(f"reports      {out}/reports/demo/ (loss, trajectories, returns: SVG + CSV)")
print(f"backtests    {out}/backtest-*/report.html (metrics, baselines, regimes, equity and drawdown plots)")
PY
