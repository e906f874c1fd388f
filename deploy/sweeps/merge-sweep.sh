#!/usr/bin/env bash
# Merges the shards of `odex-train sweep --shard K/N` runs.
#
#   deploy/sweeps/merge-sweep.sh OUT NAME N
#
# Reads OUT/shard-K/reports/NAME/sweep.csv and OUT/shard-K/models/NAME.{odex,json}
# for K = 0..N-1 (the layout slurm-sweep.sh and k8s-sweep-job.yaml write).
# Writes OUT/sweep.csv: one header, then every trial, best (lowest
# validation, column 7) first and NaN rows last; and copies the best
# trial's model to OUT/best/NAME.odex and OUT/best/NAME.json.
# Fails when a shard's table is missing (a task that did not finish).
set -euo pipefail

usage="usage: merge-sweep.sh OUT NAME N"
out=${1:?$usage}
name=${2:?$usage}
shards=${3:?$usage}
[[ $shards =~ ^[1-9][0-9]*$ ]] || { echo "merge-sweep.sh: N must be a positive integer, got '$shards'" >&2; exit 2; }

tables=()
for ((k = 0; k < shards; k++)); do
  t="$out/shard-$k/reports/$name/sweep.csv"
  [[ -f $t ]] || { echo "merge-sweep.sh: shard $k/$shards has no table: $t" >&2; exit 1; }
  tables+=("$t")
done

header=$(head -n 1 "${tables[0]}")
for t in "${tables[@]}"; do
  [[ $(head -n 1 "$t") == "$header" ]] || { echo "merge-sweep.sh: $t: header differs from ${tables[0]}" >&2; exit 1; }
done

rows() { for t in "${tables[@]}"; do tail -n +2 "$t"; done; }
{
  printf '%s\n' "$header"
  rows | awk -F, '$7 != "NaN"' | sort -t, -k7,7g
  rows | awk -F, '$7 == "NaN"'
} > "$out/sweep.csv"

# the shard holding the best row: its own export is that trial's model
best_shard=$(for ((k = 0; k < shards; k++)); do
  tail -n +2 "${tables[k]}" | awk -F, -v k="$k" '$7 != "NaN" { print $7 "," k }'
done | sort -t, -k1,1g | head -n 1 | cut -d, -f2)
if [[ -z $best_shard ]]; then
  echo "merge-sweep.sh: no trial with a finite validation objective; nothing to keep" >&2
  exit 1
fi
mkdir -p "$out/best"
cp "$out/shard-$best_shard/models/$name.odex" "$out/shard-$best_shard/models/$name.json" "$out/best/"
trials=$(($(wc -l < "$out/sweep.csv") - 1))
echo "merged $trials trials from $shards shards into $out/sweep.csv"
echo "best: $(sed -n 2p "$out/sweep.csv") (shard $best_shard) -> $out/best/$name.odex"
