#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, docs, the no_std
# and no-LibTorch guarantees, then every test in the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

# clippy, doc and the test build each resolve features differently, so cargo
# runs torch-sys's build script (4 minutes of C++) once per kind of command.
# With ccache, only the first one compiles.
if command -v ccache >/dev/null && [ -z "${CXX:-}" ]; then
    export CC="ccache gcc" CXX="ccache g++"
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "docs (warnings are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked

step "odex-shared is no_std and allocation-free"
scripts/check-no-std.sh

step "odex-runtime does not depend on LibTorch"
scripts/check-runtime-deps.sh

step "tests"
# The third-party client test pip-installs binance-connector; CI has PyPI, so
# a missing install is a failure there, not a skip.
export ODEX_REQUIRE_THIRD_PARTY=${ODEX_REQUIRE_THIRD_PARTY:-1}
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --locked --no-fail-fast
else
    cargo test --workspace --locked --no-fail-fast --lib --bins --tests
fi
# nextest does not run doc tests
cargo test --workspace --doc --locked
