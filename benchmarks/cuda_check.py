"""DEVICE=cuda check (issue 'Performance'): the core jobs on a CUDA GPU, compared with the CPU path.

QGIS-free (rasterio + torch only), so it runs on a GPU machine without QGIS or GDAL's Python
bindings. Labels are exported beforehand on a machine with GDAL:

    .venv/bin/python benchmarks/cuda_check.py --export-labels DIR/potsdam_labels.npz
    python3 benchmarks/cuda_check.py --data DIR --labels DIR/potsdam_labels.npz --out OUT

On Potsdam VNIR + SWIR it runs, with DEVICE=cuda:
1. the pretraining job (``run_pretraining``: train, save checkpoint, HTML report) with float32
   and with bfloat16 autocast, and the paper default (100 epochs over every valid pixel);
2. the fusion classifier from those weights on 5 % of the labels, OA on the rest;
3. ``classify_raster`` on cuda and on cpu with the same model: codes, confidence and dense logits
   compared pixel by pixel; the checkpoint saved from cuda reloads on CPU with weights_only.
Writes OUT/cuda_check.json and prints a Markdown summary.
"""

import argparse
import json
import os
import sys
import time
from collections import namedtuple

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from plugin_path import ROOT  # noqa: E402,F401  (makes multimodal_siamese importable)

from multimodal_siamese.core.learn import finetune, predict, pretraining  # noqa: E402
from multimodal_siamese.core.io.inputs import GridOptions, prepare  # noqa: E402
from multimodal_siamese.core.jobs.pretrain_run import run_pretraining  # noqa: E402
from multimodal_siamese.core.progress import Progress  # noqa: E402
from multimodal_siamese.core.io.raster import ModalityInput  # noqa: E402
from multimodal_siamese.models.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from multimodal_siamese.models.network import FusionClassifier  # noqa: E402

POTSDAM = os.path.join(ROOT, "..", "shared", "data", "potsdam")
Class = namedtuple("Class", "code value name color")  # what classify_raster needs of a ClassInfo


class Printer(Progress):
    def info(self, text):
        print(text, flush=True)


def potsdam_scene():
    """Potsdam's normalised VNIR + SWIR arrays, valid mask and labelled pixels rasterised on the
    aligned grid (needs GDAL's Python bindings)."""
    from multimodal_siamese.core.io.labels import read_label_features, rasterize_labels

    prepared = prepare(modalities(POTSDAM), GridOptions())
    try:
        arrays, valid = prepared.read()
        samples = rasterize_labels(read_label_features(
            os.path.join(POTSDAM, "landcover_potsdam_samples.gpkg"), "class_id"), prepared.stack.grid, valid)
    finally:
        prepared.close()
    return arrays, valid, samples


def export_labels(path):
    """The Potsdam samples on the aligned grid, for the GPU machine (which has no GDAL)."""
    _, _, samples = potsdam_scene()
    np.savez(path, rows=samples.rows, cols=samples.cols, class_index=samples.class_index,
             codes=np.array([c.code for c in samples.classes]))
    print(f"{len(samples.rows)} labelled pixels, {len(samples.classes)} classes -> {path}")


def modalities(folder):
    return [ModalityInput("HYPERSPECTRAL", os.path.join(folder, "enmap_potsdam_vnir.vrt")),
            ModalityInput("MULTISPECTRAL", os.path.join(folder, "enmap_potsdam_swir.vrt"))]


