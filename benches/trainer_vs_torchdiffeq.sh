#!/usr/bin/env bash
# Per-epoch training time on CPU: odex-train vs PyTorch + torchdiffeq, same
# model (4 -> 32 -> 32 -> 4 Pade tanh, RK4, f64), same data (seeded synthetic
# OU, 20,000 bars), same epochs, one run. Prints the ratio (target: >= 2).
#
# odex-train's time per epoch is the difference between a long and a short
# fit divided by the difference in epochs (so loading, export and report
# cancel out); the Python script times its own training loop.
# torchdiffeq (and scipy/numpy, which it imports) are installed from PyPI
# into target/bench-trainer/pydeps; torch comes from the project's .venv.
#
# Usage: benches/trainer_vs_torchdiffeq.sh   (EPOCHS, BARS, THREADS, PYTHON, ODEX_TRAIN override)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work="$root/target/bench-trainer"
epochs=${EPOCHS:-20}
short=$(( epochs / 4 > 0 ? epochs / 4 : 1 ))
bars=${BARS:-20000}
threads=${THREADS:-1}
python=${PYTHON:-$root/.venv/bin/python}
mkdir -p "$work"

if [ -n "${ODEX_TRAIN:-}" ]; then
  bin=$ODEX_TRAIN   # a prebuilt binary (e.g. target/debug/odex-train)
else
  cargo build --release -p odex-trainer --bin odex-train
  bin="$root/target/release/odex-train"
fi
if [ ! -d "$work/pydeps/torchdiffeq" ]; then
  "$python" -m pip install --quiet --no-deps --target "$work/pydeps" torchdiffeq scipy numpy
fi

"$bin" synth --kind ou --bars "$bars" --seed 7 --out "$work/ou.csv" 2>/dev/null
sed -e 's/^name = "default"/name = "bench"/' -e "s/^threads = 1/threads = $threads/" \
  "$root/trainer/config/default-model.toml" > "$work/bench.toml"
printf '\n[split]\ntrain = 0.7\nvalidation = 0.15\n' >> "$work/bench.toml"
# no early stopping: every run does exactly the epochs asked for
sed -i 's/^\[train\]$/[train]\npatience = 0/' "$work/bench.toml"

fit() {
  local t0 t1
  t0=$(date +%s.%N)
  "$bin" fit --quiet --config "$work/bench.toml" --data "$work/ou.csv" --epochs "$1" \
    --models-dir "$work/models" --reports-dir "$work/reports" >/dev/null 2>&1
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | "$python" -c 'import sys; a,b=sys.stdin.read().split(" - "); print(float(a)-float(b))'
}
long_s=$(fit "$epochs")
short_s=$(fit "$short")
odex=$("$python" -c "print(($long_s - $short_s) / ($epochs - $short))")

py_out=$(PYTHONPATH="$work/pydeps" "$python" "$root/trainer/bench/torchdiffeq_baseline.py" \
  --data "$work/ou.csv" --epochs "$epochs" --threads "$threads" 2>/dev/null)
echo "$py_out" | head -1
torch_s=$(echo "$py_out" | awk '/seconds_per_epoch/ {print $2}')

"$python" - "$odex" "$torch_s" "$epochs" "$threads" <<'PY'
import sys
odex, torch, epochs, threads = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4]
print(f"epochs {epochs}, CPU threads {threads}")
print(f"odex-train           {odex * 1e3:10.2f} ms/epoch")
print(f"PyTorch+torchdiffeq  {torch * 1e3:10.2f} ms/epoch")
print(f"ratio (torchdiffeq / odex-train): {torch / odex:.2f}x")
PY
