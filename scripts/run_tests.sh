#!/usr/bin/env bash
# Set up what is missing, check the import structure (lint-imports: layers, no cycles; docs/ARCHITECTURE.md), then
# run the test suite (Qt offscreen) on every core with pytest-xdist (CADDM_TEST_WORKERS=N to choose, 0 for one
# process). Extra arguments go to pytest.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/bootstrap.sh"
cd "$ROOT"
if ! out="$("$ROOT/.venv/bin/lint-imports" --no-cache 2>&1)"; then
    printf '%s\n' "$out" >&2
    echo "the import structure is broken: see the contracts in pyproject.toml and docs/ARCHITECTURE.md" >&2
    exit 1
fi
export QT_QPA_PLATFORM="${QT_QPA_PLATFORM:-offscreen}"
exec "$ROOT/.venv/bin/python" -m pytest -n "${CADDM_TEST_WORKERS:-auto}" --dist loadgroup "$@"
