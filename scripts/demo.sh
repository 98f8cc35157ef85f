#!/usr/bin/env bash
# The main job on the embedded sample (Landsat-7 + SRTM of Olinda, Brazil, with the project's
# own labels): pretrain → trainclassifier → classify through scripts/qgis_process.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
OUT="$ROOT/demo_output"
DATA="$ROOT/data/stars/tif"
QP="$ROOT/scripts/qgis_process"
mkdir -p "$OUT"
start=$(date +%s)

step() { echo; echo "== $* ($(( $(date +%s) - start )) s)"; }

step "1/4 pretraining on unlabelled pixels (Landsat-7 ETM+ 6 bands + SRTM on its own 90 m grid)"
"$QP" run mmsiam:pretrain -- \
    MULTISPECTRAL="$DATA/L7_ETMs.tif" SAR="$DATA/olinda_dem_utm25s.tif" \
    EPOCHS=10 SAMPLES_PER_EPOCH=6144 SEED=42 \
    OUTPUT_MODEL="$OUT/pretrained.pt" OUTPUT_REPORT="$OUT/pretrain_report.html"

step "2/4 training the few-shot classifier on 180 labelled points (70 % train, 30 % validate)"
"$QP" run mmsiam:trainclassifier -- \
    MULTISPECTRAL="$DATA/L7_ETMs.tif" SAR="$DATA/olinda_dem_utm25s.tif" \
    LABELS="$ROOT/resources/sample/olinda_labels.gpkg" CLASS_FIELD=class_id CLASS_NAME_FIELD=class_name \
    PRETRAINED="$OUT/pretrained.pt" TRAIN_RATIO=0.7 EPOCHS=60 SEED=42 \
    OUTPUT_MODEL="$OUT/classifier.pt" OUTPUT_REPORT="$OUT/accuracy_report.html"

step "3/4 classifying the whole scene"
"$QP" run mmsiam:classify -- \
    MULTISPECTRAL="$DATA/L7_ETMs.tif" SAR="$DATA/olinda_dem_utm25s.tif" \
    MODEL="$OUT/classifier.pt" OUTPUT="$OUT/landcover.tif" OUTPUT_CONFIDENCE="$OUT/confidence.tif"

step "4/4 quick-look picture"
"$ROOT/.venv/bin/python" scripts/quicklook.py "$OUT/classifier.pt" "$OUT/landcover.tif" "$OUT/landcover.png"

echo
echo "Done in $(( $(date +%s) - start )) s. Results in $OUT:"
echo "  landcover.tif (+ landcover.qml style)  classified map: open it in QGIS, it is styled"
echo "  confidence.tif                         highest class probability per pixel"
echo "  accuracy_report.html (+ .json)         OA, kappa, mIoU, per-class figures, confusion matrix"
echo "  pretrain_report.html                   pretraining loss and collapse monitor"
echo "  landcover.png                          quick-look with legend"
echo "  pretrained.pt, classifier.pt           models (weights-only checkpoints)"
