#!/usr/bin/env bash
# Set up what is missing, then run the test suite (Qt offscreen). Extra arguments go to pytest.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/bootstrap.sh"
cd "$ROOT"
export QT_QPA_PLATFORM="${QT_QPA_PLATFORM:-offscreen}"
exec "$ROOT/.venv/bin/python" -m pytest "$@"
