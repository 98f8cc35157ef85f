"""Block-wise classification of the whole reference grid, written as a styled GeoTIFF.

The network is receptive-field exact (valid convolutions, stride 1), so one dense pass over a
block padded with a PATCH_SIZE//2 halo gives every pixel exactly its own patch's logits.
Memory is bounded by the block size, derived from a memory budget, not by the raster size.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import numpy as np
import rasterio
import torch

from ...models.network import FusionClassifier
from ..io.inputs import PreparedInputs
from ..io.patches import Block, iter_blocks, pad_reflect
from ..output.atomic import atomic_output
from ..output.styles import confidence_qml, paletted_qml, style_path
from ..progress import EtaClock, Progress

DEFAULT_MEMORY_MB = 1024


def nodata_code(classes: list) -> int:
    """0 unless a class uses it (then 255)."""
    return 255 if any(c.code == 0 for c in classes) else 0


def block_size_for(memory_mb: float, widest: int, bands: int, patch_size: int,
                   out_channels: int = 64) -> int:
    """Largest square block whose dense pass fits ``memory_mb``: float32 maps per pixel of the
    input bands, the widest expanded layer (twice: before and after the depthwise conv) and the
    output (logits: 64 channels at most; an embedding: its components), with a 3x margin. The
    folded heads never build the dim-channel map."""
    bytes_per_pixel = 4 * (bands + 2 * widest + max(64, out_channels)) * 3
    side = int(math.sqrt(max(memory_mb, 16) * 1024 * 1024 / bytes_per_pixel)) - (patch_size - 1)
    return max(16, min(1024, side))


def model_block_size(arch: dict, memory_mb: float, out_channels: int = 64) -> int:
    """:func:`block_size_for` for a model's ``architecture()``."""
    return block_size_for(memory_mb, max(arch["widths"] or [16]) * arch["expand_ratio"],
                          sum(arch["band_counts"]), arch["patch_size"], out_channels)


@dataclass
class DenseBlock:
    """One block of a dense pass: the padded model inputs and the core window's valid pixels."""

    block: Block
    inputs: list          # per modality (1, bands, rows + P - 1, cols + P - 1), channels-last
    valid: np.ndarray     # bool (rows, cols) of the core window

    @property
    def window(self) -> rasterio.windows.Window:
        b = self.block
        return rasterio.windows.Window(b.col0, b.row0, b.cols, b.rows)


def dense_blocks(prepared: PreparedInputs, patch_size: int, block_size: int, device: str = "cpu",
                 progress: Progress | None = None, action: str = "Classifying",
                 percent: tuple = (0.0, 100.0), only=None):
    """The one block-wise dense runner of classify, suggest and embed.

    Yields a :class:`DenseBlock` per block of the grid: read with a PATCH_SIZE//2 halo, reflect-
    padded at the raster edges, normalised like the model's training inputs. Memory is bounded by
    ``block_size``. Cancel is checked before each block; progress (within ``percent``) and ETA are
    reported after the caller has processed it. ``only(block)`` may skip blocks (not read)."""
    progress = progress or Progress()
    grid = prepared.stack.grid
    blocks = [b for b in iter_blocks(grid.height, grid.width, block_size, patch_size // 2)
              if only is None or only(b)]
    clock = EtaClock()
    progress.info(f"{action} {grid.width} × {grid.height} px in {len(blocks)} blocks of up to "
                  f"{block_size} × {block_size} px.")
    low, high = percent
    for i, b in enumerate(blocks):
        progress.check()
        arrays, valid = prepared.read(b.read_window)
        padded = [pad_reflect(a, b.pad_top, b.pad_bottom, b.pad_left, b.pad_right) for a in arrays]
        inputs = [torch.from_numpy(a)[None].to(device).contiguous(memory_format=torch.channels_last)
                  for a in padded]
        # The valid mask of the core window (the read window includes the halo).
        r0, c0 = b.row0 - b.read_row0, b.col0 - b.read_col0
        yield DenseBlock(b, inputs, valid[r0:r0 + b.rows, c0:c0 + b.cols])
        progress.set_percent(low + (high - low) * (i + 1) / len(blocks))
        progress.info(f"block {i + 1}/{len(blocks)}  {clock.eta_text((i + 1) / len(blocks))}")


def class_probabilities(fast: FusionClassifier, folded, inputs: list, device: str) -> torch.Tensor:
    """Dense softmax probabilities (K, rows, cols) of a block, in full float32."""
    with full_float32(device):
        logits = fast.forward_dense_folded(inputs, folded)[0]
    return torch.softmax(logits, dim=0)


def hex_to_rgb(color: str) -> tuple:
    color = color.lstrip("#")
    return tuple(int(color[i:i + 2], 16) for i in (0, 2, 4))


def raster_profile(grid, dtype, nodata, count=1) -> dict:
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
    grid = prepared.stack.grid
    block = model_block_size(arch, memory_mb)
    folded = model.folded_head()
    fast = model.inference_copy()
    nodata = nodata_code(classes)
    codes = np.array([c.code for c in classes], dtype=np.uint8)
    counts = np.zeros(len(classes), dtype=np.int64)
    n_blocks = 0
    with atomic_output(output_path, "classified raster") as tmp_out, \
            _maybe_atomic(confidence_path, "confidence raster") as tmp_conf:
        with rasterio.open(tmp_out, "w", **raster_profile(grid, "uint8", nodata)) as dst, \
                _maybe_open(tmp_conf, raster_profile(grid, "float32", -1.0)) as conf_dst:
            dst.write_colormap(1, {c.code: hex_to_rgb(c.color) + (255,) for c in classes})
            dst.set_band_description(1, "land-cover class")
            for part in dense_blocks(prepared, arch["patch_size"], block, device, progress):
                confidence, index = class_probabilities(fast, folded, part.inputs, device).max(dim=0)
                index = index.cpu().numpy()
                out = np.where(part.valid, codes[index], nodata).astype(np.uint8)
                counts += np.bincount(index[part.valid], minlength=len(classes))
                dst.write(out, 1, window=part.window)
                if conf_dst is not None:
                    conf = np.where(part.valid, confidence.cpu().numpy(), -1.0).astype(np.float32)
                    conf_dst.write(conf, 1, window=part.window)
                n_blocks += 1
        progress.check()  # a cancel during the last block must not publish the outputs
        # The styles travel with the files: QGIS loads '<name>.qml' as the default style.
        _write_text(style_path(output_path), paletted_qml(classes, nodata))
        if confidence_path:
            _write_text(style_path(confidence_path), confidence_qml(output_path))
    return {"pixels_per_class": {c.name: int(n) for c, n in zip(classes, counts)},
            "nodata": nodata, "block_size": block, "blocks": n_blocks}


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
