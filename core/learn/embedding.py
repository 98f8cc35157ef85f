"""The encoder's per-pixel embedding z of a model, and its PCA (engine of embed and suggest).

* classifier checkpoint: ``z = f(Σ_k P_k(x_k))``, the early-fusion input of its linear layer;
* pretraining checkpoint: the mean over modalities of ``z_k = f(P_k(x_k))`` (pretraining pulls
  the z_k of one pixel together; with one modality it is that modality's z).

The encoder's output layer (1x1 conv + BatchNorm) is affine: :class:`Embedder` exposes it as
``z = head_weight @ feature + head_bias`` over the last block's C channels, so a PCA of z can be
fitted from C-dimensional features and folded into one 1x1 convolution.
"""

from __future__ import annotations

import base64
import copy
import json

import numpy as np
import rasterio
import torch

PCA_DOMAIN = "MMSIAM_PCA"    # GDAL metadata domain of an embedding GeoTIFF holding the PCA


class Embedder:
    """Dense last-block features and per-patch z of a model's encoder (eval mode)."""

    def __init__(self, model, fused: bool):
        self.model = model.eval()
        self.fused = fused
        arch = model.architecture()
        self.dim = arch["dim"]
        self.channels = arch["widths"][-1] if arch["widths"] else arch["proj_channels"]
        head = copy.deepcopy(model.encoder.head).cpu().double().eval()
        with torch.no_grad():  # the affine output layer as z = weight @ feature + bias
            self.head_bias = head(torch.zeros(1, self.channels, 1, 1, dtype=torch.float64)).flatten()
            eye = torch.eye(self.channels, dtype=torch.float64)[:, :, None, None]
            self.head_weight = (head(eye).flatten(1) - self.head_bias).T.contiguous()  # (dim, C)

    def features(self, inputs: list) -> torch.Tensor:
        """Dense last-block map (N, C, H - P + 1, W - P + 1) of the fused or mean projection."""
        encoder, projections = self.model.encoder, self.model.projections
        if self.fused:
            return encoder.blocks(sum(p(x) for p, x in zip(projections, inputs)))
        return sum(encoder.blocks(p(x)) for p, x in zip(projections, inputs)) / len(inputs)

    def z_patches(self, inputs: list) -> torch.Tensor:
        """Per-patch z (N, dim) of (N, bands, P, P) patches: the reference the dense map equals."""
        encoder, projections = self.model.encoder, self.model.projections
        if self.fused:
            return encoder.embed(sum(p(x) for p, x in zip(projections, inputs)))
        return sum(encoder.embed(p(x)) for p, x in zip(projections, inputs)) / len(inputs)


def fit_pca(features: np.ndarray, head_weight: np.ndarray, head_bias: np.ndarray, components: int):
    """PCA of z = head_weight @ f + head_bias from samples of f (n, C), in float64.

    Returns (mean of z (dim,), components (k, dim), explained-variance ratios (k,)). Each
    component's largest loading is positive, so the result does not depend on the solver."""
    mean_f = features.mean(axis=0)
    centred = features - mean_f
    cov_f = centred.T @ centred / max(len(features) - 1, 1)
    cov_z = head_weight @ cov_f @ head_weight.T
    values, vectors = np.linalg.eigh(cov_z)
    order = np.argsort(values)[::-1][:components]
    values = np.clip(values[order], 0.0, None)
    vectors = vectors[:, order].T
    flip = np.sign(vectors[np.arange(len(vectors)), np.abs(vectors).argmax(axis=1)])
    vectors *= np.where(flip == 0, 1.0, flip)[:, None]
    total = float(np.trace(cov_z))
    ratios = values / total if total > 0 else np.zeros_like(values)
    return head_weight @ mean_f + head_bias, vectors, ratios


def encode_float32(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array, dtype="<f4").tobytes()).decode("ascii")


def read_pca(path: str) -> dict:
    """The PCA stored in an embedding GeoTIFF: mean (dim,), components (k, dim), ratios (k,)."""
    with rasterio.open(path) as src:
        tags = src.tags(ns=PCA_DOMAIN)
        ratios = json.loads(src.tags()["EXPLAINED_VARIANCE_RATIO"])
    k, dim = int(tags["COMPONENTS"]), int(tags["DIM"])
    mean = np.frombuffer(base64.b64decode(tags["MEAN_FLOAT32_BASE64"]), dtype="<f4")
    comps = np.frombuffer(base64.b64decode(tags["COMPONENTS_FLOAT32_BASE64"]), dtype="<f4")
    return {"mean": mean.astype(np.float64), "components": comps.reshape(k, dim).astype(np.float64),
            "explained_variance_ratio": np.array(ratios)}
