#!/usr/bin/env bash
# Installs what odex needs on a fresh machine, and nothing twice:
#   - a project-local virtualenv `.venv` with PyTorch 2.13.0 from PyPI
#     (LibTorch for the trainer; `tch` 0.26 needs exactly this version),
#   - the link `.venv/libtorch` that `.cargo/config.toml` points LIBTORCH at.
# The runtime never needs any of it: `cargo build -p odex-runtime` works on a
# machine with no Python at all.
set -euo pipefail
cd "$(dirname "$0")/.."

TORCH_VERSION=2.13.0
say() { printf '\033[1m[bootstrap]\033[0m %s\n' "$*"; }

command -v cargo >/dev/null || { echo "cargo not found: install Rust 1.95 (https://rustup.rs)" >&2; exit 1; }
PYTHON=${PYTHON:-python3}
command -v "$PYTHON" >/dev/null || { echo "python3 not found: needed once, to install LibTorch" >&2; exit 1; }

if [ ! -x .venv/bin/python ]; then
    say "creating .venv"
    "$PYTHON" -m venv .venv
fi

have=$(.venv/bin/python -c 'import torch; print(torch.__version__.split("+")[0])' 2>/dev/null || true)
if [ "$have" != "$TORCH_VERSION" ]; then
    say "installing torch==$TORCH_VERSION into .venv (about 4.7 GB, a minute or two)"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check "torch==$TORCH_VERSION"
fi

torch_dir=$(.venv/bin/python -c 'import os, torch; print(os.path.dirname(torch.__file__))' 2>/dev/null)
if [ "$(readlink .venv/libtorch 2>/dev/null)" != "$torch_dir" ]; then
    ln -sfn "$torch_dir" .venv/libtorch
fi
say "LibTorch $TORCH_VERSION ready at .venv/libtorch"
