"""Self-supervised pretraining of the multimodal Siamese network (paper section II-B).

Each step draws valid pixel centres, cuts one PATCH_SIZE patch per modality x_k, computes
z_k = f(P_k(x_k)) and p_k = h(z_k), and minimises eq. (2) (or a comparator objective).
With one modality, two augmented views of the same patch stand in for two modalities.
The default objective, ``context``, is eq. (2) with each p_k computed from the patch without
its centre pixel, so that the features must tell from a pixel's surroundings in one sensor what
another sensor sees at the pixel (why_pretraining.md, section 13).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from ...models import augment, losses
from ...models.network import MultimodalSiamese
from ..errors import InputError
from ..io.patches import check_patch_size, extract_patches, pad_reflect, sample_valid_pixels, to_pixel_major
from ..progress import EtaClock, Progress

# simsiam: eq. (2); context: eq. (2) with p_k from the patch without its centre pixel (below);
# simclr, clip: the paper's Table II comparators (all four offered by the algorithms); barlow:
# Barlow Twins, a benchmark setting that lost (why_pretraining.md, section 8).
OBJECTIVES = ("simsiam", "context", "simclr", "clip", "barlow")
# Not the paper's simsiam: on all four scenes of few_labels.py (3 seeds × 3 spatially blocked
# folds, 5-20 % labels) context gave a better linear probe of z (+1 to +12 points) and a better
# network alone on three (Tahoe's collapses gone), the default classifier within 0.2 OA points,
# in 1.0-1.6x the time of dense simsiam (why_pretraining.md, section 13).
DEFAULT_OBJECTIVE = "context"
# The objectives of eq. (2) (a predictor, a stop-gradient, no negatives: collapse is watched for).
SIAMESE_OBJECTIVES = ("simsiam", "context")
# The paper uses 13. On 30 m EnMAP (Potsdam) 5 was clearly better under both splits, and pretraining
# still helped there (benchmarks/results/tune_potsdam.md), so the default follows our evaluation.
DEFAULT_PATCH_SIZE = 5
PRECISIONS = ("auto", "float32", "bfloat16")


@dataclass
class PretrainConfig:
    patch_size: int = DEFAULT_PATCH_SIZE
    # 25 epochs × 8,192 pixel centres (the paper: 100 epochs over every pixel). On Potsdam this
    # was as good downstream as 100 × 20,000 (benchmarks/results/tune_potsdam.md) at a ninth of
    # the cost: 1.1–4.5 min in float32 on 2 cores (performance.md). Fresh centres are drawn every
    # epoch, so a larger scene is sampled over the run without a longer epoch.
    epochs: int = 25
    batch_size: int = 512
    learning_rate: float = 0.002
    weight_decay: float = 1e-4
    samples_per_epoch: int = 8192
    seed: int = 42
    device: str = "cpu"
    objective: str = DEFAULT_OBJECTIVE
    dim: int = 2048
    pred_hidden: int = 512
    proj_channels: int = 16  # the paper's 16 kernels per modality's projection P_k (64: no gain, section 6)
    # Output widths of the encoder's blocks (None: models.network.default_widths; one block of 24
    # at PATCH_SIZE 5). z is affine in the last width, so it bounds z's independent values.
    widths: list | None = None
    # Dense training: the network is receptive-field exact, so one pass over a crop gives z for
    # each of its crop_size² pixels at a fraction of the per-patch cost (benchmarks/results/).
    # The context objective masks each patch's own centre, so it always trains patch by patch
    # (:func:`trains_dense`).
    dense: bool = True
    crop_size: int = 8
    # bfloat16 autocast of the forward pass (weights, optimiser and loss stay float32). 'auto'
    # uses it where the hardware multiplies bfloat16 natively (CPUs with AMX, CUDA GPUs with
    # bf16); there it made pretraining about 1.4x faster at the same downstream accuracy
    # (benchmarks/results/performance.md, finetune_potsdam.md).
    precision: str = "auto"
    # Two augmented views of every modality (D4 + noise, as in the unimodal case), so that eq. (2)
    # runs over 2n views: the cross-modal pairs of the paper plus each modality against itself.
    # The cross-modal pairs alone keep what the modalities share and may drop what only one of
    # them carries (benchmarks/results/why_pretraining.md, section 1). Off: on Potsdam the linear
    # probe of z gained 0.7-1.5 points but the fine-tuned network none, for twice the time
    # (why_pretraining.md, section 6).
    within_modality: bool = False
    # Mined positives (eq. (2) only): p_k is pulled towards the nearest other pixel of the batch
    # to z_j rather than z_j itself (models.losses.nearest_neighbour_targets). A benchmark setting.
    neighbour_positives: bool = False
    # The weight of Barlow Twins' off-diagonal term (objective 'barlow'); the paper's 0.0051.
    barlow_off_diagonal: float = 0.0051
    # The context objective's masked core: the centre pixel (1) or the centre c × c pixels. A
    # benchmark setting (why_pretraining.md, section 14).
    context_core: int = 1

    def validate(self):
        check_training_settings(self.patch_size, self.epochs, self.batch_size)
        if self.samples_per_epoch < 2:
            raise InputError("SAMPLES_PER_EPOCH must be at least 2.")
        if not self.learning_rate > 0:
            raise InputError("LEARNING_RATE must be greater than 0.")
        if self.objective not in OBJECTIVES:
            raise InputError(f"OBJECTIVE must be one of {', '.join(OBJECTIVES)}.")
        if self.precision not in PRECISIONS:
            raise InputError(f"PRECISION must be one of {', '.join(PRECISIONS)}.")
        if self.context_core % 2 == 0 or not 1 <= self.context_core < self.patch_size:
            raise InputError("The context objective's masked core must be odd and smaller than PATCH_SIZE.")
        if self.neighbour_positives and self.objective != "simsiam":
            raise InputError("Mined neighbour positives work with the simsiam objective only.")


def check_training_settings(patch_size: int, epochs: int, batch_size: int):
    check_patch_size(patch_size)
    if epochs < 1:
        raise InputError("EPOCHS must be at least 1.")
    if batch_size < 2:
        raise InputError("BATCH_SIZE must be at least 2 (batch normalisation needs two samples).")


@dataclass
class PretrainResult:
    model: MultimodalSiamese
    loss_history: list = field(default_factory=list)
    zstd_history: list = field(default_factory=list)
    collapsed: bool = False
    seconds: float = 0.0
    device: str = "cpu"
    precision: str = "float32"


def resolve_device(requested: str) -> str:
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise InputError("DEVICE is 'cuda' but no CUDA GPU is available to torch here. Use 'auto' "
                         "or 'cpu'.")
    if requested not in ("cpu", "cuda"):
        raise InputError(f"Unknown DEVICE '{requested}'; use auto, cpu or cuda.")
    return requested


def cpu_has_native_bfloat16() -> bool:
    """True on CPUs with AMX bfloat16 tiles, where bfloat16 matmuls run ~4x float32 (Linux only;
    elsewhere float32 is the safe choice)."""
    try:
        with open("/proc/cpuinfo") as f:
            return any(line.startswith("flags") and "amx_bf16" in line.split() for line in f)
    except OSError:
        return False


def resolve_precision(requested: str, device: str) -> str:
    """'auto' → 'bfloat16' where the device multiplies it natively, else 'float32'."""
    if requested not in PRECISIONS:
        raise InputError(f"Unknown PRECISION '{requested}'; use {', '.join(PRECISIONS)}.")
    if requested != "auto":
        return requested
    if device == "cuda":
        return "bfloat16" if torch.cuda.is_bf16_supported() else "float32"
    return "bfloat16" if cpu_has_native_bfloat16() else "float32"


def autocast(device: str, precision: str):
    """Forward-pass context: bfloat16 autocast, or nothing for float32."""
    if precision == "bfloat16":
        return torch.autocast(device_type=device, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def channels_last(tensors: list) -> list:
    return [t.contiguous(memory_format=torch.channels_last) for t in tensors]


class CropSource:
    """Square crops for dense training: ``crop_size``² pixel centres plus their patch halo."""

    def __init__(self, arrays: list, valid: np.ndarray, patch_size: int, crop_size: int):
        h = patch_size // 2
        self.size = max(1, min(crop_size, valid.shape[0], valid.shape[1]))
        self.window = self.size + patch_size - 1
        self.pixel_major = [to_pixel_major(pad_reflect(a, h, h, h, h)) for a in arrays]
        self.valid = valid

    def batch(self, anchor_rows: np.ndarray, anchor_cols: np.ndarray, device: str):
        """Crops around anchor pixels (kept inside the raster) → (inputs, valid mask (B, S, S))."""
        height, width = self.valid.shape
        r0 = np.clip(anchor_rows - self.size // 2, 0, height - self.size)
        c0 = np.clip(anchor_cols - self.size // 2, 0, width - self.size)
        # In padded coordinates the crop's input window starts at the crop's own top-left pixel.
        inputs = [torch.from_numpy(extract_patches(pm, r0, c0, self.window)).to(device)
                  for pm in self.pixel_major]
        mask = np.lib.stride_tricks.sliding_window_view(self.valid, (self.size, self.size))[r0, c0]
        return inputs, torch.from_numpy(np.ascontiguousarray(mask)).to(device)


class PatchSource:
    """Normalised modalities held padded and pixel-major, ready for one-gather patch batches."""

    def __init__(self, arrays: list, patch_size: int):
        h = patch_size // 2
        self.patch_size = patch_size
        self.pixel_major = [to_pixel_major(pad_reflect(a, h, h, h, h)) for a in arrays]

    @property
    def band_counts(self) -> list:
        return [pm.shape[-1] for pm in self.pixel_major]

    def batch(self, rows: np.ndarray, cols: np.ndarray, device: str) -> list:
        return [torch.from_numpy(extract_patches(pm, rows, cols, self.patch_size)).to(device)
                for pm in self.pixel_major]


def patch_source(inputs, patch_size: int):
    """Normalised arrays → PatchSource; a ready source (e.g. a scene.PatchBank) is kept."""
    return inputs if hasattr(inputs, "batch") else PatchSource(inputs, patch_size)


def trains_dense(config: PretrainConfig) -> bool:
    """Whether pretraining runs in dense crops: as set, except for the context objective."""
    return config.dense and config.objective != "context"


def objective_loss(config: PretrainConfig, z: list, p: list) -> torch.Tensor:
    if config.objective in SIAMESE_OBJECTIVES:
        return losses.multimodal_siamese_loss(p, z)  # eq. (2)
    if config.objective == "barlow":
        return losses.barlow_twins_loss(z, config.barlow_off_diagonal)
    return losses.COMPARATOR_LOSSES[config.objective](z)


def pretrain(arrays: list | None, valid: np.ndarray | None, config: PretrainConfig,
             progress: Progress | None = None, tile_pool=None) -> PretrainResult:
    """Pretrain on the valid pixels of normalised modalities ``arrays`` (list of (bands, H, W)).

    For a scene too large for memory pass ``tile_pool`` (:class:`.scene.TilePool`) instead of
    arrays and valid: each epoch then trains on a freshly drawn pool of tiles."""
    config.validate()
    progress = progress or Progress()
    device = resolve_device(config.device)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    augment_generator = torch.Generator().manual_seed(config.seed)
    if tile_pool is not None:
        arrays, valid = tile_pool.draw()
        n_valid = int(tile_pool.valid.sum())
        progress.info(f"The scene is larger than the memory budget: each epoch trains on "
                      f"{tile_pool.tiles_per_draw} random tiles of {tile_pool.slot - 2 * tile_pool.halo} px "
                      f"out of {int((tile_pool.valid_counts > 0).sum())}, read on demand.")
    else:
        n_valid = int(valid.sum())
    band_counts = [a.shape[0] for a in arrays]
    precision = resolve_precision(config.precision, device)
    model = MultimodalSiamese(band_counts, config.patch_size, proj_channels=config.proj_channels,
                              dim=config.dim, pred_hidden=config.pred_hidden, widths=config.widths).to(device)
    # Channels-last convolutions are markedly faster for these small crops (about 1.2x on CPU).
    model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate,
                                  weight_decay=config.weight_decay)
    # two augmented views of each modality, or the modalities as they are (the paper)
    augmented = len(arrays) == 1 or config.within_modality
    per_epoch = min(config.samples_per_epoch, n_valid) if n_valid >= 2 else config.samples_per_epoch
    source, units_per_step, units_per_epoch = _epoch_plan(arrays, valid, config, per_epoch)
    batches_per_epoch = max(1, math.ceil(units_per_epoch / units_per_step))
    total_batches = batches_per_epoch * config.epochs
    result = PretrainResult(model=model, device=device, precision=precision)
    clock = EtaClock()
    progress.info(f"Pretraining on {n_valid} valid pixels, {len(arrays)} modalities "
                  f"({', '.join(map(str, band_counts))} bands), about {per_epoch} samples per epoch"
                  f"{f' in {source.size}×{source.size} crops' if trains_dense(config) else ''}, "
                  f"objective {config.objective}, device {device}, {precision}.")
    done = 0
    for epoch in range(1, config.epochs + 1):
        if tile_pool is not None and epoch > 1:
            progress.check()
            arrays, valid = tile_pool.draw()
            source, units_per_step, units_per_epoch = _epoch_plan(arrays, valid, config, per_epoch)
        model.train()
        rows, cols = sample_valid_pixels(valid, units_per_epoch, rng)
        epoch_loss, epoch_std, steps = 0.0, 0.0, 0
        for start in range(0, units_per_epoch, units_per_step):
            progress.check()  # cancel is honoured within one batch
            r, c = rows[start:start + units_per_step], cols[start:start + units_per_step]
            with autocast(device, precision):
                if trains_dense(config):
                    z, p = _dense_forward(model, source, r, c, device, augmented, augment_generator)
                else:
                    z, p = _patch_forward(model, source, r, c, device, augmented, augment_generator,
                                          context=config.context_core if config.objective == "context" else 0)
            if z is None:
                continue  # batch norm cannot train on fewer than two samples
            z, p = [zk.float() for zk in z], [pk.float() for pk in p]  # the loss in float32
            targets = [losses.nearest_neighbour_targets(zk) for zk in z] if config.neighbour_positives else z
            loss = objective_loss(config, targets, p)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            epoch_loss += float(loss.detach())
            epoch_std += losses.representation_std(z[0].detach())
            steps += 1
            done += 1
            progress.set_percent(min(100.0, 100.0 * done / total_batches))
        mean_loss = epoch_loss / max(steps, 1)
        mean_std = epoch_std / max(steps, 1)
        result.loss_history.append(mean_loss)
        result.zstd_history.append(mean_std)
        progress.info(f"epoch {epoch}/{config.epochs}  loss {mean_loss:.4f}  z-std {mean_std:.4f} "
                      f"(healthy ≈ {1 / math.sqrt(config.dim):.4f})  {clock.eta_text(epoch / config.epochs)}")
        if config.objective in SIAMESE_OBJECTIVES and losses.is_collapsed(mean_std, config.dim) and not result.collapsed:
            result.collapsed = True
            progress.warn(f"Representation collapse at epoch {epoch}: the std of normalised z is "
                          f"{mean_std:.5f}, far below {1 / math.sqrt(config.dim):.4f}. The features "
                          "are becoming constant; try a lower LEARNING_RATE or more SAMPLES_PER_EPOCH.")
    result.seconds = clock.elapsed()
    model.to(memory_format=torch.contiguous_format)
    model.eval()
    return result


def _epoch_plan(arrays, valid, config, per_epoch):
    """(source, units per step, units per epoch): crops or patches so that a step sees about
    batch_size valid pixel centres and an epoch about ``per_epoch``."""
    if not trains_dense(config):
        return PatchSource(arrays, config.patch_size), config.batch_size, per_epoch
    source = CropSource(arrays, valid, config.patch_size, config.crop_size)
    crop_fraction = source.size ** 2 * max(valid.sum() / valid.size, 1e-3)
    units_per_step = max(2, int(round(config.batch_size / crop_fraction)))
    return source, units_per_step, max(units_per_step, int(round(per_epoch / crop_fraction)))


def _patch_forward(model, source, rows, cols, device, augmented, generator, context=0):
    """Straightforward form: one PATCH_SIZE patch per sample. With ``context`` (the context
    objective: the masked core's width, 1 = the centre pixel), z_j from the whole patches (targets
    only, no gradient) and p_k from the same patches with their centre masked (the band mean, 0
    after standardisation): eq. (2) then asks what sensor j sees at the pixel from sensor k's view
    of its surroundings, which the pixel's own spectrum cannot tell (why_pretraining.md, section 13)."""
    if len(rows) < 2:
        return None, None
    views = channels_last(source.batch(rows, cols, device))
    index = list(range(len(views)))
    if augmented:  # views of modality k: [k, k] (with one modality, eq. (2)'s two inputs)
        pairs = [augment.two_views(x, generator) for x in views]
        views, index = [v for pair in pairs for v in pair], [k for k in index for _ in range(2)]
    if not context:
        return model(views, projection_index=index)
    with torch.no_grad():
        z, _ = model(views, projection_index=index)
    _, p = model([augment.mask_centre(v, context) for v in views], projection_index=index)
    return z, p