def timed_pretraining(prepared, out, name, device, **settings):
    config = pretraining.PretrainConfig(seed=42, device=device, **settings)
    started = time.perf_counter()
    metadata = run_pretraining(prepared, config, os.path.join(out, f"{name}.pt"),
                               os.path.join(out, f"{name}.html"), Printer())
    seconds = time.perf_counter() - started
    samples = config.epochs * min(config.samples_per_epoch, metadata["valid_pixels"])
    return {"epochs": config.epochs, "samples_per_epoch": config.samples_per_epoch,
            "precision": metadata["precision_used"], "device": metadata["device_used"],
            "seconds": seconds, "samples_per_second": samples / seconds,
            "first_loss": metadata["loss_history"][0], "last_loss": metadata["loss_history"][-1],
            "last_zstd": metadata["zstd_history"][-1], "collapsed": metadata["collapsed"]}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=POTSDAM)
    parser.add_argument("--labels")
    parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "out"))
    parser.add_argument("--export-labels")
    parser.add_argument("--paper-epochs", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=20, help="epochs of the float32/bfloat16 comparison")
    parser.add_argument("--device", default="cuda", help="cpu only for a dry run of this script")
    args = parser.parse_args()
    if args.export_labels:
        return export_labels(args.export_labels)
    device = args.device
    if device == "cuda" and not torch.cuda.is_available():
        sys.exit("No CUDA GPU visible to torch: this check needs one.")
    os.makedirs(args.out, exist_ok=True)
    report = {"gpu": torch.cuda.get_device_name(0) if device == "cuda" else "none (dry run on cpu)",
              "torch": torch.__version__, "device": device}
    prepared = prepare(modalities(args.data), GridOptions())
    arrays, valid = prepared.read()
    n_valid = int(valid.sum())

    # 1. Pretraining jobs on cuda.
    runs = report["pretraining"] = {}
    for precision in ("float32", "bfloat16"):
        runs[f"{precision}, {args.epochs} epochs"] = timed_pretraining(
            prepared, args.out, f"pre_{precision}", device, epochs=args.epochs, samples_per_epoch=n_valid,
            precision=precision)
    runs[f"paper default (auto, {args.paper_epochs} epochs)"] = timed_pretraining(
        prepared, args.out, "pre_paper", device, epochs=args.paper_epochs, samples_per_epoch=n_valid,
        precision="auto")
    single = prepare(modalities(args.data)[:1], GridOptions())  # one modality: augmented views
    runs["VNIR only (two augmented views), 3 epochs"] = timed_pretraining(
        single, args.out, "pre_single", device, epochs=3, samples_per_epoch=n_valid, precision="auto")
    single.close()

    # 2. Classifier on cuda from the paper-default weights, 5 % of each class.
    labels = np.load(args.labels)
    rows, cols, y = labels["rows"], labels["cols"], labels["class_index"]
    rng = np.random.default_rng(0)
    train = np.concatenate([rng.choice(np.flatnonzero(y == k), max(1, round(0.05 * (y == k).sum())),
                                       replace=False) for k in np.unique(y)])
    test = np.setdiff1d(np.arange(len(y)), train)
    pretrained = load_checkpoint(os.path.join(args.out, "pre_paper.pt"), expected_kind="pretrained")
    n_classes = len(labels["codes"])
    started = time.perf_counter()
    result = finetune.train_classifier(arrays, rows[train], cols[train], y[train], n_classes,
                                       finetune.ClassifierConfig(device=device, seed=0),
                                       pretrained["state_dict"], pretrained["metadata"]["architecture"],
                                       Printer())
    train_seconds = time.perf_counter() - started
    predicted, _ = finetune.predict_samples(result.model, arrays, rows[test], cols[test], device=device)
    report["classifier"] = {"device": result.device, "train_pixels": int(len(train)),
                            "test_pixels": int(len(test)), "seconds": train_seconds,
                            "oa_random_split": float((predicted == y[test]).mean())}

    # 3. Save from the device, reload on CPU (weights only), classify on both devices and compare.
    model_path = os.path.join(args.out, "classifier.pt")
    save_checkpoint(model_path, "classifier", result.model.state_dict(),
                    {"architecture": result.model.architecture()})
    loaded = load_checkpoint(model_path, expected_kind="classifier")
    model = FusionClassifier.from_architecture(loaded["metadata"]["architecture"])
    model.load_state_dict(loaded["state_dict"])
    classes = [Class(int(c), int(c), f"class {c}", "#%06x" % (int(c) * 2654435 % 0xFFFFFF))
               for c in labels["codes"]]
    maps = {}
    for name, where in (("device", device), ("cpu", "cpu")):
        path = os.path.join(args.out, f"map_{name}.tif")
        started = time.perf_counter()
        predict.classify_raster(model, prepared, classes, path, path.replace(".tif", "_conf.tif"),
                                device=where)
        maps[name] = (time.perf_counter() - started, *read_map(path))
    codes_equal = float((maps["device"][1] == maps["cpu"][1]).mean())
    confidence_diff = float(np.abs(maps["device"][2] - maps["cpu"][2]).max())
    report["classify"] = {"seconds_device": maps["device"][0], "seconds_cpu": maps["cpu"][0],
                          "codes_equal_fraction": codes_equal, "max_abs_confidence_diff": confidence_diff,
                          "max_abs_logit_diff": dense_logit_difference(model, arrays, device)}
    prepared.close()
    with open(os.path.join(args.out, "cuda_check.json"), "w") as f:
        json.dump(report, f, indent=2)
    text = markdown(report)
    with open(os.path.join(args.out, "cuda_check.md"), "w") as f:
        f.write(f"# DEVICE=cuda check\n\nDate: {time.strftime('%Y-%m-%d')}. Command: "
                f"`python3 benchmarks/cuda_check.py {' '.join(sys.argv[1:])}` (Potsdam VNIR + SWIR, "
                f"18,432 valid px; labels exported with `--export-labels`).\n\n{text}\n")
    print(text)


