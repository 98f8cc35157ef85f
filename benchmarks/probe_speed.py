"""How long the linear probe of mmsiam:pretrain takes on Potsdam's 5,672 labels, fitted in the span
of z (the product) and, for one fold, on all of z's values (the same model, up to the solver):

    .venv/bin/python -W ignore benchmarks/probe_speed.py MODEL.pt [--full]

MODEL.pt: a Potsdam pretrained model (VNIR + SWIR), e.g. from
``scripts/qgis_process run mmsiam:pretrain -- HYPERSPECTRAL=… MULTISPECTRAL=… OUTPUT_MODEL=MODEL.pt``.
"""

import argparse
import os
import time

import plugin_path  # noqa: F401 (makes the repository importable as multimodal_siamese)
import torch

from multimodal_siamese.core.io import inputs, raster
from multimodal_siamese.core.io.labels import rasterize_labels, read_label_features
from multimodal_siamese.core.learn import probe
from multimodal_siamese.core.learn.pretraining import PatchSource
from multimodal_siamese.core.learn.spectral import fit_spectral_path, pretrained_z, spectral_logits
from multimodal_siamese.models.network import MultimodalSiamese

DATA = os.path.join(plugin_path.ROOT, "..", "shared", "data", "potsdam")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("--full", action="store_true", help="also one fold on all of z's values")
    args = parser.parse_args()
    torch.set_num_threads(2)
    prepared = inputs.prepare([raster.ModalityInput("HYPERSPECTRAL", os.path.join(DATA, "enmap_potsdam_vnir.vrt")),
                               raster.ModalityInput("MULTISPECTRAL", os.path.join(DATA, "enmap_potsdam_swir.vrt"))],
                              inputs.GridOptions())
    checkpoint = torch.load(args.model, weights_only=True)
    model = MultimodalSiamese.from_architecture(checkpoint["metadata"]["architecture"])
    model.load_state_dict(checkpoint["state_dict"])
    model.eval()
    arrays, valid = prepared.read()
    samples = rasterize_labels(read_label_features(os.path.join(DATA, "landcover_potsdam_samples.gpkg"), "class_id"),
                               prepared.stack.grid, valid)
    patch = model.architecture()["patch_size"]
    folds = probe.probe_folds(samples, patch, valid.shape, checkpoint["metadata"]["training"]["seed"])
    source = PatchSource(arrays, patch)
    started = time.time()
    result = probe.linear_probe(model.projections, model.encoder, source, samples, patch, folds)
    print(f"probe, {len(folds)} folds in the span of z (z included): {time.time() - started:.1f} s; "
          f"OA {100 * result['probe']['overall_accuracy']:.2f} %, fold 1 {100 * result['per_fold'][0]['probe']['overall_accuracy']:.2f} %")
    if args.full:
        z = pretrained_z(model.projections, model.encoder, source, samples.rows, samples.cols)
        (train, test), y = folds[0], samples.class_index
        started = time.time()
        path = fit_spectral_path(z[train], None, y[train], len(samples.classes), "logistic")
        full = spectral_logits(path, z[test], None)
        print(f"fold 1 on all {z.shape[1]} values of z: {time.time() - started:.1f} s; "
              f"OA {100 * (full.argmax(1) == y[test]).mean():.2f} %")


if __name__ == "__main__":
    main()
