"""Performance benchmarks (issue 'Performance'): ratios measured in one run on this machine.

1. Classification of a synthetic 3-modality scene (224, 12 and 4 bands): dense block-wise
   pixels/s against per-patch inference on a sample of pixels.
2. Peak resident memory of classification at several raster sizes (one subprocess each).
3. Pretraining on Potsdam VNIR + SWIR: samples/s of the per-patch loop and of dense training,
   model FLOP/s against this machine's fp32 matmul FLOP/s, and the share of step time spent
   gathering patches.

    .venv/bin/python benchmarks/performance.py [--sizes 1024 2048 4096] [--scene 2048]

Writes benchmarks/results/performance.md. Synthetic rasters are VRT mosaics of one random
256 px tile, so a 4096² scene costs no disk space.
"""

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

from plugin_path import ROOT  # noqa: E402  (makes multimodal_siamese importable)

from multimodal_siamese.core.learn import finetune, predict, pretraining
from multimodal_siamese.core.io import inputs, raster  # noqa: E402
from multimodal_siamese.core.io.labels import ClassInfo  # noqa: E402
from multimodal_siamese.core.progress import Progress  # noqa: E402
from multimodal_siamese.models.losses import multimodal_siamese_loss  # noqa: E402
from multimodal_siamese.models.network import FusionClassifier, MultimodalSiamese  # noqa: E402

BANDS = (224, 12, 4)
TILE = 256
CLASSES = [ClassInfo(k, k, f"class {k}", "#%02x%02x%02x" % (40 * k, 255 - 40 * k, 128)) for k in range(1, 7)]
POTSDAM = os.path.join(ROOT, "..", "shared", "data", "potsdam")


def synthetic_scene(folder: str, size: int) -> list:
    """One VRT per modality: a size² mosaic of a random int16 tile (EPSG:32633, 30 m)."""
    from osgeo import gdal

    paths = []
    rng = np.random.default_rng(0)
    for m, bands in enumerate(BANDS):
        tile = os.path.join(folder, f"tile_{m}.tif")
        if not os.path.exists(tile):
            ds = gdal.GetDriverByName("GTiff").Create(tile, TILE, TILE, bands, gdal.GDT_Int16,
                                                      ["TILED=YES", "COMPRESS=DEFLATE"])
            ds.SetGeoTransform((300000, 30, 0, 5800000, 0, -30))
            ds.SetProjection("EPSG:32633")
            for b in range(bands):
                ds.GetRasterBand(b + 1).WriteArray(rng.integers(0, 3000, (TILE, TILE), dtype=np.int16))
            ds = None
        vrt = os.path.join(folder, f"scene_{m}_{size}.vrt")
        sources = []
        for r in range(0, size, TILE):
            for c in range(0, size, TILE):
                sources.append(f'<SimpleSource><SourceFilename relativeToVRT="1">{os.path.basename(tile)}'
                               '</SourceFilename><SourceBand>{b}</SourceBand>'
                               f'<SrcRect xOff="0" yOff="0" xSize="{TILE}" ySize="{TILE}"/>'
                               f'<DstRect xOff="{c}" yOff="{r}" xSize="{TILE}" ySize="{TILE}"/></SimpleSource>')
        band_xml = "".join(
            f'<VRTRasterBand dataType="Int16" band="{b}">' + "".join(s.replace("{b}", str(b)) for s in sources)
            + "</VRTRasterBand>" for b in range(1, bands + 1))
        srs = gdal.Open(tile).GetProjection()
        with open(vrt, "w") as f:
            f.write(f'<VRTDataset rasterXSize="{size}" rasterYSize="{size}"><SRS>{srs}</SRS>'
                    f"<GeoTransform>300000, 30, 0, 5800000, 0, -30</GeoTransform>{band_xml}</VRTDataset>")
        paths.append(vrt)
    return paths


def prepared_scene(paths: list):
    """Inputs prepared as mmsiam:classify does (a model's stored normalisation, no full scan)."""
    saved = [{"slot": f"M{i}", "band_count": b, "kept_bands": list(range(1, b + 1)), "dropped_bands": [],
              "normalisation": {"center": [1500.0] * b, "scale": [800.0] * b}}
             for i, b in enumerate(BANDS)]
    mods = [raster.ModalityInput(f"M{i}", p) for i, p in enumerate(paths)]
    return inputs.prepare_like(mods, saved, inputs.GridOptions(), "benchmark model")


def classifier():
    torch.manual_seed(0)
    return FusionClassifier(list(BANDS), 13, len(CLASSES)).eval()


