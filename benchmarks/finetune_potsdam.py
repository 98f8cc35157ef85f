"""Fine-tuning on Potsdam VNIR + SWIR, 5 % labels, spatially blocked folds.

Chooses the classifier's automatic learning rates and checks that dense pretraining (float32 and
bfloat16 autocast) is as good as the straightforward per-patch loop. Pretrains each way once
(cached in benchmarks/out/), then
for each fold trains the fusion classifier from random and pretrained weights at several rates,
with a pixel random forest as the reference. Run:

    .venv/bin/python benchmarks/finetune_potsdam.py [--folds 3]
"""

import argparse
import os
import platform
import time

import numpy as np
import torch
from scipy.ndimage import binary_dilation
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score

from plugin_path import ROOT  # noqa: E402  (makes multimodal_siamese importable)

from multimodal_siamese.core.learn import finetune, pretraining
from multimodal_siamese.core.io import labels, raster  # noqa: E402
from multimodal_siamese.core.progress import Progress  # noqa: E402

DATA = os.path.join(ROOT, "..", "shared", "data", "potsdam")
OUT = os.path.join(ROOT, "benchmarks", "out")
BLOCK = 16      # spatial block side (px) for the folds
BUFFER = 6      # = PATCH_SIZE // 2: no training pixel's patch reaches a test pixel
FRACTION = 0.05
# Pretraining variants: name -> (dense, precision).
PRETRAININGS = {"patch": (False, "float32"), "dense": (True, "float32"), "dense-bf16": (True, "bfloat16")}
RUNS = [("random", 5e-4), ("patch-pretrained", 1e-4), ("dense-pretrained", 1e-4),
        ("dense-bf16-pretrained", 1e-4)]
PRETRAIN_EPOCHS, PRETRAIN_SAMPLES = 12, 8192


class Printer(Progress):
    def info(self, text):
        print(text, flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--folds", type=int, default=3)
    args = parser.parse_args()
    os.makedirs(OUT, exist_ok=True)
    stack = raster.AlignedStack.open([
        raster.ModalityInput("HYPERSPECTRAL", os.path.join(DATA, "enmap_potsdam_vnir.vrt")),
        raster.ModalityInput("MULTISPECTRAL", os.path.join(DATA, "enmap_potsdam_swir.vrt"))])
    stats, _ = raster.scan(stack)
    arrays, valid = raster.read_normalised(stack, stats)
    samples = labels.rasterize_labels(labels.read_label_features(
        os.path.join(DATA, "landcover_potsdam_samples.gpkg"), "class_id"), stack.grid, valid)
    pretrained, pretrain_seconds = {}, {}
    for mode, (dense, precision) in PRETRAININGS.items():
        cached = os.path.join(OUT, f"potsdam_pretrained_{mode}_{PRETRAIN_EPOCHS}x{PRETRAIN_SAMPLES}.pt")
        if not os.path.exists(cached):
            started = time.time()
            result = pretraining.pretrain(arrays, valid, pretraining.PretrainConfig(
                epochs=PRETRAIN_EPOCHS, samples_per_epoch=PRETRAIN_SAMPLES, seed=42, objective="simsiam", dense=dense,
                precision=precision), Printer())
            torch.save(result.model.state_dict(), cached)
            pretrain_seconds[mode] = time.time() - started
        pretrained[f"{mode}-pretrained"] = torch.load(cached, weights_only=True)

    rows, cols, y = samples.rows, samples.cols, samples.class_index
    block = (rows // BLOCK) * 1000 + cols // BLOCK
    blocks = np.unique(block)
    features = np.concatenate([a[:, rows, cols].T for a in arrays], axis=1)
    scores = {}
    for fold in range(args.folds):
        rng = np.random.default_rng(fold)
        test_blocks = rng.permutation(blocks)[: len(blocks) // 5]
        test = np.flatnonzero(np.isin(block, test_blocks))
        near_test = np.zeros(valid.shape, bool)
        near_test[rows[test], cols[test]] = True
        near_test = binary_dilation(near_test, iterations=BUFFER)
        candidates = np.flatnonzero(~np.isin(block, test_blocks) & ~near_test[rows, cols])
        train = np.concatenate([
            rng.choice(members, max(1, round(FRACTION * len(members))), replace=False)
            for k in np.unique(y) if len(members := candidates[y[candidates] == k])])
        forest = RandomForestClassifier(300, n_jobs=2, random_state=0).fit(features[train], y[train])
        scores.setdefault("random forest", []).append(accuracy_score(y[test], forest.predict(features[test])))
        for init, lr in RUNS:
            config = finetune.ClassifierConfig(epochs=60, batch_size=64, learning_rate=lr, seed=fold)
            result = finetune.train_classifier(arrays, rows[train], cols[train], y[train], len(samples.classes),
                                               config, pretrained.get(init))
            predicted, _ = finetune.predict_samples(result.model, arrays, rows[test], cols[test])
            scores.setdefault(f"{init} lr {lr:g}", []).append(accuracy_score(y[test], predicted))
        print(f"fold {fold}: {len(train)} train / {len(test)} test px:",
              {k: round(v[-1], 3) for k, v in scores.items()}, flush=True)
    lines = [
        "# Fine-tuning — Potsdam VNIR + SWIR, 5 % labels, spatially blocked folds",
        "",
        f"Machine: {platform.node()} ({os.cpu_count()} CPU cores, {platform.processor() or platform.machine()}), "
        f"torch {torch.__version__}; date {time.strftime('%Y-%m-%d')}.",
        f"Command: `.venv/bin/python benchmarks/finetune_potsdam.py --folds {args.folds}`.",
        "Pretraining wall time (this run; absent = cached): "
        + (", ".join(f"{k} {v:.0f} s" for k, v in pretrain_seconds.items()) or "cached") + ".",
        "",
        f"Blocks of {BLOCK}×{BLOCK} px, one fifth of them test; training pixels are drawn ({FRACTION:.0%} "
        f"per class) only outside a {BUFFER}-px buffer around test pixels, so no training patch overlaps "
        f"a test pixel. Pretraining: simsiam, {PRETRAIN_EPOCHS} epochs × {PRETRAIN_SAMPLES:,} samples, batch 512, "
        "lr 0.002, per patch, dense on 8×8 crops, or dense with bfloat16 autocast. "
        "Classifier: 60 epochs, batch 64, AdamW, flips/rotations.",
        "",
        "| method | OA mean | OA std | per fold |",
        "| --- | --- | --- | --- |",
    ]
    for name, values in scores.items():
        lines.append(f"| {name} | {100 * np.mean(values):.1f} % | {100 * np.std(values):.1f} | "
                     + ", ".join(f"{100 * v:.1f}" for v in values) + " |")
    mean = {name: 100 * np.mean(values) for name, values in scores.items()}
    lines += ["", "Differences of mean OA (points): "
              + "; ".join(f"{a} − {b}: {mean[a] - mean[b]:+.1f}" for a, b in [
                  ("dense-pretrained lr 0.0001", "random lr 0.0005"),
                  ("dense-pretrained lr 0.0001", "patch-pretrained lr 0.0001"),
                  ("dense-bf16-pretrained lr 0.0001", "dense-pretrained lr 0.0001"),
                  ("dense-bf16-pretrained lr 0.0001", "random forest")]) + "."]
    text = "\n".join(lines) + "\n"
    print(text)
    with open(os.path.join(ROOT, "benchmarks", "results", "finetune_potsdam.md"), "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
