"""The whole 'embed' job, QGIS-free: the encoder's per-pixel z, reduced by PCA, as a GeoTIFF.

Which z:

* a classifier checkpoint: ``z = f(Σ_k P_k(x_k))``, the early-fusion input of its linear layer
  (exactly what the classifier sees; of an ensemble of several networks, the first's);
* a pretraining checkpoint: the mean over modalities of ``z_k = f(P_k(x_k))``. Pretraining pulls
  the z_k of one pixel together, so their mean is the scene's shared description; with one
  modality it is simply that modality's z.

The encoder's output layer (1x1 conv + BatchNorm) is affine, so the 2048-d z lies in an affine
subspace of the last block's width C, and the PCA (centre, rotate, keep the first components) is
affine too: both fold into one 1x1 convolution from the last block to the components, exactly like
the classifier's folded head. The 2048-channel map is never built. The PCA is fitted on a random
sample of valid pixels (a first dense pass that computes only the blocks holding samples), then a
second dense pass writes the components. Both passes use :func:`.predict.dense_blocks`, so each
pixel's value equals the per-patch z of its own patch (the receptive-field equivalence).
"""

from __future__ import annotations

import json
import os
import time

import numpy as np
import rasterio
import torch
import torch.nn.functional as F

from ...models.checkpoint import load_checkpoint
from ..errors import InputError
from ..io.gdal_memory import job_block_cache
from ..io.inputs import GridOptions, prepare_like
from ..learn.embedding import PCA_DOMAIN, Embedder, encode_float32, fit_pca
from ..learn.predict import DEFAULT_MEMORY_MB, dense_blocks, model_block_size, raster_profile
from ..learn.pretraining import resolve_device
from ..output.atomic import atomic_output, check_output_folder
from ..progress import Progress
from ..runtime.version import library_versions
from .classify_run import model_from_checkpoint

DEFAULT_COMPONENTS = 16
PCA_SAMPLE = 20_000          # valid pixels the PCA is fitted on
FIT_SHARE = 35.0             # percent of the progress bar spent on the PCA pass


def load_encoder_model(path: str):
    """A pretraining or classifier checkpoint → (model in eval mode, metadata, kind)."""
    checkpoint = load_checkpoint(path, needed_by="the embedding")
    model, metadata = model_from_checkpoint(checkpoint, path)
    return model, metadata, checkpoint["kind"]


def _sample_pixels(valid: np.ndarray, count: int, seed: int):
    flat = np.flatnonzero(valid.ravel())
    pick = np.sort(np.random.default_rng(seed).choice(flat, size=min(count, flat.size), replace=False))
    return np.divmod(pick, valid.shape[1])


@torch.inference_mode()
def embed_raster(model, kind: str, prepared, output: str, components: int = DEFAULT_COMPONENTS,
                 memory_mb: float = DEFAULT_MEMORY_MB, device: str = "cpu", seed: int = 42,
                 progress: Progress | None = None, sample_size: int = PCA_SAMPLE) -> dict:
    """Write the first ``components`` principal components of z at every valid pixel (0 = all)."""
    progress = progress or Progress()
    started = time.time()
    embedder = Embedder(model.to(device), fused=kind == "classifier")
    arch = model.architecture()
    patch_size, grid = arch["patch_size"], prepared.stack.grid
    k = embedder.dim if components == 0 else components
    if k > embedder.dim:
        raise InputError(f"COMPONENTS is {components} but the model's embedding has only "
                         f"{embedder.dim} values per pixel; use at most {embedder.dim} (0 = all).")
    if components == 0:
        gigabytes = grid.width * grid.height * k * 4 / 1024 ** 3
        progress.warn(f"COMPONENTS = 0 writes all {k} components: about {gigabytes:.1f} GB "
                      f"uncompressed for this grid. Only the first {embedder.channels} can carry "
                      "variance (the encoder's last layer is linear); 16 is usually enough.")
    valid = prepared.valid_mask()
    rows, cols = _sample_pixels(valid, sample_size, seed)
    block = model_block_size(arch, memory_mb, out_channels=max(k, embedder.channels))

    # Pass 1: the last-block features at the sampled pixels.
    samples = np.zeros((len(rows), embedder.channels), np.float64)

    def holds_samples(b):
        return bool(((rows >= b.row0) & (rows < b.row0 + b.rows)
                     & (cols >= b.col0) & (cols < b.col0 + b.cols)).any())

    for part in dense_blocks(prepared, patch_size, block, device, progress, "Fitting the PCA on",
                             (0.0, FIT_SHARE), holds_samples):
        b = part.block
        inside = np.flatnonzero((rows >= b.row0) & (rows < b.row0 + b.rows)
                                & (cols >= b.col0) & (cols < b.col0 + b.cols))
        feats = embedder.features(part.inputs)[0].cpu()
        at_rows, at_cols = torch.from_numpy(rows[inside] - b.row0), torch.from_numpy(cols[inside] - b.col0)
        samples[inside] = feats[:, at_rows, at_cols].T.double().numpy()
    mean_z, vectors, ratios = fit_pca(samples, embedder.head_weight.numpy(),
                                      embedder.head_bias.numpy(), k)
    folded = vectors @ embedder.head_weight.numpy()                       # (k, C)
    weight = torch.from_numpy(folded).float()[:, :, None, None].to(device)
    bias = torch.from_numpy(-(folded @ samples.mean(axis=0))).float().to(device)
    progress.info(f"PCA of z on {len(rows)} valid pixels: component 1 explains "
                  f"{100 * ratios[0]:.1f} %, the {k} components together {100 * ratios.sum():.1f} % "
                  "of the variance.")

    # Pass 2: the components of every pixel.
    profile = dict(raster_profile(grid, "float32", float("nan"), count=k), interleave="pixel")
    with atomic_output(output, "embedding raster") as tmp:
        with rasterio.open(tmp, "w", **profile) as dst:
            for i in range(k):
                dst.set_band_description(i + 1, f"pc{i + 1}")
                dst.update_tags(i + 1, explained_variance_ratio=f"{ratios[i]:.6g}")
            for part in dense_blocks(prepared, patch_size, block, device, progress,
                                     "Embedding", (FIT_SHARE, 100.0)):
                pcs = F.conv2d(embedder.features(part.inputs), weight, bias)[0].cpu().numpy()
                pcs[:, ~part.valid] = np.nan
                dst.write(pcs.astype(np.float32), window=part.window)
            dst.update_tags(EMBEDDING=("mean over modalities of f(P_k(x_k))" if kind == "pretrained"
                                       else "f(sum of P_k(x_k)), the classifier's early fusion"),
                            MODEL_KIND=kind, PATCH_SIZE=str(patch_size), DIM=str(embedder.dim),
                            PCA_SAMPLE_PIXELS=str(len(rows)), PCA_COMPONENTS=str(k),
                            EXPLAINED_VARIANCE_RATIO=json.dumps([round(float(r), 6) for r in ratios]))
            dst.update_tags(ns=PCA_DOMAIN, COMPONENTS=str(k), DIM=str(embedder.dim),
                            MEAN_FLOAT32_BASE64=encode_float32(mean_z), COMPONENTS_FLOAT32_BASE64=encode_float32(vectors),
                            FORMULA="pc = components @ (z - mean)")
        progress.check()  # a cancel during the last block must not publish the output
    return {"components": k, "explained_variance_ratio": [float(r) for r in ratios],
            "sample_pixels": int(len(rows)), "valid_pixels": int(valid.sum()), "dim": embedder.dim,
            "model_kind": kind, "patch_size": patch_size, "block_size": block,
            "seconds": float(time.time() - started)}


