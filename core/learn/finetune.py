"""Few-shot training of the early-fusion classifier g (paper section II-C, eq. (3)).

g(z_H, z_M, z_S) = linear(f(z_H + z_M + z_S)): the projected modalities are summed, passed
through the encoder f (from pretraining or random) and one linear layer; cross-entropy loss.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from ...models.augment import random_dihedral
from ...models.network import FusionClassifier
from ..errors import InputError
from ..progress import EtaClock, Progress
from .pretraining import DEFAULT_PATCH_SIZE, check_training_settings, patch_source, resolve_device, settings_for_report
from .spectral import (DEFAULT_BAND_CONTEXT, add_spectral_path, check_band_context, out_of_fold_probabilities,
                       pixel_spectra, resolve_band_context, spectral_description, training_spectra)

# Defaults from our own evaluation (benchmarks/results/finetune_potsdam.md): with AdamW the
# paper's rates (0.009 fine-tune / 0.02 scratch) wrecked accuracy on Potsdam; a pretrained encoder
# did best at 1e-4, random initialisation at 5e-4.
FINETUNE_LEARNING_RATE = 1e-4
SCRATCH_LEARNING_RATE = 5e-4
PROBE_LEARNING_RATE = 1e-3  # g's linear layer alone, before fine-tuning (ClassifierConfig.probe_epochs)

# 'network': the paper's eq. (3) alone. 'ensemble': its class probabilities averaged (equal
# weights) with those of a spectral linear path, a shrinkage LDA on the centre pixel's bands of
# every modality (:mod:`.spectral`); 'linear': that path alone. The default is the most
# reliable of these in our few-label evaluation (benchmarks/results/few_labels.md).
CLASSIFIERS = ("network", "ensemble", "linear")
DEFAULT_CLASSIFIER = "ensemble"

# The 'ensemble' averages the probabilities of this many fine-tunings of g (seeds SEED, SEED + 1000,
# ...) before the spectral path joins. With few labels one fine-tuning's accuracy swings by several
# points from seed to seed; three of them averaged had fewer bad runs on every scene of
# benchmarks/results/few_labels.md ("Three fine-tunings"), for three times the network's share of
# training and classification time.
DEFAULT_NETWORKS = 3
MEMBER_SEED_STEP = 1000
DEFAULT_TEST_TIME_FLIPS = True


def ensemble_seeds(seed: int, networks: int) -> list:
    """The seeds of an ensemble's fine-tunings of g: ``seed``, ``seed + 1000``, ..."""
    return [seed + MEMBER_SEED_STEP * i for i in range(networks)]