def read_map(path):
    import rasterio

    with rasterio.open(path) as codes, rasterio.open(path.replace(".tif", "_conf.tif")) as confidence:
        return codes.read(1), confidence.read(1)


@torch.inference_mode()
def dense_logit_difference(model, arrays, device):
    """Max |logit(device) − logit(cpu)| of one dense pass over the whole (reflect-padded) grid."""
    halo = model.architecture()["patch_size"] // 2
    padded = [np.pad(a, ((0, 0), (halo, halo), (halo, halo)), mode="reflect") for a in arrays]
    logits = {}
    for name, where in (("device", device), ("cpu", "cpu")):
        fast = model.to(where).inference_copy()
        inputs = [torch.from_numpy(a)[None].to(where).contiguous(memory_format=torch.channels_last)
                  for a in padded]
        with predict.full_float32(where):
            logits[name] = fast.forward_dense_folded(inputs).cpu()
    return float((logits["device"] - logits["cpu"]).abs().max())


def markdown(report):
    lines = [f"GPU: {report['gpu']}, torch {report['torch']}, device {report['device']}.", "",
             "| pretraining | precision | seconds | samples/s | loss first → last | z-std | collapsed |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, r in report["pretraining"].items():
        lines.append(f"| {name} | {r['precision']} | {r['seconds']:.1f} | {r['samples_per_second']:,.0f} | "
                     f"{r['first_loss']:.3f} → {r['last_loss']:.3f} | {r['last_zstd']:.4f} | {r['collapsed']} |")
    c, k = report["classifier"], report["classify"]
    lines += ["", f"Classifier on {c['device']}: {c['train_pixels']} training px (5 %), {c['seconds']:.1f} s, "
              f"OA {100 * c['oa_random_split']:.1f} % on {c['test_pixels']} px (random split).",
              f"classify_raster: {report['device']} {k['seconds_device']:.2f} s, cpu {k['seconds_cpu']:.2f} s; codes equal at "
              f"{100 * k['codes_equal_fraction']:.3f} % of pixels; max |Δconfidence| {k['max_abs_confidence_diff']:.2e}; "
              f"max |Δlogit| (dense, whole grid, {report['device']} vs cpu) {k['max_abs_logit_diff']:.2e}."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