def classify_once(folder: str, size: int, memory_mb: int) -> dict:
    paths = synthetic_scene(folder, size)
    prepared = prepared_scene(paths)
    output = os.path.join(folder, f"map_{size}.tif")
    started = time.perf_counter()
    summary = predict.classify_raster(classifier(), prepared, CLASSES, output, memory_mb=memory_mb)
    seconds = time.perf_counter() - started
    prepared.close()
    return {"size": size, "seconds": seconds, "pixels_per_second": size * size / seconds,
            "block_size": summary["block_size"], "peak_rss_mb": peak_rss_mb()}


def train_once(folder: str, size: int, memory_mb: int) -> dict:
    """Pretraining (1 epoch) and classifier training (500 labelled points) on a synthetic scene
    through the jobs' core, within ``memory_mb``: peak RSS and seconds (run in a subprocess)."""
    from osgeo import ogr

    from multimodal_siamese.core.jobs import classifier_run, pretrain_run
    from multimodal_siamese.core.io.labels import LabelFeatures

    paths = synthetic_scene(folder, size)
    started = time.perf_counter()
    prepared = inputs.prepare([raster.ModalityInput(f"M{i}", p) for i, p in enumerate(paths)], inputs.GridOptions())
    scan_seconds = time.perf_counter() - started
    config = pretraining.PretrainConfig(epochs=1, samples_per_epoch=4096)
    started = time.perf_counter()
    meta = pretrain_run.run_pretraining(prepared, config, os.path.join(folder, f"pre_{size}.pt"), None,
                                        Progress(), memory_mb)
    pretrain_seconds = time.perf_counter() - started
    rng = np.random.default_rng(0)
    x, y = 300000 + 30 * (rng.random(500) * size), 5800000 - 30 * (rng.random(500) * size)
    wkbs = [bytes(ogr.CreateGeometryFromWkt(f"POINT ({a} {b})").ExportToWkb()) for a, b in zip(x, y)]
    labels = LabelFeatures(wkbs, [int(v) for v in rng.integers(1, 7, 500)], prepared.stack.grid.crs_wkt)
    started = time.perf_counter()
    classifier_run.train_and_save(prepared, labels, finetune.ClassifierConfig(epochs=2),
                                  os.path.join(folder, f"cls_{size}.pt"), train_ratio=0.8, memory_mb=memory_mb)
    train_seconds = time.perf_counter() - started
    prepared.close()
    return {"size": size, "scan_seconds": scan_seconds, "pretrain_seconds": pretrain_seconds,
            "train_seconds": train_seconds, "read_whole_scene": meta["read_whole_scene"],
            "peak_rss_mb": peak_rss_mb()}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def per_patch_rate(folder: str, size: int, n: int = 2048) -> float:
    """Per-patch inference (one 13×13 forward per pixel) on n pixels of a 512² window."""
    prepared = prepared_scene(synthetic_scene(folder, size))
    arrays, _ = prepared.read((0, 0, 512, 512))
    rng = np.random.default_rng(1)
    rows, cols = rng.integers(0, 512, n), rng.integers(0, 512, n)
    model = classifier()
    finetune.predict_samples(model, arrays, rows[:256], cols[:256])  # warm-up
    started = time.perf_counter()
    finetune.predict_samples(model, arrays, rows, cols)
    prepared.close()
    return n / (time.perf_counter() - started)


def matmul_flops(dtype=torch.float32) -> float:
    a, b = torch.randn(2048, 2048, dtype=dtype), torch.randn(2048, 2048, dtype=dtype)
    torch.mm(a, b)
    started = time.perf_counter()
    for _ in range(5):
        torch.mm(a, b)
    return 5 * 2 * 2048 ** 3 / (time.perf_counter() - started)


def potsdam_pretraining_inputs():
    with raster.AlignedStack.open([
            raster.ModalityInput("HYPERSPECTRAL", os.path.join(POTSDAM, "enmap_potsdam_vnir.vrt")),
            raster.ModalityInput("MULTISPECTRAL", os.path.join(POTSDAM, "enmap_potsdam_swir.vrt"))]) as stack:
        stats, _ = raster.scan(stack)
        return raster.read_normalised(stack, stats)


#: (label, dense, precision): the straightforward loop first, then what mmsiam:pretrain does.
TRAINING_FORMS = [("per-patch, float32", False, "float32"), ("dense, float32", True, "float32"),
                  ("dense, bfloat16 autocast", True, "bfloat16")]


