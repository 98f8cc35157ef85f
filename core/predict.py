"""Block-wise classification of the whole reference grid, written as a styled GeoTIFF.

The network is receptive-field exact (valid convolutions, stride 1), so one dense pass over a
block padded with a PATCH_SIZE//2 halo gives every pixel exactly its own patch's logits.
Memory is bounded by the block size, derived from a memory budget, not by the raster size.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np
import rasterio
import torch

from ..models.network import FusionClassifier
from .atomic import atomic_output
from .inputs import PreparedInputs
from .patches import iter_blocks, pad_reflect
from .progress import EtaClock, Progress
from .styles import confidence_qml, paletted_qml, style_path

DEFAULT_MEMORY_MB = 1024


def nodata_code(classes: list) -> int:
    """0 unless a class uses it (then 255)."""
    return 255 if any(c.code == 0 for c in classes) else 0


def block_size_for(memory_mb: float, widest: int, bands: int, patch_size: int) -> int:
    """Largest square block whose dense pass fits ``memory_mb``: float32 maps per pixel of the
    input bands, the widest expanded layer (twice: before and after the depthwise conv) and the
    logits, with a 3x margin. The folded head never builds the dim-channel map."""
    bytes_per_pixel = 4 * (bands + 2 * widest + 64) * 3
    side = int(math.sqrt(max(memory_mb, 16) * 1024 * 1024 / bytes_per_pixel)) - (patch_size - 1)
    return max(16, min(1024, side))


def hex_to_rgb(color: str) -> tuple:
    color = color.lstrip("#")
    return tuple(int(color[i:i + 2], 16) for i in (0, 2, 4))


def _profile(grid, dtype, nodata, count=1) -> dict:
    return {"driver": "GTiff", "width": grid.width, "height": grid.height, "count": count,
            "dtype": dtype, "crs": grid.crs_wkt, "transform": grid.affine, "nodata": nodata,
            "tiled": True, "blockxsize": 256, "blockysize": 256, "compress": "deflate",
            "BIGTIFF": "IF_SAFER"}


@contextlib.contextmanager
def full_float32(device: str):
    """On CUDA, convolutions default to TF32 (10-bit mantissa): logits then differ from the CPU's
    by ~1e-2 and an occasional pixel changes class. Classification is cheap, so it runs in full
    float32 and the map does not depend on the device. The previous settings are restored."""
    if device != "cuda":
        yield
        return
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


@torch.inference_mode()
def classify_raster(model: FusionClassifier, prepared: PreparedInputs, classes: list,
                    output_path: str, confidence_path: str | None = None,
                    memory_mb: float = DEFAULT_MEMORY_MB, device: str = "cpu",
                    progress: Progress | None = None) -> dict:
    """Classify every valid pixel of the grid; write UInt8 codes (+ optional float32 confidence).

    Returns a summary: pixels per class code, nodata code, block size."""
    progress = progress or Progress()
    model.eval().to(device)
    arch = model.architecture()
    patch_size = arch["patch_size"]
    halo = patch_size // 2
    grid = prepared.stack.grid
    block = block_size_for(memory_mb, max(arch["widths"] or [16]) * arch["expand_ratio"],
                           sum(arch["band_counts"]), patch_size)
    folded = model.folded_head()
    fast = model.inference_copy()
    nodata = nodata_code(classes)
    codes = np.array([c.code for c in classes], dtype=np.uint8)
    counts = np.zeros(len(classes), dtype=np.int64)
    blocks = list(iter_blocks(grid.height, grid.width, block, halo))
    clock = EtaClock()
    progress.info(f"Classifying {grid.width} × {grid.height} px in {len(blocks)} blocks of up to "
                  f"{block} × {block} px.")
    with atomic_output(output_path, "classified raster") as tmp_out, \
            _maybe_atomic(confidence_path, "confidence raster") as tmp_conf:
        with rasterio.open(tmp_out, "w", **_profile(grid, "uint8", nodata)) as dst, \
                _maybe_open(tmp_conf, _profile(grid, "float32", -1.0)) as conf_dst:
            dst.write_colormap(1, {c.code: hex_to_rgb(c.color) + (255,) for c in classes})
            dst.set_band_description(1, "land-cover class")
            for i, b in enumerate(blocks):
                progress.check()
                arrays, valid = prepared.read(b.read_window)
                padded = [pad_reflect(a, b.pad_top, b.pad_bottom, b.pad_left, b.pad_right) for a in arrays]
                inputs = [torch.from_numpy(a)[None].to(device).contiguous(memory_format=torch.channels_last)
                          for a in padded]
                with full_float32(device):
                    logits = fast.forward_dense_folded(inputs, folded)[0]
                probabilities = torch.softmax(logits, dim=0)
                confidence, index = probabilities.max(dim=0)
                index = index.cpu().numpy()
                # The valid mask of the core window (the read window includes the halo).
                r0, c0 = b.row0 - b.read_row0, b.col0 - b.read_col0
                core_valid = valid[r0:r0 + b.rows, c0:c0 + b.cols]
                out = np.where(core_valid, codes[index], nodata).astype(np.uint8)
                counts += np.bincount(index[core_valid], minlength=len(classes))
                window = rasterio.windows.Window(b.col0, b.row0, b.cols, b.rows)
                dst.write(out, 1, window=window)
                if conf_dst is not None:
                    conf = np.where(core_valid, confidence.cpu().numpy(), -1.0).astype(np.float32)
                    conf_dst.write(conf, 1, window=window)
                progress.set_percent(100.0 * (i + 1) / len(blocks))
                progress.info(f"block {i + 1}/{len(blocks)}  {clock.eta_text((i + 1) / len(blocks))}")
        progress.check()  # a cancel during the last block must not publish the outputs
        # The styles travel with the files: QGIS loads '<name>.qml' as the default style.
        _write_text(style_path(output_path), paletted_qml(classes, nodata))
        if confidence_path:
            _write_text(style_path(confidence_path), confidence_qml(output_path))
    return {"pixels_per_class": {c.name: int(n) for c, n in zip(classes, counts)},
            "nodata": nodata, "block_size": block, "blocks": len(blocks)}


def _write_text(path: str, text: str):
    with atomic_output(path, "style") as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)


class _Null:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def _maybe_atomic(path, what):
    return atomic_output(path, what) if path else _Null()


def _maybe_open(path, profile):
    return rasterio.open(path, "w", **profile) if path else _Null()
