"""Peak memory of `mmsiam:classify` on the product path: `scripts/qgis_process` under `/usr/bin/time -v`.

benchmarks/performance.py measures classification inside its own Python process; users run
QGIS (desktop or qgis_process), whose process also holds QGIS, GDAL's block cache and the
plugin. This script measures that path on the same synthetic three-modality scenes (224, 12 and
4 bands, int16, 30 m, EPSG:32633), written once as real tiled GeoTIFFs (so that GDAL's block
cache meets as many distinct blocks as in a real scene), and the same random classifier
(patch 13) as performance.py.

    nice -n 10 .venv/bin/python benchmarks/product_memory.py generate 1024 2048 4096   # disk only
    .venv/bin/python benchmarks/product_memory.py model [--networks N [--flips [--views-per-network V]]]
    flock /tmp/mmsiam-cpu.lock .venv/bin/python benchmarks/product_memory.py measure 1024 [--memory-mb 1024] \
        [--model classifier_ensemble3.pt]
    .venv/bin/python benchmarks/product_memory.py report

Scenes, model and measurements go to benchmarks/out/product_memory/ (4096² takes 8 GB of disk).
"""

import argparse
import json
import os
import re
import subprocess
import sys
import time

from plugin_path import ROOT  # noqa: F401  (makes multimodal_siamese importable)

OUT = os.path.join(ROOT, "benchmarks", "out", "product_memory")
SLOTS = ("HYPERSPECTRAL", "MULTISPECTRAL", "SAR")
RESULTS = os.path.join(OUT, "measurements.jsonl")


def scene_paths(size: int) -> list:
    return [os.path.join(OUT, f"scene_{size}", f"{slot.lower()}.tif") for slot in SLOTS]


def generate(size: int):
    """GeoTIFFs (tiled 256², uncompressed, int16) copied from performance.py's VRT mosaics."""
    from osgeo import gdal

    from performance import synthetic_scene

    gdal.UseExceptions()
    folder = os.path.join(OUT, f"scene_{size}")
    os.makedirs(folder, exist_ok=True)
    for vrt, path in zip(synthetic_scene(folder, size), scene_paths(size)):
        if not os.path.exists(path):
            gdal.Translate(path + ".part", vrt, format="GTiff", creationOptions=["TILED=YES", "BIGTIFF=YES"])
            os.replace(path + ".part", path)
        print(path, os.path.getsize(path) // 2**20, "MB")


def make_model(networks: int = 0, flips: bool = False, views_per_network: int = 0) -> str:
    """performance.py's random classifier, saved as mmsiam:trainclassifier would (three slots).
    ``networks`` > 0: the default 'ensemble' instead, that many random networks beside a random
    spectral path (the file ``classifier_ensemble<N>.pt``; ``flips``: with test-time flips and
    rotations, the networks sharing the 8 views out as new models do: ``classifier_ensemble<N>_flips.pt``;
    ``views_per_network`` V > 0 instead of the shared share: ``classifier_ensemble<N>_flips_v<V>.pt``,
    e.g. 8, every network over all 8, as models trained before the sharing)."""
    import torch

    from multimodal_siamese.models.checkpoint import save_checkpoint
    from multimodal_siamese.models.network import SpectralFusionClassifier, shared_views_per_network
    from performance import BANDS, CLASSES, classifier

    model = classifier()
    name = "classifier.pt"
    if networks:
        torch.manual_seed(0)
        model = SpectralFusionClassifier(**model.architecture(), networks=networks, test_time_flips=flips,
                                         views_per_network=views_per_network or shared_views_per_network(networks)
                                         ).eval()
        gen = torch.Generator().manual_seed(1)
        model.set_spectral_path({"band_mean": torch.zeros(sum(BANDS)), "band_scale": torch.ones(sum(BANDS)),
                                 "z_mean": torch.zeros(0), "z_projection": torch.zeros(0, 0),
                                 "weight": torch.randn(len(CLASSES), sum(BANDS), generator=gen) * 1e-3,
                                 "bias": torch.zeros(len(CLASSES))})
        name = (f"classifier_ensemble{networks}{'_flips' if flips else ''}"
                f"{f'_v{views_per_network}' if flips and views_per_network else ''}.pt")
    metadata = {
        "architecture": model.architecture(),
        "classes": [c.to_dict() for c in CLASSES],
        "grid": {"reference_slot": None, "resolution": None, "resampling": "bilinear"},
        "modalities": [{"slot": slot, "band_count": b, "kept_bands": list(range(1, b + 1)),
                        "dropped_bands": [], "normalisation": {"center": [1500.0] * b, "scale": [800.0] * b}}
                       for slot, b in zip(SLOTS, BANDS)],
    }
    path = os.path.join(OUT, name)
    os.makedirs(OUT, exist_ok=True)
    save_checkpoint(path, "classifier", model.state_dict(), metadata)
    return path


def measure(size: int, memory_mb: int, label: str, model: str = "classifier.pt") -> dict:
    output = os.path.join(OUT, f"map_{size}.tif")
    args = ["/usr/bin/time", "-v", os.path.join(ROOT, "scripts", "qgis_process"), "run", "mmsiam:classify", "--"]
    args += [f"{slot}={path}" for slot, path in zip(SLOTS, scene_paths(size))]
    args += [f"MODEL={os.path.join(OUT, model)}", f"OUTPUT={output}", f"MEMORY_MB={memory_mb}"]
    started = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(done.stdout[-3000:] + done.stderr[-3000:])
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr).group(1))
    block = re.search(r"blocks of up to (\d+)", done.stdout + done.stderr)
    result = {"label": label, "model": model, "size": size, "memory_mb": memory_mb, "peak_rss_mb": round(rss_kb / 1024),
              "seconds": round(seconds, 1), "block": int(block.group(1)) if block else None,
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "command": " ".join(args[2:]).replace(ROOT + "/", "")}
    with open(RESULTS, "a", encoding="utf-8") as f:
        f.write(json.dumps(result) + "\n")
    return result


def report():
    rows = [json.loads(line) for line in open(RESULTS, encoding="utf-8")]
    print("| code | model | raster | MEMORY_MB | seconds | block | peak RSS (qgis_process) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['label']} | {r.get('model', 'classifier.pt')} | {r['size']}² | {r['memory_mb']} | "
              f"{r['seconds']} | {r['block']} px | {r['peak_rss_mb']} MB |")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("action", choices=["generate", "model", "measure", "report"])
    parser.add_argument("sizes", type=int, nargs="*", default=[])
    parser.add_argument("--memory-mb", type=int, default=1024)
    parser.add_argument("--label", default="this commit", help="what code is measured (for the table)")
    parser.add_argument("--networks", type=int, default=0, help="model: the ensemble with N networks")
    parser.add_argument("--flips", action="store_true", help="model: the ensemble with test-time flips and rotations")
    parser.add_argument("--views-per-network", type=int, default=0,
                        help="model with --flips: views per network (8: all, as before the networks shared them)")
    parser.add_argument("--model", default="classifier.pt", help="measure: which model file of out/product_memory")
    args = parser.parse_args()
    if args.action == "generate":
        for size in args.sizes:
            generate(size)
    elif args.action == "model":
        print(make_model(args.networks, args.flips, args.views_per_network))
    elif args.action == "measure":
        for size in args.sizes:
            print(json.dumps(measure(size, args.memory_mb, args.label, args.model)))
    else:
        report()


if __name__ == "__main__":
    main()
