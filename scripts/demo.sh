#!/usr/bin/env bash
# The main job on the embedded default: seeded synthetic data -> train the
# hybrid ODE with LibTorch -> export -> backtest out of sample on the
# simulated venue (fees, slippage, latency) -> summary. Also backtests the
# bundled real ETHUSDT days. Everything lands in out/demo/.
#
# Environment: BARS (training bars, default 20000), EPOCHS (default: the
# config's), SEED (default 7).
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

DATA=../shared/data/binance/klines
if [ -f "$DATA/ETHUSDT-1m-2022-08-14.csv" ]; then
    step "backtest on the real ETHUSDT archive (2022-08-14 and -15) with the same model"
    $ODEX backtest --model "$OUT/models/demo.odex" \
        --data "$DATA/ETHUSDT-1m-2022-08-14.csv" --data "$DATA/ETHUSDT-1m-2022-08-15.csv" \
        --out "$OUT/backtest-ethusdt"
fi

step "summary"
python3 - "$OUT" <<'PY'
import json, sys, pathlib
out = pathlib.Path(sys.argv[1])
card = json.loads((out / "models/demo.json").read_text())
print(f"model        {out}/models/demo.odex  (card: {out}/models/demo.json)")
print(f"  trained {card['epochs_run']} epochs (best {card['best_epoch']}), seed {card['seed']}, device {card['device']}")
for m in card["metrics"]:
    print(f"  {m['part']:<11} MSE {m['mse']:.4f}  hit rate {m['hit_rate']:.3f}  correlation {m['correlation']:.3f}  ({m['windows']} windows)")
for name in ("backtest-synthetic", "backtest-ethusdt"):
    p = out / name / "summary.json"
    if not p.exists():
        continue
    s = json.loads(p.read_text())
    st, bh = s["strategy"], s["buy_and_hold"]
    print(f"{name:<20} PnL {s['pnl']} (fees {s['fees']}), {s['orders']} orders, {s['fills']} fills, "
          f"Sharpe {st['sharpe']:.2f} vs buy & hold {bh['sharpe']:.2f}, max drawdown {100 * st['max_drawdown']:.1f}%")
print(f"reports      {out}/reports/demo/ (loss, trajectories, returns: SVG + CSV)")
PY
