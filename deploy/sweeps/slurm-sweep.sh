#!/usr/bin/env bash
# An odex-train sweep as a Slurm job array: one shard per task, then a merge.
#
#   deploy/sweeps/slurm-sweep.sh CONFIG DATA NAME OUT [SHARDS] [PARALLEL]
#
# Run on a login node, it submits itself as an array of SHARDS tasks
# (default 8; at most PARALLEL at once, default 4), task K running
#   odex-train sweep --config CONFIG --data DATA --name NAME --shard K/SHARDS
#       --models-dir OUT/shard-K/models --reports-dir OUT/shard-K/reports
# and a merge job that starts when every task succeeded (afterok) and runs
# merge-sweep.sh: OUT/sweep.csv (every trial, best first) and
# OUT/best/NAME.{odex,json}. OUT must be on a file system all nodes see.
# ODEX_TRAIN names the binary (default: odex-train on PATH). Resources are
# the #SBATCH lines below; set train.threads in CONFIG to --cpus-per-task.
#
#SBATCH --job-name=odex-sweep
#SBATCH --cpus-per-task=2
#SBATCH --mem=4G
#SBATCH --time=04:00:00
#SBATCH --output=odex-sweep-%A_%a.out
# For CUDA (train.device = "auto" uses a GPU LibTorch sees), remove one '#':
##SBATCH --gres=gpu:1
set -euo pipefail

if [[ -n ${SLURM_ARRAY_TASK_ID:-} ]]; then
  # One array task: shard K of N, K counted from the array's first index.
  k=$((SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN))
  n=$SWEEP_SHARDS
  echo "odex-sweep: shard $k/$n on $(hostname)"
  exec "${ODEX_TRAIN:-odex-train}" sweep \
    --config "$SWEEP_CONFIG" --data "$SWEEP_DATA" --name "$SWEEP_NAME" --shard "$k/$n" \
    --models-dir "$SWEEP_OUT/shard-$k/models" --reports-dir "$SWEEP_OUT/shard-$k/reports"
fi

usage="usage: slurm-sweep.sh CONFIG DATA NAME OUT [SHARDS] [PARALLEL]"
[[ $# -ge 4 && $# -le 6 ]] || { echo "$usage" >&2; exit 2; }
config=$(realpath -e "$1")
data=$(realpath -e "$2")
name=$3
out=$(realpath -m "$4")
shards=${5:-8}
parallel=${6:-4}
for v in "$shards" "$parallel"; do
  [[ $v =~ ^[1-9][0-9]*$ ]] || { echo "slurm-sweep.sh: SHARDS and PARALLEL must be positive integers, got '$v'" >&2; exit 2; }
done
[[ $name =~ ^[A-Za-z0-9._-]+$ ]] || { echo "slurm-sweep.sh: NAME must be [A-Za-z0-9._-], got '$name'" >&2; exit 2; }
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$out"

array=$(sbatch --parsable --array="0-$((shards - 1))%$parallel" \
  --export="ALL,SWEEP_CONFIG=$config,SWEEP_DATA=$data,SWEEP_NAME=$name,SWEEP_OUT=$out,SWEEP_SHARDS=$shards" \
  "$here/slurm-sweep.sh")
array=${array%%;*}  # --parsable prints JOBID[;CLUSTER]
merge=$(sbatch --parsable --dependency="afterok:$array" --job-name=odex-sweep-merge \
  --cpus-per-task=1 --mem=256M --time=00:10:00 --output="$out/merge-%j.out" \
  --wrap="$(printf '%q ' "$here/merge-sweep.sh" "$out" "$name" "$shards")")
merge=${merge%%;*}
echo "submitted array job $array ($shards shards, $parallel at a time) and merge job $merge"
echo "results: $out/sweep.csv and $out/best/$name.odex once job $merge ends"
