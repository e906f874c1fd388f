#!/usr/bin/env bash
# Wire-to-wire latency: odex run vs the TCP floor vs a tokio baseline.
# Builds the release binaries once, then runs the harness; arguments go to
# it (e.g. --quick, --ticks 20000, --no-tls, --json out.json). See
# benches/LATENCY.md. Never add -C target-cpu=native (see PERF-NOTES).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p odex-runtime -p odex-benches --bins
exec target/release/latency_harness "$@"
