"""The whole 'suggest sites' job, QGIS-free: where should the analyst label next?

Active learning with a trained classifier:

1. Uncertainty. The scene is scored densely, block by block, exactly like classify
   (:func:`.predict.dense_blocks`): a pixel is uncertain when its two most probable classes are
   close (margin uncertainty, ``1 - (p1 - p2)``; our Potsdam benchmark preferred it to entropy,
   see benchmarks/results/active_learning_potsdam.md). Only a bounded pool of the most uncertain
   allowed pixels is kept (``POOL_FACTOR × COUNT``, at least ``MIN_POOL``), so memory does not
   grow with the scene.
2. Diversity (``uncertainty_diversity``): the pool's pixels are described by the first principal
   components of the encoder's z (what the classifier sees), and sites are drawn one by one
   k-means++-style: with probability proportional to uncertainty × squared distance, in that
   space, to the sites already chosen. Sites therefore spread over different confusing
   materials instead of piling into one field.
3. Every strategy keeps each site at least MIN_DISTANCE pixels from the other sites and from
   the labels already used, inside the valid pixels and the optional mask.

``random`` draws valid pixels uniformly (with the same distance rules): the baseline.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from osgeo import ogr, osr
from scipy.spatial import cKDTree

from ..errors import InputError
from ..io.gdal_memory import job_block_cache
from ..io.inputs import GridOptions, prepare_like
from ..io.labels import LabelFeatures, polygon_mask, rasterize_labels
from ..io.raster import apply_affine
from ..io.scene import PatchBank
from ..learn.embedding import Embedder
from ..learn.finetune import predict_samples
from ..learn.predict import DEFAULT_MEMORY_MB, class_probabilities, dense_blocks, model_block_size
from ..learn.pretraining import resolve_device
from ..output.atomic import atomic_output, check_output_folder
from ..progress import Progress
from .classifier_run import classes_from_metadata
from .classify_run import load_classifier

STRATEGIES = ("uncertainty_diversity", "uncertainty", "random")
MEASURES = ("margin", "entropy")
DEFAULT_MEASURE = "margin"
DEFAULT_COUNT = 50
POOL_FACTOR = 10
MIN_POOL = 500
DIVERSITY_COMPONENTS = 8
LAYER_NAME = "suggested_sites"


def uncertainty_of(probabilities: torch.Tensor, measure: str = DEFAULT_MEASURE) -> torch.Tensor:
    """(K, ...) class probabilities → uncertainty in [0, 1] per pixel (1 = most uncertain)."""
    k = probabilities.shape[0]
    if k < 2:
        return torch.zeros(probabilities.shape[1:], dtype=probabilities.dtype)
    if measure == "entropy":
        p = probabilities.clamp_min(1e-12)
        return -(p * p.log()).sum(0) / float(np.log(k))
    top = probabilities.topk(2, dim=0).values
    return 1.0 - (top[0] - top[1])


class _Pool:
    """The most uncertain candidates seen so far, at most ``size`` (ties: row-major order)."""

    def __init__(self, size: int):
        self.size = size
        self.rows = np.zeros(0, np.int64)
        self.cols = np.zeros(0, np.int64)
        self.uncertainty = np.zeros(0, np.float64)
        self.class_index = np.zeros(0, np.int64)
        self.confidence = np.zeros(0, np.float64)

    def add(self, rows, cols, uncertainty, class_index, confidence, width: int):
        self.rows = np.concatenate([self.rows, rows])
        self.cols = np.concatenate([self.cols, cols])
        self.uncertainty = np.concatenate([self.uncertainty, uncertainty])
        self.class_index = np.concatenate([self.class_index, class_index])
        self.confidence = np.concatenate([self.confidence, confidence])
        order = np.lexsort((self.rows * width + self.cols, -self.uncertainty))[:self.size]
        for name in ("rows", "cols", "uncertainty", "class_index", "confidence"):
            setattr(self, name, getattr(self, name)[order])


def _far_from(tree: cKDTree | None, rows, cols, min_distance: float) -> np.ndarray:
    """True where a pixel is at least ``min_distance`` px from every point of ``tree``."""
    if tree is None or min_distance <= 0 or len(rows) == 0:
        return np.ones(len(rows), dtype=bool)
    distance, _ = tree.query(np.c_[rows, cols], k=1)
    return distance >= min_distance


def _spaced(rows, cols, order, count: int, min_distance: float) -> list:
    """Greedy: walk ``order`` and keep a pixel when it is ``min_distance`` px from those kept."""
    kept = []
    for i in order:
        if len(kept) == count:
            break
        if kept and min_distance > 0:
            d = np.hypot(rows[kept] - rows[i], cols[kept] - cols[i])
            if d.min() < min_distance:
                continue
        kept.append(int(i))
    return kept


def _kmeans_plus_plus(features: np.ndarray, weight: np.ndarray, rows, cols, count: int,
                      min_distance: float, rng: np.random.Generator) -> list:
    """k-means++ seeding weighted by uncertainty, under the spatial minimum distance: the first
    site is the most uncertain candidate, each next one is drawn with probability ∝ weight ×
    squared feature distance to the nearest site already chosen."""
    chosen = [int(np.argmax(weight))]
    nearest = ((features - features[chosen[0]]) ** 2).sum(1)
    allowed = np.ones(len(features), dtype=bool)
    while len(chosen) < count:
        last = chosen[-1]
        allowed[last] = False
        if min_distance > 0:
            allowed &= np.hypot(rows - rows[last], cols - cols[last]) >= min_distance
        score = np.where(allowed, weight * nearest, 0.0)
        if score.sum() <= 0:
            if not allowed.any():
                break
            score = allowed * weight + allowed * 1e-12  # identical features: by uncertainty
        pick = int(rng.choice(len(score), p=score / score.sum()))
        chosen.append(pick)
        nearest = np.minimum(nearest, ((features - features[pick]) ** 2).sum(1))
    return chosen


def _principal_components(z: np.ndarray, components: int) -> np.ndarray:
    centred = z - z.mean(axis=0)
    u, s, _ = np.linalg.svd(centred, full_matrices=False)
    return u[:, :components] * s[:components]


@torch.inference_mode()
def suggest_sites(model, prepared, count: int = DEFAULT_COUNT, strategy: str = "uncertainty_diversity",
                  min_distance: float = 0.0, labelled: tuple | None = None,
                  allowed: np.ndarray | None = None, seed: int = 42,
                  memory_mb: float = DEFAULT_MEMORY_MB, device: str = "cpu",
                  progress: Progress | None = None, measure: str = DEFAULT_MEASURE) -> dict:
    """Choose ``count`` sites. ``labelled``: (rows, cols) of pixels already labelled;
    ``allowed``: bool grid mask where sites may fall (valid pixels are always required).

    Returns rows, cols, class_index, confidence and uncertainty of the sites in rank order."""
    progress = progress or Progress()
    if strategy not in STRATEGIES:
        raise InputError(f"STRATEGY must be one of {', '.join(STRATEGIES)}; got '{strategy}'.")
    if measure not in MEASURES:
        raise InputError(f"The uncertainty measure must be one of {', '.join(MEASURES)}.")
    if count < 1:
        raise InputError(f"COUNT must be at least 1; got {count}.")
    model.eval().to(device)
    arch = model.architecture()
    patch_size, grid = arch["patch_size"], prepared.stack.grid
    candidates = prepared.valid_mask() if allowed is None else (prepared.valid_mask() & allowed)
    n_allowed = int(candidates.sum())
    if count > n_allowed:
        raise InputError(f"COUNT is {count} but only {n_allowed} valid pixels are available for sites"
                         f"{' inside the mask' if allowed is not None else ''}. Lower COUNT or widen "
                         "the area.")
    tree = cKDTree(np.c_[labelled]) if labelled is not None and len(labelled[0]) else None
    rng = np.random.default_rng(seed)
    if strategy == "random":
        rows, cols = _random_candidates(candidates, count, min_distance, tree, rng)
        picked = _spaced(rows, cols, range(len(rows)), count, min_distance)
        rows, cols = rows[picked], cols[picked]
        bank = PatchBank(prepared, rows, cols, patch_size, memory_mb, progress)
        class_index, probabilities = predict_samples(model, bank, rows, cols, device)
        confidence = probabilities.max(axis=1) if len(rows) else np.zeros(0)
        uncertainty = uncertainty_of(torch.from_numpy(probabilities.T), measure).numpy() \
            if len(rows) else np.zeros(0)
        progress.set_percent(100.0)
    else:
        pool = _uncertain_pool(model, prepared, candidates, count, min_distance, tree, memory_mb,
                               device, progress, measure)
        if strategy == "uncertainty" or len(pool.rows) <= 1:
            picked = _spaced(pool.rows, pool.cols, range(len(pool.rows)), count, min_distance)
        else:
            progress.info(f"Describing the {len(pool.rows)} most uncertain pixels with the encoder's "
                          "features for a diverse choice.")
            bank = PatchBank(prepared, pool.rows, pool.cols, patch_size, memory_mb, progress)
            embedder = Embedder(model, fused=True)
            z = np.concatenate([embedder.z_patches(bank.batch(pool.rows[s:s + 512], pool.cols[s:s + 512],
                                                              device)).cpu().numpy()
                                for s in range(0, len(pool.rows), 512)]).astype(np.float64)
            features = _principal_components(z, DIVERSITY_COMPONENTS)
            picked = _kmeans_plus_plus(features, pool.uncertainty + 1e-9, pool.rows, pool.cols,
                                       count, min_distance, rng)
            # Ranked by uncertainty: the analyst labels the most informative first.
            picked = sorted(picked, key=lambda i: (-pool.uncertainty[i], pool.rows[i], pool.cols[i]))
        rows, cols = pool.rows[picked], pool.cols[picked]
        class_index, confidence = pool.class_index[picked], pool.confidence[picked]
        uncertainty = pool.uncertainty[picked]
    if len(rows) < count:
        progress.warn(f"Only {len(rows)} of the {count} sites could be placed at least "
                      f"{min_distance:g} px apart and from the existing labels; lower MIN_DISTANCE "
                      "or COUNT for more.")
    return {"rows": np.asarray(rows, np.int64), "cols": np.asarray(cols, np.int64),
            "class_index": np.asarray(class_index, np.int64),
            "confidence": np.asarray(confidence, np.float64),
            "uncertainty": np.asarray(uncertainty, np.float64), "allowed_pixels": n_allowed}


def _uncertain_pool(model, prepared, candidates, count, min_distance, tree, memory_mb, device,
                    progress, measure) -> _Pool:
    arch = model.architecture()
    grid = prepared.stack.grid
    pool = _Pool(max(POOL_FACTOR * count, MIN_POOL))
    folded, fast = model.folded_head(), model.inference_copy()
    block = model_block_size(arch, memory_mb)
    for part in dense_blocks(prepared, arch["patch_size"], block, device, progress,
                             "Scoring the uncertainty of"):
        b = part.block
        ok = part.valid & candidates[b.row0:b.row0 + b.rows, b.col0:b.col0 + b.cols]
        if not ok.any():
            continue
        probabilities = class_probabilities(fast, folded, part.inputs, device).cpu()
        u = uncertainty_of(probabilities, measure).numpy()
        confidence, index = probabilities.max(dim=0)
        r, c = np.nonzero(ok)
        ur = u[r, c]
        top = np.lexsort((r * b.cols + c, -ur))[:4 * pool.size]  # enough left after the distance rule
        r, c = r[top], c[top]
        far = _far_from(tree, r + b.row0, c + b.col0, min_distance)
        r, c = r[far], c[far]
        pool.add(r + b.row0, c + b.col0, u[r, c].astype(np.float64), index.numpy()[r, c],
                 confidence.numpy()[r, c].astype(np.float64), grid.width)
    return pool


def _random_candidates(candidates, count, min_distance, tree, rng, rounds: int = 50):
    """Uniform random allowed pixels (far enough from the labels), in draw order, in bounded
    memory: batches of random grid positions, the disallowed ones rejected."""
    height, width = candidates.shape
    share = candidates.mean()
    batch = int(min(5_000_000, max(1000, 20 * count / max(share, 1e-6))))
    rows, cols = [], []
    found = 0
    for _ in range(rounds):
        flat = rng.integers(0, height * width, size=batch)
        r, c = np.divmod(flat, width)
        keep = candidates[r, c]
        r, c = r[keep], c[keep]
        keep = _far_from(tree, r, c, min_distance)
        rows.append(r[keep])
        cols.append(c[keep])
        found += int(keep.sum())
        if found >= 20 * count:
            break
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    _, first = np.unique(rows * width + cols, return_index=True)  # each pixel once, draw order kept
    first = np.sort(first)
    return rows[first], cols[first]


def write_sites(path: str, grid, sites: dict, classes: list):
    """A GeoPackage point layer at pixel centres in the grid's CRS, written atomically.

    Fields: class_id (empty, for the analyst; integer or text like the model's classes),
    suggested_class, suggested_name, confidence, rank."""
    text = any(isinstance(c.value, str) for c in classes)
    kind = ogr.OFTString if text else ogr.OFTInteger
    srs = osr.SpatialReference()
    srs.ImportFromWkt(grid.crs_wkt)
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    with atomic_output(path, "suggested sites", suffix=".gpkg") as tmp:
        os.remove(tmp)  # the GeoPackage driver creates the file itself
        dataset = ogr.GetDriverByName("GPKG").CreateDataSource(tmp)
        layer = dataset.CreateLayer(LAYER_NAME, srs, ogr.wkbPoint)
        for name, field_kind in (("class_id", kind), ("suggested_class", kind),
                                 ("suggested_name", ogr.OFTString), ("confidence", ogr.OFTReal),
                                 ("rank", ogr.OFTInteger)):
            layer.CreateField(ogr.FieldDefn(name, field_kind))
        definition = layer.GetLayerDefn()
        affine = grid.affine
        layer.StartTransaction()
        for rank, (r, c, k, conf) in enumerate(zip(sites["rows"], sites["cols"], sites["class_index"],
                                                   sites["confidence"]), start=1):
            feature = ogr.Feature(definition)
            x, y = apply_affine(affine, float(c) + 0.5, float(r) + 0.5)
            point = ogr.Geometry(ogr.wkbPoint)
            point.AddPoint_2D(x, y)
            feature.SetGeometry(point)
            feature.SetFieldNull("class_id")
            value = classes[int(k)].value
            feature.SetField("suggested_class", str(value) if text else int(value))
            feature.SetField("suggested_name", classes[int(k)].name)
            feature.SetField("confidence", round(float(conf), 4))
            feature.SetField("rank", rank)
            layer.CreateFeature(feature)
        layer.CommitTransaction()
        del layer, dataset  # closes the file before it is moved into place


def suggest_with_model(modalities: list, model_path: str, output: str, count: int, strategy: str,
                       min_distance: float, labels: LabelFeatures | None, mask: LabelFeatures | None,
                       seed: int, memory_mb: float, device: str, progress: Progress) -> dict:
    if not output.lower().endswith(".gpkg"):
        raise InputError(f"The suggested sites must be written to a GeoPackage (.gpkg); got '{output}'.")
    check_output_folder(output, "suggested sites")
    device = resolve_device(device)
    model, metadata = load_classifier(model_path)
    classes = classes_from_metadata(metadata)
    patch_size = model.architecture()["patch_size"]
    if min_distance <= 0:
        min_distance = 2 * patch_size
    options = GridOptions.from_dict(metadata["grid"])
    with job_block_cache(memory_mb):
        with prepare_like(modalities, metadata["modalities"], options, "classifier model") as prepared:
            grid = prepared.stack.grid
            valid = prepared.valid_mask()
            allowed = None
            if mask is not None:
                allowed = polygon_mask(mask, grid)
                if not (allowed & valid).any():
                    raise InputError(f"The MASK layer '{mask.layer_name}' covers no valid pixel of the "
                                     "rasters' common extent. Check its area and CRS, or leave MASK empty.")
            labelled = None
            if labels is not None and any(v is not None for v in labels.values):
                samples = rasterize_labels(labels, grid, valid)
                labelled = (samples.rows, samples.cols)
                progress.info(f"{len(samples.rows)} labelled pixels of '{labels.layer_name}': no site "
                              f"closer than {min_distance:g} px to them.")
            progress.info(f"Strategy {strategy}: {count} sites at least {min_distance:g} px apart "
                          f"(patch size {patch_size}).")
            sites = suggest_sites(model, prepared, count, strategy, min_distance, labelled, allowed, seed,
                                  memory_mb, device, progress)
            progress.check()
            write_sites(output, grid, sites, classes)
    names = [classes[int(k)].name for k in sites["class_index"]]
    progress.info(f"{len(names)} sites written to {output}. Predicted classes at the sites: "
                  + ", ".join(f"{n}: {names.count(n)}" for n in sorted(set(names)))
                  + ". Fill in class_id at each site, then add them to your labels and train again.")
    return {"sites": len(names), "min_distance": min_distance, "strategy": strategy,
            "allowed_pixels": sites["allowed_pixels"]}