@dataclass
class ClassifierConfig:
    patch_size: int = DEFAULT_PATCH_SIZE
    epochs: int = 60
    batch_size: int = 64
    learning_rate: float = 0.0  # 0 = our default for the chosen initialisation
    weight_decay: float = 1e-4
    augment: bool = True        # random flips / 90° rotations of training patches
    seed: int = 42
    device: str = "cpu"
    classifier: str = DEFAULT_CLASSIFIER
    # Switches for the ablations of benchmarks/results/why_pretraining.md section 4, all off: none
    # helped the network on every scene, and none moved the default ensemble by more than half a
    # point. Cross-entropy weighted by inverse class frequency; fine-tuning with BatchNorm kept on
    # its pretrained statistics; at least ``min_steps`` optimiser steps (with few labels ``epochs``
    # passes are few steps -- 37 labels, batch 64: 60 steps -- so the epochs are raised; 0 = epochs
    # as given).
    class_balanced: bool = False
    freeze_batchnorm: bool = False
    min_steps: int = 0
    # Linear probe, then fine-tune (LP-FT, Kumar et al. 2022): the first ``probe_epochs`` epochs
    # train only g's linear layer, at ``PROBE_LEARNING_RATE``, on a fixed f, so that a random head
    # does not send large gradients into the pretrained features; then everything is fine-tuned.
    # Only with a pretrained f. 0 = off: with 20 or 60 probe epochs the network still collapsed on
    # the same Tahoe folds, and lost up to 2.3 points on Potsdam (few_labels.md, "LP-FT").
    probe_epochs: int = 0
    # Each network learns the ensemble's likelihood instead of its own: the loss is
    # -log(½ p_network + ½ q_LDA) of the true class, q the spectral path's probability of each
    # training pixel from an LDA fitted without it (5-fold, out of fold), so the networks learn
    # most where the LDA is wrong (why_pretraining.md section 11). Off.
    ensemble_loss: bool = False
    networks: int = DEFAULT_NETWORKS  # fine-tunings of g in the 'ensemble' (one for 'network')
    # The 'ensemble' averages its networks' probabilities over the 8 flips and quarter turns of
    # every patch as well (test-time augmentation; saved in the model, so classify does the same).
    # On the three scenes at 5-20 % labels it never lowered a cell's mean OA and lifted Tahoe's
    # worst run (neutral at 40-100 %). The networks share the 8 views out (ceil(8 / networks)
    # each, models.network.view_sets): as accurate as every network over all 8 (within 0.1 OA
    # points per cell), at 9 network passes per block instead of 24 for 3 networks
    # (benchmarks/results/few_labels.md, "the networks share the test-time views out"; performance.md 2e, 2f).
    test_time_flips: bool = DEFAULT_TEST_TIME_FLIPS
    # The spectral path's inputs: 'auto' adds the patch's mean spectrum to the centre pixel's
    # bands when a spatially blocked cross-validation on the labels says it helps; 'on' / 'off'
    # force it (spectral.DEFAULT_BAND_CONTEXT; few_labels.md, fourteenth session).
    band_context: str = DEFAULT_BAND_CONTEXT

    def validate(self):
        check_training_settings(self.patch_size, self.epochs, self.batch_size)
        if self.learning_rate < 0:
            raise InputError("LEARNING_RATE must be 0 (automatic) or greater.")
        if self.min_steps < 0:
            raise InputError("The minimum number of optimiser steps (min_steps) must be 0 or greater.")
        if self.probe_epochs < 0:
            raise InputError("The linear-probe epochs (probe_epochs) must be 0 or greater.")
        if self.classifier not in CLASSIFIERS:
            raise InputError(f"CLASSIFIER must be one of {', '.join(CLASSIFIERS)}.")
        check_band_context(self.band_context)
        if isinstance(self.networks, bool) or int(self.networks) != self.networks or self.networks < 1:
            raise InputError(f"NETWORKS must be a whole number of at least 1, not {self.networks!r}.")

    def network_seeds(self) -> list:
        """The seed of each fine-tuning of g: none for 'linear', one for 'network', ``networks``
        for the 'ensemble'."""
        return ensemble_seeds(self.seed, {"linear": 0, "network": 1}.get(self.classifier, int(self.networks)))

    def effective_epochs(self, n_samples: int) -> int:
        """``epochs``, raised so that training takes at least ``min_steps`` optimiser steps."""
        steps_per_epoch = math.ceil(n_samples / max(1, min(self.batch_size, n_samples)))
        return max(self.epochs, math.ceil(self.min_steps / steps_per_epoch))

    def effective_learning_rate(self, pretrained: bool) -> float:
        if self.learning_rate > 0:
            return self.learning_rate
        return FINETUNE_LEARNING_RATE if pretrained else SCRATCH_LEARNING_RATE


@dataclass
class ClassifierResult:
    model: FusionClassifier
    loss_history: list = field(default_factory=list)
    train_accuracy_history: list = field(default_factory=list)
    learning_rate: float = 0.0
    seconds: float = 0.0
    device: str = "cpu"
    band_context: object = None  # spectral.ContextChoice of the spectral path ('ensemble', 'linear')


