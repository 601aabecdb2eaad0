#!/usr/bin/env bash
# The main job: set up what is missing, then open the bundled sample videos in the desktop app with the bundled
# model. With no display it runs the same analysis headless (caddm-analyze) and prints where the report is.
# Extra arguments replace the sample videos (e.g. scripts/run_app.sh my_video.mp4).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ $# -gt 0 ]; then videos=("$@"); else videos=("$ROOT"/resources/samples/*.mp4); fi
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
    CADDM_NEED_X11=1 bash "$ROOT/scripts/bootstrap.sh"
    exec "$ROOT/.venv/bin/caddm-gui" "${videos[0]}"
fi
bash "$ROOT/scripts/bootstrap.sh"
out="$ROOT/out/sample-reports"
echo "No display found: running the analysis headless (caddm-analyze)." >&2
"$ROOT/.venv/bin/caddm-analyze" "${videos[@]}" --out "$out"
echo "Reports written under $out (open report.html or report.pdf in each folder)." >&2