def pretraining_rates(arrays, valid, steps: int = 12) -> dict:
    """Samples/s, model FLOP/s and gather share of the training forms on Potsdam: the same step
    as core.learn.pretraining (channels-last model for the dense forms, as there)."""
    from torch.utils.flop_counter import FlopCounterMode

    rows, cols = np.nonzero(valid)
    rng = np.random.default_rng(0)
    results = {}
    for label, dense, precision in TRAINING_FORMS:
        torch.manual_seed(0)
        model = MultimodalSiamese([a.shape[0] for a in arrays], 13)
        if dense:
            model.to(memory_format=torch.channels_last)
            source = pretraining.CropSource(arrays, valid, 13, 8)
            units = 8  # 8 crops of 8×8 = 512 pixel centres (minus invalid ones)
        else:
            source = pretraining.PatchSource(arrays, 13)
            units = 512
        optimizer = torch.optim.AdamW(model.parameters(), lr=0.002)

        def step(count_flops=False):
            pick = rng.integers(0, len(rows), units)
            t0 = time.perf_counter()
            if dense:
                x, mask = source.batch(rows[pick], cols[pick], "cpu")
                x = pretraining.channels_last(x)
            else:
                x = source.batch(rows[pick], cols[pick], "cpu")
            t1 = time.perf_counter()
            counter = FlopCounterMode(display=False) if count_flops else None
            if counter:
                counter.__enter__()
            with pretraining.autocast("cpu", precision):
                z, p = model.predict_positions(model.dense_maps(x), mask) if dense else model(x)
            loss = multimodal_siamese_loss([pk.float() for pk in p], [zk.float() for zk in z])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if counter:
                counter.__exit__(None, None, None)
            return t1 - t0, time.perf_counter() - t0, z[0].shape[0], counter.get_total_flops() if counter else 0

        step()  # warm-up
        flops_per_step = step(count_flops=True)[3]
        gather, total, samples = 0.0, 0.0, 0
        for _ in range(steps):
            g, t, n, _ = step()
            gather, total, samples = gather + g, total + t, samples + n
        results[label] = {"samples_per_second": samples / total, "gather_share": gather / total,
                          "model_flops_per_second": flops_per_step * steps / total,
                          "flops_per_sample": flops_per_step / (samples / steps), "precision": precision}
    return results


