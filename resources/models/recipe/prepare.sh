#!/usr/bin/env bash
# Data for the bundled default model, from the project's real material (../shared/data; research and unclear
# licences: read there, never copied into the repository). Usage: prepare.sh [SHARED_DATA] [WORK_DIR]
# Splits: 22 real clips (train) / 8 real clips held out (test); the FF++ Deepfakes fake 519_515 with its target
# 519 (train, paired MFS); the FF++ Face2Face fake 750_743 held out (test); 273 photos split 72/14/14 by name.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
S="${1:-$ROOT/../shared/data}"
W="${2:-$ROOT/out/default-model-v1}"
TRAIN_CLI=("$ROOT/.venv/bin/python" "$ROOT/train_cli.py")
HELD_OUT="d3 d13 s18 WDA_KatieHill_000 vretalk_face2 dflive_Obama_speaking short_hamilton_clip tpsmm_driving"
src="$W/src"; idx="$W/idx"
rm -rf "$src"; mkdir -p "$src"/{real_train,real_test,ff_fake,ff_src,ff_test_fake,photos}
for f in "$S"/videos/real/*.mp4; do
    n=$(basename "$f" .mp4)
    if [[ " $HELD_OUT " == *" $n "* ]]; then ln -s "$f" "$src/real_test/"; else ln -s "$f" "$src/real_train/"; fi
done
ln -s "$S/videos/ffpp/519_515.mp4" "$src/ff_fake/"; ln -s "$S/videos/ffpp/519.mp4" "$src/ff_src/"
ln -s "$S/videos/ffpp/750_743.mp4" "$src/ff_test_fake/"
for f in "$S"/faces/more/*; do ln -s "$f" "$src/photos/"; done
common=(--out "$idx" --workers 2 --image-format jpg --quiet)
"${TRAIN_CLI[@]}" prepare folder "$src/real_train" --label real --split train --frames 16 "${common[@]}"
"${TRAIN_CLI[@]}" prepare folder "$src/ff_fake" --label fake --source-of "$src/ff_src" --split train --frames 96 "${common[@]}"
"${TRAIN_CLI[@]}" prepare folder "$src/photos" --label real --split auto "${common[@]}"
"${TRAIN_CLI[@]}" prepare folder "$src/real_test" --label real --split test --frames 32 "${common[@]}"
"${TRAIN_CLI[@]}" prepare folder "$src/ff_test_fake" --label fake --split test --frames 32 "${common[@]}"
echo "index: $idx/index.json"
