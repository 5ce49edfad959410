#!/usr/bin/env bash
# Runs the python-libmaas compatibility suite against IRONPOOL_BIN.
#
#   IRONPOOL_BIN=target/debug/ironpool compat-tests/python/run.sh [pytest args...]
#
# Idempotent: the venv (compat-tests/python/.venv) is built on first use and
# rebuilt only when requirements.txt changes (its sha256 is kept in .stamp).
# Exits with pytest's exit code.
set -euo pipefail

# --venv-only: build (or reuse) the venv and stop; test.sh does this before
# `cargo test` so the qemu end-to-end test can read results through libmaas.
venv_only=0
if [[ "${1:-}" == --venv-only ]]; then
    venv_only=1
    shift
fi

if [[ $venv_only == 0 && -z "${IRONPOOL_BIN:-}" ]]; then
    echo "run.sh: set IRONPOOL_BIN to a built ironpool binary, e.g." >&2
    echo "  IRONPOOL_BIN=target/debug/ironpool $0" >&2
    exit 2
fi
if [[ $venv_only == 0 ]]; then
    # pytest runs from this script's directory; make a relative path absolute first.
    [[ "$IRONPOOL_BIN" == /* ]] || IRONPOOL_BIN="$PWD/$IRONPOOL_BIN"
    export IRONPOOL_BIN
    if [[ ! -x "$IRONPOOL_BIN" ]]; then
        echo "run.sh: IRONPOOL_BIN=$IRONPOOL_BIN is not an executable file" >&2
        exit 2
    fi
fi

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

# python-libmaas 0.6.8 imports distutils, which Python 3.12 removed.
pick_python() {
    local c
    for c in "${PYTHON:-}" python3 python3.11 python3.10 python3.9 python3.8; do
        [[ -n "$c" ]] && command -v "$c" >/dev/null 2>&1 || continue
        if "$c" -c 'import sys; sys.exit(0 if (3, 8) <= sys.version_info[:2] <= (3, 11) else 1)'; then
            echo "$c"
            return 0
        fi
    done
    return 1
}

want="$(sha256sum requirements.txt | cut -d' ' -f1)"
have="$(cat .stamp 2>/dev/null || true)"
if [[ ! -x .venv/bin/python || "$want" != "$have" ]]; then
    py="$(pick_python)" || {
        echo "run.sh: need Python 3.8-3.11 for python-libmaas 0.6.8 (set PYTHON=...)" >&2
        exit 2
    }
    echo "run.sh: building .venv with $py ($("$py" --version 2>&1))" >&2
    rm -rf .venv .stamp
    "$py" -m venv .venv
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
    echo "$want" > .stamp
else
    echo "run.sh: reusing .venv (requirements unchanged)" >&2
fi

[[ $venv_only == 0 ]] || exit 0

set +e
.venv/bin/python -m pytest -q -W ignore::DeprecationWarning "$@"
rc=$?
set -e
exit "$rc"