def paper_default_pretraining(arrays, valid) -> tuple:
    """Wall time of the real thing: mmsiam:pretrain's core with its defaults (100 epochs over
    every valid pixel, dense, automatic precision)."""
    config = pretraining.PretrainConfig(samples_per_epoch=int(valid.sum()))
    started = time.perf_counter()
    result = pretraining.pretrain(arrays, valid, config)
    return time.perf_counter() - started, result


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads)"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048, 4096])
    parser.add_argument("--scene", type=int, default=2048)
    parser.add_argument("--memory-mb", type=int, default=predict.DEFAULT_MEMORY_MB)
    parser.add_argument("--full-pretraining", action="store_true",
                        help="also time the paper-default pretraining itself (about 5 min)")
    parser.add_argument("--training-memory-mb", type=int, default=1024)
    parser.add_argument("--classify-once", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--train-once", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.classify_once:  # child process of the memory benchmark
        print(json.dumps(classify_once(args.folder, args.classify_once, args.memory_mb)))
        return
    if args.train_once:  # child process of the training memory benchmark
        print(json.dumps(train_once(args.folder, args.train_once, args.training_memory_mb)))
        return
    folder = tempfile.mkdtemp(prefix="mmsiam_bench_")
    memory, training_memory = [], []
    for size in sorted(set(args.sizes) | {args.scene}):
        done = subprocess.run([sys.executable, __file__, "--classify-once", str(size), "--folder", folder,
                               "--memory-mb", str(args.memory_mb)], capture_output=True, text=True, check=True)
        memory.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(memory[-1], flush=True)
    for size in sorted(set(args.sizes)):
        done = subprocess.run([sys.executable, __file__, "--train-once", str(size), "--folder", folder,
                               "--training-memory-mb", str(args.training_memory_mb)],
                              capture_output=True, text=True, check=True)
        training_memory.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(training_memory[-1], flush=True)
    scene = next(m for m in memory if m["size"] == args.scene)
    patch_rate = per_patch_rate(folder, args.scene)
    flops = {"float32": matmul_flops(), "bfloat16": matmul_flops(torch.bfloat16)}
    arrays, valid = potsdam_pretraining_inputs()
    training = pretraining_rates(arrays, valid)
    paper_samples = 100 * int(valid.sum())
    full = paper_default_pretraining(arrays, valid) if args.full_pretraining else None
    lines = [
        "# Performance", "",
        f"Machine: {machine()}. Date: {time.strftime('%Y-%m-%d')}. Command: "
        f"`.venv/bin/python benchmarks/performance.py --sizes {' '.join(map(str, args.sizes))} --scene {args.scene}"
        f"{' --full-pretraining' if args.full_pretraining else ''}`.",
        "All ratios are measured in the same run.", "",
        f"## 1. Classification, {args.scene}² px, three modalities of {', '.join(map(str, BANDS))} bands", "",
        "| method | pixels/s | whole scene |", "| --- | --- | --- |",
        f"| per-patch (13×13 forward per pixel, sample of 2,048 px) | {patch_rate:,.0f} | "
        f"{args.scene ** 2 / patch_rate:,.0f} s (projected) |",
        f"| dense blocks, folded head (mmsiam:classify) | {scene['pixels_per_second']:,.0f} | {scene['seconds']:.1f} s |",
        "", f"Speed-up dense / per-patch: **{scene['pixels_per_second'] / patch_rate:.0f}×** (target ≥ 30×; "
        f"whole scene target ≤ 60 s).", "",
        f"## 2. Peak resident memory of classification (memory budget {args.memory_mb} MB)", "",
        "| raster | seconds | block | peak RSS |", "| --- | --- | --- | --- |",
    ] + [f"| {m['size']}² | {m['seconds']:.1f} | {m['block_size']} px | {m['peak_rss_mb']:.0f} MB |" for m in memory] + [
        "", "Target: flat in raster size, ≤ 1.5 GB.", "",
        f"## 2b. Peak resident memory of training (memory budget {args.training_memory_mb} MB)", "",
        "Same synthetic scenes (240 bands): the preparation scan, `run_pretraining` (1 epoch × 4,096 "
        "samples) and `train_and_save` (500 random points, 2 epochs), in one process per size.", "",
        "| raster | whole scene in memory would need | read whole? | scan | pretraining | classifier | peak RSS |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ] + [f"| {m['size']}² | {m['size'] ** 2 * sum(BANDS) * 12 / 2 ** 30:.1f} GB | {'yes' if m['read_whole_scene'] else 'no'} | "
         f"{m['scan_seconds']:.0f} s | {m['pretrain_seconds']:.0f} s | {m['train_seconds']:.0f} s | {m['peak_rss_mb']:.0f} MB |"
         for m in training_memory] + [
        "", "Target: flat in raster size (bounded by the budget, not the scene).", "",
        "## 3. Pretraining, Potsdam VNIR + SWIR (91 + 127 bands), batch ≈ 512 pixel centres", "",
        f"Matmul (2048², torch.mm) on this machine: float32 {flops['float32'] / 1e9:.1f} GFLOP/s, "
        f"bfloat16 {flops['bfloat16'] / 1e9:.1f} GFLOP/s (bfloat16 autocast: 'auto' picks it on this CPU: "
        f"{pretraining.resolve_precision('auto', 'cpu')}).", "",
        "| form | samples/s | model GFLOP/s | of matmul peak (same precision) | FLOP/sample | gather share | "
        f"paper default (100 × {int(valid.sum()):,} samples) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ] + [f"| {form} | {r['samples_per_second']:,.0f} | {r['model_flops_per_second'] / 1e9:.1f} | "
         f"{100 * r['model_flops_per_second'] / flops[r['precision']]:.0f} % | {r['flops_per_sample'] / 1e6:.1f} M | "
         f"{100 * r['gather_share']:.1f} % | {paper_samples / r['samples_per_second'] / 60:.1f} min (projected) |"
         for form, r in training.items()]
    base = training[TRAINING_FORMS[0][0]]["samples_per_second"]
    lines += ["", "Speed-up over the straightforward per-patch float32 loop: " + ", ".join(
        f"{form} **{r['samples_per_second'] / base:.1f}×**" for form, r in training.items()) + "."]
    if full:
        seconds, result = full
        lines += ["", f"Measured, not projected: `pretrain()` with the defaults (100 epochs × {int(valid.sum()):,} "
                  f"valid px, dense, precision {result.precision}) took **{seconds / 60:.1f} min** "
                  f"(target ≤ 5 min); final loss {result.loss_history[-1]:.3f}, z-std {result.zstd_history[-1]:.4f}, "
                  f"collapsed: {result.collapsed}."]
    lines.append("")
    text = "\n".join(lines)
    print(text)
    os.makedirs(os.path.join(ROOT, "benchmarks", "results"), exist_ok=True)
    with open(os.path.join(ROOT, "benchmarks", "results", "performance.md"), "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