def embed_with_model(modalities: list, model_path: str, output: str, components: int,
                     memory_mb: float, device: str, seed: int, progress: Progress,
                     report_path: str | None = None) -> dict:
    if not output.lower().endswith((".tif", ".tiff")):
        raise InputError(f"The embedding raster must be a GeoTIFF (.tif); got '{output}'.")
    if components < 0:
        raise InputError(f"COMPONENTS must be 0 (all) or more; got {components}.")
    check_output_folder(output, "embedding raster")
    if report_path:
        check_output_folder(report_path, "report")
    device = resolve_device(device)
    model, metadata, kind = load_encoder_model(model_path)
    options = GridOptions.from_dict(metadata["grid"])
    with job_block_cache(memory_mb):
        with prepare_like(modalities, metadata["modalities"], options, f"{kind} model") as prepared:
            summary = embed_raster(model, kind, prepared, output, components, memory_mb, device, seed,
                                   progress)
    ratios = summary["explained_variance_ratio"]
    progress.info("Explained variance ratio per component: "
                  + ", ".join(f"pc{i + 1} {100 * r:.2f} %" for i, r in enumerate(ratios[:32]))
                  + (" …" if len(ratios) > 32 else ""))
    summary.update(model=model_path, output=output, versions=library_versions())
    if report_path:
        write_embedding_report(report_path, summary)
    return summary


def write_embedding_report(path: str, summary: dict):
    """HTML report (explained variance per component) plus the same numbers as JSON beside it."""
    from ..output.report import HtmlReport, line_plot_png, run_section, write_json

    ratios = summary["explained_variance_ratio"]
    report = HtmlReport("Learned embedding")
    which = ("the mean over modalities of the encoder's output z_k = f(P_k(x_k))"
             if summary["model_kind"] == "pretrained" else
             "the encoder's output on the fused projections, z = f(Σ P_k(x_k)), as the classifier sees it")
    report.paragraph(f"Per-pixel embedding of '{summary['model']}' ({summary['model_kind']} model, "
                     f"patch size {summary['patch_size']}): {which}; {summary['dim']} values per pixel, "
                     f"reduced to {summary['components']} principal components fitted on "
                     f"{summary['sample_pixels']} of the {summary['valid_pixels']} valid pixels.")
    report.heading("Explained variance")
    cumulative = np.cumsum(ratios)
    report.image_png(line_plot_png({"per component": list(ratios), "cumulative": list(cumulative)},
                                   "Explained variance ratio", "component", "ratio"), "explained variance")
    report.table(["band", "explained variance %", "cumulative %"],
                 [[f"pc{i + 1}", f"{100 * r:.2f}", f"{100 * c:.2f}"]
                  for i, (r, c) in enumerate(zip(ratios, cumulative))])
    run_section(report, {"components": summary["components"], "block size": summary["block_size"]},
                summary["seconds"], summary["versions"])
    report.write(path)
    write_json(os.path.splitext(path)[0] + ".json", summary)