def _dense_forward(model, source, rows, cols, device, augmented, generator):
    """Dense form: z of every valid pixel centre of each crop from one pass per crop."""
    inputs, mask = source.batch(rows, cols, device)
    inputs = channels_last(inputs)
    if int(mask.sum()) < 2:
        return None, None
    if augmented:  # each view's maps turned back onto the crop's own pixel positions
        maps = []
        for k, x in enumerate(inputs):
            view_1, view_2, align = augment.two_dense_views(x, generator)
            maps += [align(m, i) for i, m in enumerate(model.dense_maps([view_1, view_2], projection_index=[k, k]))]
    else:
        maps = model.dense_maps(inputs)
    return model.predict_positions(maps, mask)


def config_to_dict(config: PretrainConfig) -> dict:
    """The settings as run (``dense``: the form actually used, :func:`trains_dense`)."""
    return dict(asdict(config), dense=trains_dense(config))


#: Settings kept for repeating the benchmarks (why_pretraining.md sections 6-8); no algorithm sets them.
BENCHMARK_SETTINGS = ("widths", "within_modality", "neighbour_positives", "barlow_off_diagonal", "context_core")


def settings_for_report(training: dict, default: dict, benchmark_settings, shown=()) -> dict:
    """The settings an analyst's report lists: all of ``training`` but the benchmark settings
    left at their ``default`` values, unless named in ``shown`` (the model file keeps them all)."""
    return {key: value for key, value in training.items()
            if key not in benchmark_settings or value != default[key] or key in shown}


def reported_settings(training: dict) -> dict:
    """:func:`settings_for_report` of a pretraining run (the Barlow weight shown with its objective)."""
    shown = ("barlow_off_diagonal",) if training.get("objective") == "barlow" else ()
    return settings_for_report(training, asdict(PretrainConfig()), BENCHMARK_SETTINGS, shown)
