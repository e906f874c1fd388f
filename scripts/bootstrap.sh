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
    # PyTorch takes 4.7 GiB once installed, pip holds about 3 GiB of wheels
    # in TMPDIR while it unpacks them, and the cargo build that follows
    # fills target/ with about 4.5 GiB: say so before starting rather than
    # fail half-way through with ENOSPC. pip's wheel cache is skipped (it
    # would keep those 3 GiB for ever); set ODEX_PIP_CACHE=1 to keep it for
    # repeated set-ups.
    need_gib=10
    tmp_need_gib=3
    free_gib=$(( $(df -Pk . | awk 'NR == 2 { print $4 }') / 1024 / 1024 ))
    tmp_free_gib=$(( $(df -Pk "${TMPDIR:-/tmp}" | awk 'NR == 2 { print $4 }') / 1024 / 1024 ))
    if [ "$free_gib" -lt "$need_gib" ] || [ "$tmp_free_gib" -lt "$tmp_need_gib" ]; then
        echo "bootstrap: not enough disk space to install PyTorch and build odex:" >&2
        echo "  $(pwd): $free_gib GiB free, about $need_gib GiB needed (PyTorch 4.7 GiB, cargo's target/ about 4.5 GiB)" >&2
        echo "  ${TMPDIR:-/tmp}: $tmp_free_gib GiB free, $tmp_need_gib GiB needed while pip unpacks (set TMPDIR to use another place)" >&2
        exit 1
    fi
    cache_flag=--no-cache-dir
    [ "${ODEX_PIP_CACHE:-0}" = 1 ] && cache_flag=
    say "installing torch==$TORCH_VERSION into .venv (about 4.7 GB, a minute or two)"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check $cache_flag "torch==$TORCH_VERSION"
fi

torch_dir=$(.venv/bin/python -c 'import os, torch; print(os.path.dirname(torch.__file__))' 2>/dev/null)
if [ "$(readlink .venv/libtorch 2>/dev/null)" != "$torch_dir" ]; then
    ln -sfn "$torch_dir" .venv/libtorch
fi
say "LibTorch $TORCH_VERSION ready at .venv/libtorch"