def stratified_split(class_index: np.ndarray, train_ratio: float, seed: int, names: list):
    """Indices (train, validation): ``train_ratio`` of each class trains, the rest validates."""
    if not 0 < train_ratio <= 1:
        raise InputError("TRAIN_RATIO must be greater than 0 and at most 1.")
    all_idx = np.arange(len(class_index))
    if train_ratio == 1:
        return all_idx, np.array([], dtype=np.int64)
    rng = np.random.default_rng(seed)
    train, val = [], []
    for k in np.unique(class_index):
        members = rng.permutation(all_idx[class_index == k])
        if len(members) < 2:
            raise InputError(f"Class '{names[k]}' has only {len(members)} usable sample; TRAIN_RATIO "
                             f"< 1 needs at least 2 per class (one to train, one to validate). Add "
                             "samples for that class, remove it, or set TRAIN_RATIO to 1.")
        n_train = min(len(members) - 1, max(1, int(round(train_ratio * len(members)))))
        train.append(members[:n_train])
        val.append(members[n_train:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


def train_classifier(arrays: list, rows: np.ndarray, cols: np.ndarray, targets: np.ndarray,
                     n_classes: int, config: ClassifierConfig, pretrained_state: dict | None = None,
                     architecture: dict | None = None, progress: Progress | None = None) -> ClassifierResult:
    """Train g on labelled pixels (rows, cols) with class indices ``targets`` (0..K-1).

    ``arrays``: the normalised modalities, or a patch source holding those pixels' patches."""
    config.validate()
    if len(rows) < 2:
        raise InputError(f"Only {len(rows)} labelled sample can be used for training; at least 2 are "
                         "needed. Check that the labels fall on valid pixels of every modality.")
    progress = progress or Progress()
    targets = np.asarray(targets)
    device = resolve_device(config.device)
    arch = dict(architecture or {})
    arch.pop("pred_hidden", None)
    source = patch_source(arrays, config.patch_size)
    arch.update(band_counts=source.band_counts, patch_size=config.patch_size, n_classes=n_classes)
    lr = config.effective_learning_rate(pretrained_state is not None)
    n = len(rows)
    steps_per_epoch = math.ceil(n / min(config.batch_size, n))
    epochs = config.effective_epochs(n)
    seeds = config.network_seeds()
    result = ClassifierResult(model=None, learning_rate=lr, device=device)
    clock = EtaClock()
    progress.info(f"Training the fusion classifier on {n} samples, {n_classes} classes, "
                  f"{'pretrained' if pretrained_state is not None else 'random'} encoder, "
                  f"learning rate {lr:g}, {epochs} epochs of {steps_per_epoch} steps, device {device}"
                  + (f"; {len(seeds)} networks from seeds {', '.join(map(str, seeds))}, their "
                     "probabilities averaged." if len(seeds) > 1 else "."))
    probe = config.probe_epochs if pretrained_state is not None else 0
    steps = _StepCounter(progress, clock, steps_per_epoch * (probe + epochs) * len(seeds))
    networks, losses, accuracies = [], [], []
    anchor = None
    if config.ensemble_loss and seeds:
        anchor = torch.as_tensor(out_of_fold_probabilities(
            pixel_spectra(source, rows, cols, config.patch_size), targets, n_classes, seed=config.seed),
            dtype=torch.float32)
    for i, seed in enumerate(seeds or [config.seed]):  # 'linear' keeps one untrained g (never run)
        model = _initial_network(arch, pretrained_state, seed).to(device)
        if seeds:
            label = f"network {i + 1}/{len(seeds)}  " if len(seeds) > 1 else ""
            loss, accuracy = [], []
            if probe:  # LP-FT: g's linear layer alone first, f fixed
                with _only_the_head_trainable(model):
                    loss, accuracy = _fit_network(model, source, rows, cols, targets, n_classes, config, seed,
                                                  PROBE_LEARNING_RATE, probe, device, steps, label + "linear probe  ",
                                                  anchor)
            more_loss, more_accuracy = _fit_network(model, source, rows, cols, targets, n_classes, config,
                                                    seed + probe, lr, epochs, device, steps, label, anchor)
            loss, accuracy = loss + more_loss, accuracy + more_accuracy
            losses.append(loss)
            accuracies.append(accuracy)
        networks.append(model.eval())
    # the training curves: the mean over the networks of each epoch's loss and accuracy
    result.loss_history = [float(np.mean(v)) for v in zip(*losses)]
    result.train_accuracy_history = [float(np.mean(v)) for v in zip(*accuracies)]
    result.model = networks[0]
    if config.classifier != "network":
        progress.check()
        spectra = training_spectra(config.band_context, source, rows, cols, config.patch_size)
        choice = resolve_band_context(config.band_context, spectra, rows, cols, targets, n_classes,
                                      config.patch_size, config.seed, progress.check)
        result.band_context = choice
        progress.info("Spectral path: " + choice.sentence(config.patch_size))
        result.model = add_spectral_path(networks[0].cpu(), source, rows, cols, targets,
                                         config.classifier, pretrained_state, architecture,
                                         context=choice.use, members=[m.cpu() for m in networks[1:]],
                                         test_time_flips=config.test_time_flips, spectra=spectra).to(device)
        progress.info(f"Added the spectral path: {spectral_description(result.model.architecture())}, "
                      + ("used alone." if config.classifier == "linear" else "its class probabilities "
                         "averaged with the network's" + (f" ({len(networks)} networks' mean)."
                                                          if len(networks) > 1 else ".")))
    result.seconds = clock.elapsed()
    return result


def _initial_network(arch: dict, pretrained_state: dict | None, seed: int) -> FusionClassifier:
    """g before fine-tuning: a random linear layer (from ``seed``) on the pretrained or random f."""
    torch.manual_seed(seed)
    model = FusionClassifier.from_architecture(arch)
    if pretrained_state is not None:
        try:
            model.load_pretrained(pretrained_state)
        except ValueError as exc:
            raise InputError(f"The pretrained model does not fit these inputs: {exc}.") from exc
    return model


class _StepCounter:
    """Progress over the optimiser steps of every network trained in one call."""

    def __init__(self, progress: Progress, clock: EtaClock, total: int):
        self.progress, self.clock, self.total, self.done = progress, clock, max(total, 1), 0

    def step(self):
        self.done += 1
        self.progress.set_percent(100.0 * self.done / self.total)

    def eta(self) -> str:
        return self.clock.eta_text(self.done / self.total)


@contextlib.contextmanager
def _only_the_head_trainable(model: FusionClassifier):
    """While inside: every parameter but g's linear layer fixed (the linear probe of LP-FT)."""
    fixed = [p for name, p in model.named_parameters() if p.requires_grad and not name.startswith("linear.")]
    for parameter in fixed:
        parameter.requires_grad_(False)
    try:
        yield
    finally:
        for parameter in fixed:
            parameter.requires_grad_(True)


def _fit_network(model, source, rows, cols, targets, n_classes, config, seed, lr, epochs, device,
                 steps: _StepCounter, label: str, anchor: torch.Tensor | None = None) -> tuple:
    """Fine-tune g's trainable parameters in place with cross-entropy (batch order and augmentation
    from ``seed``); with ``anchor`` (N, K), the other half of an equal mixture: the loss is
    -log(½ softmax + ½ anchor) of the true class. Returns (each epoch's loss, each epoch's
    training accuracy)."""
    rng = np.random.default_rng(seed)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr,
                                  weight_decay=config.weight_decay)
    target_tensor = torch.from_numpy(np.asarray(targets, dtype=np.int64))
    class_weight = None
    if config.class_balanced:
        counts = np.bincount(target_tensor.numpy(), minlength=n_classes).astype(np.float64)
        class_weight = torch.tensor(np.where(counts > 0, counts.sum() / (n_classes * np.maximum(counts, 1)), 1.0),
                                    dtype=torch.float32, device=device)
    n = len(rows)
    batch = min(config.batch_size, n)
    losses, accuracies = [], []
    for epoch in range(1, epochs + 1):
        model.train()
        if config.freeze_batchnorm:
            for module in model.modules():
                if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                    module.eval()
        order = rng.permutation(n)
        total_loss, correct, seen = 0.0, 0, 0
        for start in range(0, n, batch):
            steps.progress.check()
            idx = order[start:start + batch]
            if len(idx) < 2:
                continue
            inputs = source.batch(rows[idx], cols[idx], device)
            if config.augment:
                inputs = random_dihedral(inputs, generator)
            y = target_tensor[idx].to(device)
            logits = model(inputs)
            if anchor is None:
                loss = F.cross_entropy(logits, y, weight=class_weight)
            else:
                mixed = 0.5 * torch.softmax(logits, 1) + 0.5 * anchor[idx].to(device)
                loss = F.nll_loss(torch.log(mixed.clamp_min(1e-12)), y, weight=class_weight)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total_loss += float(loss.detach()) * len(idx)
            correct += int((logits.argmax(1) == y).sum())
            seen += len(idx)
            steps.step()
        losses.append(total_loss / max(seen, 1))
        accuracies.append(correct / max(seen, 1))
        steps.progress.info(f"{label}epoch {epoch}/{epochs}  loss {losses[-1]:.4f}  "
                            f"train accuracy {100 * accuracies[-1]:.1f} %  {steps.eta()}")
    return losses, accuracies


@torch.inference_mode()
def predict_samples(model: FusionClassifier, arrays: list, rows: np.ndarray, cols: np.ndarray,
                    device: str = "cpu", batch_size: int = 512) -> tuple:
    """Per-patch class indices and softmax probabilities at (rows, cols)."""
    model.eval()
    source = patch_source(arrays, model.architecture()["patch_size"])
    probabilities = []
    for start in range(0, len(rows), batch_size):
        inputs = source.batch(rows[start:start + batch_size], cols[start:start + batch_size], device)
        probabilities.append(torch.softmax(model(inputs), dim=1).cpu().numpy())
    if not probabilities:
        return np.array([], dtype=np.int64), np.zeros((0, model.architecture()["n_classes"]))
    p = np.concatenate(probabilities)
    return p.argmax(1), p


def config_to_dict(config: ClassifierConfig) -> dict:
    return asdict(config)


#: The ablation switches of why_pretraining.md sections 4-5; no algorithm sets them.
BENCHMARK_SETTINGS = ("class_balanced", "freeze_batchnorm", "min_steps", "probe_epochs", "ensemble_loss")


def reported_settings(training: dict) -> dict:
    """:func:`.pretraining.settings_for_report` of a classifier's training run."""
    return settings_for_report(training, asdict(ClassifierConfig()), BENCHMARK_SETTINGS)
