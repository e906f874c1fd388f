#!/usr/bin/env bash
# Proves the runtime's dependency tree (normal and build) has no LibTorch.
set -euo pipefail
cd "$(dirname "$0")/.."
deps=$(cargo tree --locked -p odex-runtime -e normal,build --prefix none --format '{p}')
if grep -E '^(tch|torch-sys) ' <<<"$deps"; then
    echo "odex-runtime depends on LibTorch (see above): it must never" >&2
    exit 1
fi
echo "odex-runtime: $(sort -u <<<"$deps" | wc -l) crates, none of them tch or torch-sys"
