#!/usr/bin/env bash
# Proves odex-shared builds without std and without alloc (see
# shared/nostd-check/Cargo.toml for how).
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO_TARGET_DIR=target/nostd-check cargo build --locked --quiet --manifest-path shared/nostd-check/Cargo.toml
# The library must not even reference the allocator shims.
lib=target/nostd-check/debug/libodex_nostd_check.a
if nm "$lib" 2>/dev/null | grep -q ' U __rust_alloc\b'; then
    echo "odex-shared pulls in alloc: $lib references __rust_alloc" >&2
    exit 1
fi
echo "odex-shared: no_std and no alloc, proven by shared/nostd-check"
