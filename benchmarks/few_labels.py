"""Few-label benchmark: the default classifier against the best classic classifiers, over folds AND seeds.

    .venv/bin/python benchmarks/few_labels.py --scene potsdam --seed 42 [--split blocks]
        [--folds 3] [--ratios 0.05,0.1,0.2] [--pretrain-epochs 25] [--pretrain-samples 8192]
    .venv/bin/python benchmarks/few_labels.py --summary potsdam_blocks tahoe_blocks ...
    .venv/bin/python benchmarks/few_labels.py --scene tahoe --seed 42 --lean --no-default --tag _bn \
        --variants steps300,prebn,steps300+prebn      # fine-tuning variants beside the network
    .venv/bin/python benchmarks/few_labels.py --targets potsdam_blocks ...      # the issue's targets
    .venv/bin/python benchmarks/few_labels.py --variant-table tahoe_blocks_bn --methods network,...

One run = one scene × split × seed (chunk the benchmark so that each stays a few minutes). The
pretrained checkpoint of each scene × seed is cached in benchmarks/out/ (pretraining is
label-free, so one per seed serves every fold and ratio). Every fold × ratio × method is one row
of benchmarks/out/few_labels_<scene>_<split>_s<seed>.csv, so spread over folds and seeds can be
reported; ``--summary`` gathers those CSVs into a Markdown table (mean, std over fold × seed
runs, per-seed means, and how often each method is within 2 points of the best classic).

Methods (all on the same training and test pixels):
- classics on the standardised centre-pixel bands of all modalities: ``forest`` (300 trees),
  ``lda`` (scikit-learn's shrinkage LDA), ``logistic`` (C = 0.1); ``plda`` / ``plda_ctx``: the
  product's spectral-path LDA since the seventeenth session (one covariance for all classes, OAS),
  on the bands / with the patch mean;
- ``network``: the paper's eq. (3) fine-tuned from the pretrained encoder (the old default);
  ``network_random``: the same from random weights; ``ensemble_random`` (``--random-init``): the
  default with its networks fine-tuned from random weights;
- ``probe_z``: logistic regression on the standardised pretrained z alone (linear probe), the
  product's ``spectral.probe_logits`` since the twenty-first session (before: a second fit of the
  same model on all of z by scikit-learn, up to 1.4 points apart);
- ``lda_zK`` / ``logistic_zK``: the spectral path, [bands ‖ K whitened PCs of pretrained z];
  ``forest_z16``: the forest on the same features;
- ``ens_*``: the network's and a linear model's probabilities averaged (``ens_lda``: the default
  with one network);
- ``ensemble`` (unless ``--no-default``): the product's default classifier, trained as
  ``mmsiam:trainclassifier`` trains it (three networks and the LDA; since the ninth session with
  test-time flips and rotations); with ``--tta`` also ``ensemble_tta`` / ``ensemble_noflips``,
  the same networks with and without those flips (``--save-views``: also every network's test
  probabilities on each of the 8 views apart, for ``test_time_views.py``);
- ``network_<variant>`` / ``ens_lda_<variant>`` (``--variants``): the network fine-tuned another way
  (see ``variant_overrides``), alone and averaged with the LDA;
- ``network_pm`` / ``ens_lda_pm`` (``--prior-match``): the network with its class marginal over
  4,096 unlabelled scene pixels matched to the LDA's, alone and averaged with the LDA.

``--pretrain-variant`` pretrains another way (see ``pretrain_overrides``; use with ``--tag``).
"""

import argparse
import csv
import glob
import os
import platform
import subprocess
import time

import numpy as np
import torch

from plugin_path import ROOT  # noqa: E402  (makes multimodal_siamese importable)

from multimodal_siamese.core.io import raster  # noqa: E402
from multimodal_siamese.core.learn.evaluation import block_folds, random_folds, subsample  # noqa: E402
from multimodal_siamese.core.learn.finetune import ClassifierConfig, predict_samples, train_classifier  # noqa: E402
from multimodal_siamese.core.io.inputs import GridOptions, prepare  # noqa: E402
from multimodal_siamese.core.io.labels import read_label_features, rasterize_labels  # noqa: E402
from multimodal_siamese.core.learn.metrics import accuracy_assessment  # noqa: E402
from multimodal_siamese.core.learn.pretraining import PatchSource, PretrainConfig, pretrain  # noqa: E402
from multimodal_siamese.core.learn.spectral import (  # noqa: E402
    average_probabilities, fit_spectral_path, pixel_spectra, pretrained_z, probe_logits, spectral_logits,
    z_rank_bound)
from multimodal_siamese.models.augment import dihedral  # noqa: E402
from multimodal_siamese.models.network import (  # noqa: E402
    FusionClassifier, MultimodalSiamese, classifier_from_architecture, view_sets)

DATA = os.path.join(ROOT, "..", "shared", "data")
# The 'lda' rows are scikit-learn's shrinkage LDA, the classic baseline (spectral model
# 'sklearn_lda', as in every CSV before the seventeenth session); the 'plda' rows are the product's
# spectral-path LDA since then (one within-class covariance shrunk by the OAS estimate, model 'lda')
FIT_MODEL = {"lda": "sklearn_lda", "logistic": "logistic", "plda": "lda"}
OUT = os.path.join(ROOT, "benchmarks", "out")
SCENES = {
    "potsdam": ([("HYPERSPECTRAL", "potsdam/enmap_potsdam_vnir.vrt"),
                 ("MULTISPECTRAL", "potsdam/enmap_potsdam_swir.vrt")],
                "potsdam/landcover_potsdam_samples.gpkg", "class_id"),
    "tahoe": ([("MULTISPECTRAL", "tahoe/tahoe_highrez.tif"), ("SAR", "tahoe/tahoe_lidar_highesthit.tif")],
              "tahoe/tahoe_training_polygons.gpkg", "Class"),
    "para": ([("MULTISPECTRAL", "para_sentinel2/sen2.tif"), ("SAR", "para_sentinel2/srtm_sen2.tif")],
             "para_sentinel2/training_polygons_sen2.gpkg", "class"),
    # Tahoe with the LiDAR's height above ground (first return − bare earth, made by canopy_height())
    # instead of the first return's height above sea level
    "tahoe_chm": ([("MULTISPECTRAL", "tahoe/tahoe_highrez.tif"), ("SAR", os.path.join(OUT, "tahoe_chm.tif"))],
                  "tahoe/tahoe_training_polygons.gpkg", "Class"),
}
CLASSICS = ("forest", "lda", "logistic")
# names in the summary tables. 'ensemble' is what mmsiam:trainclassifier trains by default
# (ClassifierConfig's defaults; since the 3-network change: three fine-tunings of g beside the LDA);
# 'ens_lda' one fine-tuning beside the LDA, the default before it (and named so in CSV sets run
# with --no-default).
DISPLAY = {"ensemble": "**ensemble (default: 3 networks + LDA)**", "ens_lda": "ensemble, 1 network + LDA",
           "ensemble_tta": "ensemble, test-time flips", "ensemble_noflips": "ensemble, no test-time flips",
           "network": "network, pretrained (eq. 3)",
           "network_random": "network, random init", "ensemble_random": "ensemble, random init",
           "probe_z": "linear probe of z",
           "lda": "shrinkage LDA", "logistic": "logistic regression", "forest": "random forest",
           "lda_ctx": "LDA + patch mean", "plda": "LDA, one covariance (the default's)",
           "plda_ctx": "LDA, one covariance, + patch mean",
           "lda_z16": "LDA + 16 PCs of z", "ens75_lda": "ensemble, network weight 0.75",
           "ens25_lda": "ensemble, network weight 0.25"}
VARIANT_WORDS = {"steps": "≥ {} steps", "bnfrozen": "BatchNorm frozen (pretrained statistics)",
                 "prebn": "BatchNorm re-estimated on the scene, then frozen",
                 "adabn": "BatchNorm re-estimated on the scene after training",
                 "balanced": "class-balanced loss", "lr": "lr {}", "random": "random init",
                 "seed": "seed + {}", "soup": "weights of {} fine-tunings averaged",
                 "tta": "test-time flips and rotations", "mix": "trained on the ensemble's likelihood"}


def display(name):
    """A method's name in the tables; network variants spelt out ('network_steps300+prebn')."""
    if name in DISPLAY:
        return DISPLAY[name]
    for prefix, label in (("network_", "network, "), ("ens_lda_", "ensemble, network ")):
        if name.startswith(prefix):
            words = []
            for token in name[len(prefix):].split("+"):
                key = next((k for k in VARIANT_WORDS if token.startswith(k)), None)
                words.append(token if key is None else VARIANT_WORDS[key].format(token[len(key):]))
            return label + " + ".join(words)
    return name


def canopy_height(path=os.path.join(OUT, "tahoe_chm.tif")):
    """Tahoe's first-return surface minus its bare earth (same grid): height above ground, in m."""
    if os.path.exists(path):
        return
    import rasterio

    with rasterio.open(os.path.join(DATA, "tahoe/tahoe_lidar_highesthit.tif")) as first, \
            rasterio.open(os.path.join(DATA, "tahoe/tahoe_lidar_bareearth.tif")) as ground:
        profile = first.profile
        height = first.read(1).astype(np.float32) - ground.read(1).astype(np.float32)
    os.makedirs(OUT, exist_ok=True)
    with rasterio.open(path, "w", **profile) as out:
        out.write(height, 1)


def load_scene(name):
    if name == "tahoe_chm":
        canopy_height()
    modalities, labels_path, field = SCENES[name]
    prepared = prepare([raster.ModalityInput(slot, os.path.join(DATA, path)) for slot, path in modalities],
                       GridOptions(), 0)
    try:
        arrays, valid = prepared.read()
        grid = prepared.stack.grid
    finally:
        prepared.close()
    samples = rasterize_labels(read_label_features(os.path.join(DATA, labels_path), field), grid, valid)
    return arrays, valid, samples


#: The pretraining variant of the product's default (the context objective, since the sixteenth session).
DEFAULT_PRETRAIN_VARIANT = "ctx"


def pretrain_overrides(variant):
    """'wm+proj64' -> PretrainConfig overrides: wm = within_modality views, projN = N
    channels per projection P_k, widthN(-M…) = the encoder's block widths, barlow / simclr /
    clip = that objective instead of eq. (2), offdiagW = Barlow Twins' off-diagonal weight W,
    nn = eq. (2) against the nearest pixel of the batch, ctx = the context objective (eq. (2) with p
    from the patch without its centre pixel, patch form: the product's default; ctx+core3: without its
    centre 3 × 3 pixels), simsiam = eq. (2)
    on whole patches in dense crops (the default before), patch = the same in patch form (ctx's twin).
    Without ctx, the other tokens change eq. (2) as it is in dense form (simsiam), as when they were run."""
    tokens = [token for token in variant.split("+") if token]
    overrides = {} if "ctx" in tokens else {"objective": "simsiam"}
    for token in tokens:
        if token == "wm":
            overrides["within_modality"] = True
        elif token == "nn":  # mined positives: the nearest pixel of the batch as eq. (2)'s target
            overrides["neighbour_positives"] = True
        elif token == "ctx":  # the context objective: p from the patch without its centre (patch form)
            overrides["objective"] = "context"
        elif token == "simsiam":  # eq. (2) on whole patches, dense (the default until the sixteenth session)
            overrides["objective"] = "simsiam"
        elif token == "patch":  # eq. (2) on whole patches, patch form (the twin of ctx without the mask)
            overrides.update(objective="simsiam", dense=False)
        elif token in ("barlow", "simclr", "clip"):  # another objective than eq. (2)
            overrides["objective"] = token
        elif token.startswith("core"):  # the context objective's masked core, e.g. core3 (3 × 3 pixels)
            overrides["context_core"] = int(token[4:])
        elif token.startswith("offdiag"):  # Barlow Twins' off-diagonal weight, e.g. offdiag0.00049
            overrides["barlow_off_diagonal"] = float(token[7:])
        elif token.startswith("proj"):
            overrides["proj_channels"] = int(token[4:])
        elif token.startswith("width"):  # the encoder's block widths, e.g. width128 (one block at PATCH_SIZE 5)
            overrides["widths"] = [int(w) for w in token[5:].split("-")]
        else:
            raise ValueError(f"unknown pretraining variant {token!r}")
    return overrides


def pretrained_checkpoint(name, arrays, valid, seed, epochs, samples_per_epoch, patch_size, variant=""):
    """Pretrained state dict + architecture for scene × seed (× pretraining variant), computed once and cached."""
    # The checkpoints without a suffix are eq. (2) in dense crops, the default until the sixteenth
    # session; no variant is the product's default of today, the context objective.
    variant = variant or DEFAULT_PRETRAIN_VARIANT
    suffix = "" if variant == "simsiam" else f"_{variant}"
    path = os.path.join(OUT, f"pretrained_{name}_p{patch_size}_{epochs}x{samples_per_epoch}{suffix}_s{seed}.pt")
    if os.path.exists(path):
        return torch.load(path, weights_only=True)
    config = PretrainConfig(patch_size=patch_size, epochs=epochs, samples_per_epoch=samples_per_epoch, seed=seed,
                            **pretrain_overrides(variant))
    started = time.time()
    result = pretrain(arrays, valid, config)
    cached = {"state_dict": result.model.state_dict(), "architecture": result.model.architecture(),
              "seconds": time.time() - started, "zstd": result.zstd_history[-1]}
    torch.save(cached, path)
    print(f"pretrained {name} seed {seed} in {cached['seconds']:.0f} s, z-std {cached['zstd']:.4f}", flush=True)
    return cached


def variant_overrides(variant):
    """'steps600+bnfrozen+lr3e-4' -> (pretrained?, ClassifierConfig overrides); 'random' = random init."""
    overrides, pretrained = {}, True
    for token in variant.split("+"):
        if token == "random":
            pretrained = False
        elif token == "bnfrozen":
            overrides["freeze_batchnorm"] = True
        elif token == "prebn":
            overrides.update(prebn=True, freeze_batchnorm=True)
        elif token == "adabn":
            overrides["adabn"] = True
        elif token == "balanced":
            overrides["class_balanced"] = True
        elif token.startswith("steps"):
            overrides["min_steps"] = int(token[5:])
        elif token.startswith("lr"):
            overrides["learning_rate"] = float(token[2:])
        elif token.startswith("seed"):  # another initialisation and batch order: seed + N
            overrides["seed_offset"] = int(token[4:])
        elif token.startswith("epochs"):
            overrides["epochs"] = int(token[6:])
        elif token.startswith("lp"):  # linear probe for N epochs, then fine-tune (LP-FT)
            overrides["probe_epochs"] = int(token[2:])
        elif token == "mix":  # the ensemble's likelihood with the LDA's out-of-fold probabilities
            overrides["ensemble_loss"] = True
        elif token == "tta":  # test-time augmentation: probabilities averaged over the 8 flips / rotations
            overrides["tta"] = True
        elif token.startswith("soup"):  # N fine-tunings (seeds + 0, 1000, ...), their weights averaged
            overrides["soup"] = int(token[4:])
        else:
            raise ValueError(f"unknown network variant {token!r}")
    return pretrained, overrides


@torch.no_grad()
def predict_dihedral(model, source, rows, cols, batch=512):
    """Test-time augmentation: the mean of the class probabilities over the 8 flips / quarter
    turns of D4, the same element for every modality of a patch (their centre stays the centre)."""
    model.eval()
    out = []
    for i in range(0, len(rows), batch):
        inputs = source.batch(rows[i:i + batch], cols[i:i + batch], "cpu")
        out.append(sum(torch.softmax(model([dihedral(x, t) for x in inputs]), 1) for t in range(8)).numpy() / 8)
    return np.concatenate(out)


@torch.no_grad()
def network_views(model, source, rows, cols, batch=512):
    """The default's parts at (rows, cols): each network's class probabilities on each of the 8
    D4 views, (networks, 8, N, K), and the spectral path's (the LDA's), (N, K). The default with
    flips is log(½ mean over its (network, view) pairs + ½ LDA); other sets of views are subsets
    of axis 1."""
    model.eval()
    nets = [lambda x: FusionClassifier.forward(model, x)] + list(model.members)
    views, lda = [], []
    for i in range(0, len(rows), batch):
        inputs = source.batch(rows[i:i + batch], cols[i:i + batch], "cpu")
        views.append(torch.stack([torch.stack([torch.softmax(net([dihedral(x, t) for x in inputs]), 1)
                                               for t in range(8)]) for net in nets]).numpy())
        lda.append(torch.softmax(model.spectral_dense(inputs).flatten(1), 1).numpy())
    return np.concatenate(views, 2), np.concatenate(lda)


def from_views(views, lda, sets):
    """The default's class probabilities rebuilt from :func:`network_views`' parts, with network i
    looking at the D4 elements ``sets[i]``: ½ the mean over those (network, view) pairs + ½ LDA."""
    return 0.5 * np.mean([views[i, t] for i, ts in enumerate(sets) for t in ts], 0) + 0.5 * lda


@torch.no_grad()
def recalibrate_batchnorm(model, source, valid, seed, n=4096, batch=512):
    """AdaBN: BatchNorm running statistics re-estimated on n random valid pixels of the scene."""
    vr, vc = np.nonzero(valid)
    pick = np.random.default_rng(seed).choice(len(vr), min(n, len(vr)), replace=False)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    model.train()
    for i in range(0, len(pick), batch):
        model(source.batch(vr[pick[i:i + batch]], vc[pick[i:i + batch]], "cpu"))
    model.eval()


def training_part(train_all, y, ratio, seed, fold_index):
    """A run's training pixels: a stratified ``ratio`` of the fold's training part, drawn from
    ``seed + fold_index`` (0-based), so every benchmark compared with these runs has the same pixels."""
    return subsample(train_all, y, ratio, np.random.default_rng(seed + fold_index))


def score(codes, classes, y_true, logits_or_pred):
    predicted = logits_or_pred if logits_or_pred.ndim == 1 else logits_or_pred.argmax(1)
    a = accuracy_assessment(codes[y_true], codes[predicted], classes)
    return a["overall_accuracy"], a["mean_iou"], a["average_accuracy"]


def run(args):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.preprocessing import StandardScaler

    torch.set_num_threads(2)
    os.makedirs(OUT, exist_ok=True)
    arrays, valid, samples = load_scene(args.scene)
    rows, cols, y = samples.rows, samples.cols, samples.class_index
    n_classes = len(samples.classes)
    codes = np.array([c.code for c in samples.classes])
    patch = args.patch_size
    ckpt = pretrained_checkpoint(args.scene, arrays, valid, args.seed, args.pretrain_epochs,
                                 args.pretrain_samples, patch, args.pretrain_variant)
    siamese = MultimodalSiamese.from_architecture(ckpt["architecture"])
    siamese.load_state_dict(ckpt["state_dict"])
    source = PatchSource(arrays, patch)
    bands = pixel_spectra(source, rows, cols, patch)
    z = pretrained_z(siamese.projections, siamese.encoder, source, rows, cols)
    z_rank = z_rank_bound(siamese.projections, siamese.encoder)  # for the product's linear probe
    ctx = pixel_spectra(source, rows, cols, patch, context=True)  # + the patch's mean spectrum
    with torch.no_grad():  # the pretrained 16-channel projections P_k at the centre pixel
        h = patch // 2
        proj_centre = np.concatenate([
            np.concatenate([p(x[:, :, h - 1:h + 2, h - 1:h + 2]).flatten(1).numpy()
                            for p, x in zip(siamese.projections, source.batch(rows[i:i + 2048], cols[i:i + 2048], "cpu"))], 1)
            for i in range(0, len(rows), 2048)])
    if args.split == "blocks":
        folds = block_folds(rows, cols, args.folds, args.block_size, patch, arrays[0].shape[1:], args.seed, y)
    else:
        folds = random_folds(y, args.folds, args.seed)
    out_path = os.path.join(OUT, f"few_labels_{args.scene}_{args.split}{args.tag}_s{args.seed}.csv")
    header = ["scene", "split", "seed", "fold", "ratio", "method", "train", "test", "OA", "mIoU", "AA", "seconds"]
    done = set()  # (fold, ratio) already in the CSV: a chunk cut by the time limit resumes there
    if os.path.exists(out_path):
        with open(out_path, newline="") as fh:
            done = {(int(r["fold"]), float(r["ratio"])) for r in csv.DictReader(fh)}
    else:
        with open(out_path, "w", newline="") as fh:
            csv.writer(fh).writerow(header)
    for f, (train_all, test) in enumerate(folds):
        for ratio in args.ratios:
            if (f + 1, ratio) in done:
                continue
            records = []
            train = training_part(train_all, y, ratio, args.seed, f)
            logits = {}
            seconds = {}

            def timed(name, fn):
                t = time.time()
                logits[name] = fn()
                seconds[name] = time.time() - t

            scaler = StandardScaler().fit(bands[train])
            xb_train, xb_test = scaler.transform(bands[train]), scaler.transform(bands[test])
            timed("forest", lambda: RandomForestClassifier(300, n_jobs=2, random_state=args.seed + f)
                  .fit(bands[train], y[train]).predict(bands[test]))
            for model in ("lda", "logistic", "plda"):
                timed(model, lambda: spectral_logits(fit_spectral_path(bands[train], None, y[train], n_classes,
                                                                       FIT_MODEL[model]), bands[test], None))
                for k in args.components if model != "plda" else ():
                    timed(f"{model}_z{k}", lambda: spectral_logits(
                        fit_spectral_path(bands[train], z[train], y[train], n_classes, FIT_MODEL[model], k),
                        bands[test], z[test]))
            for name, feats_, model in () if args.lean else (
                    ("lda_cal", bands, "sklearn_lda"), ("lda_ctx_cal", ctx, "sklearn_lda"),
                    ("logistic_ctx_cal", ctx, "logistic")):  # temperature-calibrated
                timed(name, lambda: spectral_logits(fit_spectral_path(
                    feats_[train], None, y[train], n_classes, model, calibrate=True), feats_[test], None))
            for model in ("lda", "logistic", "plda"):  # + the patch's mean spectrum (an exact P×P average pool)
                timed(f"{model}_ctx", lambda: spectral_logits(
                    fit_spectral_path(ctx[train], None, y[train], n_classes, FIT_MODEL[model]), ctx[test], None))
                if not args.lean and model != "plda":
                    timed(f"{model}_ctx_z16", lambda: spectral_logits(
                        fit_spectral_path(ctx[train], z[train], y[train], n_classes, FIT_MODEL[model], 16),
                        ctx[test], z[test]))
            # the product's linear probe (mmsiam:evaluate's 'linear probe of z' row), not a second fit
            timed("probe_z", lambda: probe_logits(z[train], y[train], z[test], n_classes, z_rank))
            if not args.lean:
                path16 = fit_spectral_path(bands[train], z[train], y[train], n_classes, "sklearn_lda", 16)
                feats = lambda idx: np.concatenate(  # noqa: E731
                    [bands[idx], (z[idx] - path16["z_mean"]) @ path16["z_projection"].T], 1)
                timed("forest_z16", lambda: RandomForestClassifier(300, n_jobs=2, random_state=args.seed + f)
                      .fit(feats(train), y[train]).predict(feats(test)))
            def fit_network(init=ckpt, adabn=False, prebn=False, seed_offset=0, soup=0, model_only=False,
                            tta=False, **overrides):
                if soup:  # a uniform "model soup": the members' weights (and BN statistics) averaged
                    models = [fit_network(init, adabn, prebn, seed_offset + 1000 * i, model_only=True, **overrides)
                              for i in range(soup)]
                    states = [m.state_dict() for m in models]
                    models[0].load_state_dict({k: (sum(s[k].double() for s in states) / soup).to(v.dtype)
                                               if v.is_floating_point() else v for k, v in states[0].items()})
                    _, p = predict_samples(models[0], source, rows[test], cols[test])
                    return np.log(np.clip(p, 1e-12, 1))
                config = ClassifierConfig(**dict(dict(patch_size=patch, epochs=args.epochs,
                                                      seed=args.seed + f + seed_offset,
                                                      classifier="network"), **overrides))
                load = FusionClassifier.load_pretrained
                if prebn:  # the pretrained BatchNorm statistics re-estimated for the fused input, then frozen
                    def load_and_recalibrate(model, state):
                        loaded = load(model, state)
                        recalibrate_batchnorm(model, source, valid, args.seed + f)
                        return loaded
                    FusionClassifier.load_pretrained = load_and_recalibrate
                try:
                    result = train_classifier(source, rows[train], cols[train], y[train], n_classes, config,
                                              None if init is None else init["state_dict"],
                                              None if init is None else init["architecture"])
                finally:
                    FusionClassifier.load_pretrained = load
                if adabn:
                    recalibrate_batchnorm(result.model, source, valid, args.seed + f)
                if model_only:
                    return result.model
                if tta:
                    return np.log(np.clip(predict_dihedral(result.model, source, rows[test], cols[test]), 1e-12, 1))
                _, p = predict_samples(result.model, source, rows[test], cols[test])
                return np.log(np.clip(p, 1e-12, 1))

            timed("network", fit_network)
            if args.prior_match:  # label-free: the network's class marginal on the scene matched to the LDA's
                def prior_matched():
                    model = fit_network(model_only=True)  # the same seed: the network of the row above
                    vr, vc = np.nonzero(valid)
                    pick = np.random.default_rng(args.seed + f).choice(len(vr), min(4096, len(vr)), replace=False)
                    _, p_scene = predict_samples(model, source, vr[pick], vc[pick])
                    lda_path = fit_spectral_path(bands[train], None, y[train], n_classes, "sklearn_lda")
                    q_scene = torch.softmax(torch.as_tensor(spectral_logits(
                        lda_path, pixel_spectra(source, vr[pick], vc[pick], patch), None)), 1).numpy()
                    weight = q_scene.mean(0) / np.clip(p_scene.mean(0), 1e-9, None)
                    _, p_test = predict_samples(model, source, rows[test], cols[test])
                    p_test = p_test * weight
                    return np.log(np.clip(p_test / p_test.sum(1, keepdims=True), 1e-12, 1))
                timed("network_pm", prior_matched)
                logits["ens_lda_pm"] = average_probabilities([logits["network_pm"], logits["lda"]])
                seconds["ens_lda_pm"] = seconds["network_pm"] + seconds["lda"]
            def fit_default(init=ckpt, name="ensemble"):  # the product's default, as mmsiam:trainclassifier trains it
                t = time.time()
                config = ClassifierConfig(patch_size=patch, epochs=args.epochs, seed=args.seed + f)
                model = train_classifier(source, rows[train], cols[train], y[train], n_classes, config,
                                         None if init is None else init["state_dict"],
                                         None if init is None else init["architecture"]).model
                trained = time.time() - t
                _, p = predict_samples(model, source, rows[test], cols[test])
                logits[name], seconds[name] = np.log(np.clip(p, 1e-12, 1)), time.time() - t
                if args.tta:  # the same networks with and without test-time flips and rotations
                    suffix = {True: "_tta", False: "_noflips"}
                    flips = model.architecture()["test_time_flips"]
                    logits[name + suffix[flips]], seconds[name + suffix[flips]] = logits[name], seconds[name]
                    t = time.time()  # the other setting: the same weights in a twin
                    twin = classifier_from_architecture(dict(model.architecture(), test_time_flips=not flips))
                    twin.load_state_dict(model.state_dict())
                    _, p = predict_samples(twin.eval(), source, rows[test], cols[test])
                    logits[name + suffix[not flips]] = np.log(np.clip(p, 1e-12, 1))
                    seconds[name + suffix[not flips]] = trained + time.time() - t
                if args.save_views:  # every network × view apart, for other sets of views offline
                    views, lda = network_views(model, source, rows[test], cols[test])
                    arch = model.architecture()
                    check = from_views(views, lda, view_sets(arch["networks"], arch.get("views_per_network", 8)))
                    if arch["test_time_flips"] and not np.allclose(
                            check, np.exp(logits[name]), atol=1e-5):  # the parts must rebuild the default
                        raise AssertionError("network_views does not rebuild the default's probabilities")
                    np.savez_compressed(out_path[:-4] + f"_f{f + 1}_r{ratio:g}_views.npz", y=y[test],
                                        views=views.astype(np.float32), lda=lda.astype(np.float32))

            if not args.no_default:
                fit_default()
            if args.random_init:
                timed("network_random", lambda: fit_network(None))
                if not args.no_default:  # the same default with its networks from random weights
                    fit_default(None, "ensemble_random")
            for w in (0.25, 0.75):  # the network's weight in the ensemble (0.5 above)
                for lin in [m for m in ("lda", "lda_z8", "lda_z16", "lda_ctx", "lda_cal", "lda_ctx_cal") if m in logits]:
                    logits[f"ens{int(100 * w)}_{lin}"] = average_probabilities(
                        [logits["network"], logits[lin]], [w, 1 - w])
                    seconds[f"ens{int(100 * w)}_{lin}"] = seconds["network"] + seconds[lin]
            for variant in args.variants:  # network variants, e.g. 'steps600+bnfrozen' (see variant_overrides)
                init, overrides = variant_overrides(variant)
                timed(f"network_{variant}", lambda: fit_network(ckpt if init else None, **overrides))
            if args.ablations:
                timed("network_balanced", lambda: fit_network(class_balanced=True))
                timed("network_bnfrozen", lambda: fit_network(freeze_batchnorm=True))
                timed("network_lr3e-5", lambda: fit_network(learning_rate=3e-5))
                timed("network_lr1e-3", lambda: fit_network(learning_rate=1e-3))
                timed("network_seed2", lambda: fit_network(seed=args.seed + f + 1000))
                timed("network_seed3", lambda: fit_network(seed=args.seed + f + 2000))
                logits["net3"] = average_probabilities([logits["network"], logits["network_seed2"],
                                                        logits["network_seed3"]])
                seconds["net3"] = seconds["network"] + seconds["network_seed2"] + seconds["network_seed3"]
                logits["ens_lda_net3"] = average_probabilities(
                    [logits["network"], logits["network_seed2"], logits["network_seed3"], logits["lda"]],
                    [1 / 6, 1 / 6, 1 / 6, 1 / 2])
                seconds["ens_lda_net3"] = seconds["net3"] + seconds["lda"]
                proj = lambda idx: proj_centre[idx]  # noqa: E731
                timed("lda_proj16", lambda: spectral_logits(
                    fit_spectral_path(proj(train), None, y[train], n_classes, "sklearn_lda"), proj(test), None))
            for lin in ["lda", "logistic", "lda_ctx", "logistic_ctx", "lda_ctx_z16", "logistic_ctx_z16",
                        "lda_cal", "lda_ctx_cal", "logistic_ctx_cal"] + [
                    f"{m}_z{k}" for m in ("lda", "logistic") for k in args.components]:
                if lin not in logits:
                    continue
                logits[f"ens_{lin}"] = average_probabilities([logits["network"], logits[lin]])
                seconds[f"ens_{lin}"] = seconds["network"] + seconds[lin]
            for variant in args.variants:  # each network variant's ensemble with the LDA
                logits[f"ens_lda_{variant}"] = average_probabilities([logits[f"network_{variant}"], logits["lda"]])
                seconds[f"ens_lda_{variant}"] = seconds[f"network_{variant}"] + seconds["lda"]
            for name, value in logits.items():
                oa, miou, aa = score(codes, samples.classes, y[test], np.asarray(value))
                records.append([args.scene, args.split, args.seed, f + 1, ratio, name, len(train), len(test),
                                oa, miou, aa, seconds[name]])
            best = max(r[8] for r in records if r[5] in CLASSICS)
            shown = {r[5]: r[8] for r in records}
            print(f"fold {f + 1} ratio {ratio:g} ({len(train)} train, {len(test)} test): best classic "
                  f"{100 * best:.1f}  " + "  ".join(f"{m} {100 * v:.1f}" for m, v in shown.items()
                                                    if m.startswith(("network", "ens_lda", "ensemble"))), flush=True)
            with open(out_path, "a", newline="") as fh:
                csv.writer(fh).writerows(records)
            # test logits of every method, to try other combinations without training again
            np.savez_compressed(out_path[:-4] + f"_f{f + 1}_r{ratio:g}.npz", y=y[test],
                                **{k: np.asarray(v, np.float32) for k, v in logits.items()})

    print(f"wrote {out_path}")


def summary(tags, methods=None):
    """Markdown tables from the CSVs of the given '<scene>_<split>' tags."""
    lines = []
    for tag in tags:
        runs = {}  # (seed, fold, ratio) -> {method: (OA, mIoU)}
        paths = [p for part in tag.split("+")  # 'a+b': the runs of both CSV sets, merged per run
                 for p in sorted(glob.glob(os.path.join(OUT, f"few_labels_{part}_s[0-9]*.csv")))]
        for path in paths:
            with open(path, newline="") as fh:
                for r in csv.DictReader(fh):
                    key = (int(r["seed"]), int(r["fold"]), float(r["ratio"]))
                    runs.setdefault(key, {})[r["method"]] = (float(r["OA"]), float(r["mIoU"]))
        if not runs:
            continue
        seeds = sorted({k[0] for k in runs})
        folds = sorted({k[1] for k in runs})
        present = sorted({m for v in runs.values() for m in v})
        shown = [m for m in (methods or present) if m in present]
        lines += [f"### {tag}: {len(seeds)} seeds ({', '.join(map(str, seeds))}) × {len(folds)} folds", "",
                  "Mean OA / mean mIoU over the fold × seed runs (%); the OA std over those runs; the per-seed "
                  "mean OAs; the worst run's OA; the share of runs at most 2 OA points below the cell's best classic (the classic "
                  "method with the best mean OA in that cell), and below the run's best classic (the best of "
                  "the three in each run: stricter).", "",
                  "| ratio | method | OA / mIoU | OA std | per-seed OA | worst OA | ≥ cell's best classic − 2 | ≥ run's best classic − 2 |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for ratio in sorted({k[2] for k in runs}):
            keys = [k for k in sorted(runs) if k[2] == ratio]
            cell_best = max(CLASSICS, key=lambda m: np.mean([runs[k][m][0] for k in keys]))
            run_best = {k: max(runs[k][m][0] for m in CLASSICS) for k in keys}
            lines.append(f"| {100 * ratio:g} % | *best classic: {display(cell_best)}* | | | | | | |")
            for name in shown:
                values = {k: runs[k][name] for k in keys if name in runs[k]}
                if not values:  # e.g. a variant the lean runs of this ratio skipped
                    continue
                oa = np.array([values[k][0] for k in values])
                iou = np.array([values[k][1] for k in values])
                per_seed = ", ".join(f"{100 * np.mean([values[k][0] for k in values if k[0] == s]):.1f}"
                                     for s in seeds if any(k[0] == s for k in values))
                cell = np.mean([values[k][0] >= runs[k][cell_best][0] - 0.02 for k in values])
                run = np.mean([values[k][0] >= run_best[k] - 0.02 for k in values])
                lines.append(f"| {100 * ratio:g} % | {display(name)} | {100 * oa.mean():.1f} / {100 * iou.mean():.1f} | "
                             f"{100 * oa.std():.1f} | {per_seed} | {100 * oa.min():.1f} | {100 * cell:.0f} % | {100 * run:.0f} % |")
        lines.append("")
    return "\n".join(lines)


def targets(tags, default="ens_lda"):
    """The issue's targets per CSV set and ratio: the default's mean OA / mIoU against the best classic's
    (best mean of the three), runs within 2 OA points of the run's best classic, pretrained ≥ random."""
    lines = ["| scene, split (seeds) | ratio | runs | default OA / mIoU | best classic OA / mIoU | "
             "default − best classic, OA / mIoU | runs ≥ run's best classic − 2 | worst run: default vs best classic | "
             "pretrained − random init, OA (mean; runs ≥) |", "| --- |" + " --- |" * 8]
    for tag in tags:
        runs = {}
        for path in sorted(glob.glob(os.path.join(OUT, f"few_labels_{tag}_s[0-9]*.csv"))):
            with open(path, newline="") as fh:
                for r in csv.DictReader(fh):
                    runs.setdefault(float(r["ratio"]), {}).setdefault((int(r["seed"]), int(r["fold"])), {})[
                        r["method"]] = (100 * float(r["OA"]), 100 * float(r["mIoU"]))
        seeds = sorted({k[0] for v in runs.values() for k in v})
        for ratio in sorted(runs):
            cell = runs[ratio]
            mean = lambda m, i: np.mean([v[m][i] for v in cell.values()])  # noqa: E731
            best = max(CLASSICS, key=lambda m: mean(m, 0))
            run_best = {k: max(v[m][0] for m in CLASSICS) for k, v in cell.items()}
            within = sum(v[default][0] >= run_best[k] - 2 for k, v in cell.items())
            worst = min(cell, key=lambda k: cell[k][default][0] - run_best[k])
            gaps = []  # the default and the network alone against their twins fine-tuned from random weights
            for pre, label in ((default, "default"), ("network", "network")):
                if all(f"{pre}_random" in v for v in cell.values()):
                    diffs = [v[pre][0] - v[f"{pre}_random"][0] for v in cell.values()]
                    gaps.append(f"{label} {np.mean(diffs):+.1f} (≥ in {sum(d >= 0 for d in diffs)} of {len(diffs)})")
            gap = "; ".join(gaps)
            lines.append(f"| {tag} ({', '.join(map(str, seeds))}) | {100 * ratio:g} % | {len(cell)} | "
                         f"{mean(default, 0):.1f} / {mean(default, 1):.1f} | {mean(best, 0):.1f} / {mean(best, 1):.1f} "
                         f"({display(best)}) | {mean(default, 0) - mean(best, 0):+.1f} / {mean(default, 1) - mean(best, 1):+.1f} | "
                         f"{within} of {len(cell)} | {cell[worst][default][0]:.1f} vs {run_best[worst]:.1f} "
                         f"(seed {worst[0]}, fold {worst[1]}) | {gap} |")
    return "\n".join(lines)


def variant_table(tags, methods):
    """One Markdown table: a row per method, a column per '<tag> ratio' cell, 'mean OA (worst run)'."""
    cells = []  # (label, {(seed, fold): {method: OA}})
    for tag in tags:
        runs = {}
        for part in tag.split("+"):
            for path in sorted(glob.glob(os.path.join(OUT, f"few_labels_{part}_s[0-9]*.csv"))):
                with open(path, newline="") as fh:
                    for r in csv.DictReader(fh):
                        runs.setdefault(float(r["ratio"]), {}).setdefault(
                            (int(r["seed"]), int(r["fold"])), {})[r["method"]] = float(r["OA"])
        for ratio in sorted(runs):
            seeds = sorted({k[0] for k in runs[ratio]})
            cells.append((f"{tag.split('_')[0].capitalize()} {100 * ratio:g} % ({len(runs[ratio])} runs, seeds "
                          f"{', '.join(map(str, seeds))})", runs[ratio]))
    lines = ["| method | " + " | ".join(label for label, _ in cells) + " |",
             "| --- |" + " --- |" * len(cells)]
    for name in methods:
        values = []
        for _, runs in cells:
            oa = [100 * v[name] for v in runs.values() if name in v]
            complete = len(oa) == len(runs)
            values.append(f"{np.mean(oa):.1f} ({min(oa):.1f})" + ("" if complete else f" [{len(oa)} runs]")
                          if oa else "")
        lines.append(f"| {display(name)} | " + " | ".join(values) + " |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--scene", choices=sorted(SCENES))
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--split", choices=("blocks", "random"), default="blocks")
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--ratios", default="0.05,0.1,0.2")
    parser.add_argument("--components", default="8,16,32")
    parser.add_argument("--block-size", type=int, default=39)
    parser.add_argument("--patch-size", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--pretrain-epochs", type=int, default=25)
    parser.add_argument("--pretrain-samples", type=int, default=8192)
    parser.add_argument("--pretrain-variant", default="",
                        help="pretraining another way, tokens joined by '+': wm (two augmented views of "
                             "each modality as well: within_modality), projN (N channels per projection "
                             "P_k), widthN (the encoder's block widths), barlow / simclr / clip (that "
                             "objective), offdiagW (Barlow Twins' off-diagonal weight), nn (eq. (2) "
                             "against the nearest pixel of the batch), ctx (p from the patch without its "
                             "centre pixel), patch (eq. (2) in patch form); use with --tag")
    parser.add_argument("--prior-match", action="store_true",
                        help="also the network with its class marginal over 4,096 unlabelled scene pixels "
                             "matched to the LDA's (network_pm, and ens_lda_pm with the LDA)")
    parser.add_argument("--random-init", action="store_true",
                        help="also fine-tune the network and the default from random weights")
    parser.add_argument("--ablations", action="store_true",
                        help="also: class-balanced loss, frozen BatchNorm, other learning rates, a 3-seed "
                             "network ensemble, LDA on the 16-channel pretrained projections")
    parser.add_argument("--lean", action="store_true",
                        help="skip the z-component, calibrated and forest-on-z variants (faster)")
    parser.add_argument("--variants", default="",
                        help="network variants, comma-separated, tokens joined by '+': stepsN (at least N "
                             "optimiser steps), bnfrozen, balanced, lrX, epochsN, seedN (seed + N), lpN (a "
                             "linear probe of N epochs first: LP-FT), random "
                             "(e.g. steps600+bnfrozen)")
    parser.add_argument("--no-default", action="store_true", help="skip the product's default classifier")
    parser.add_argument("--tta", action="store_true",
                        help="also score the default's networks with and without test-time flips and "
                             "rotations (ensemble_tta, ensemble_noflips; 'ensemble' is the product's "
                             "default of the day: without them in CSV sets made before the ninth session)")
    parser.add_argument("--save-views", action="store_true",
                        help="also save the default's test probabilities per network and D4 view "
                             "(<csv>_f<fold>_r<ratio>_views.npz), for test_time_views.py")
    parser.add_argument("--tag", default="", help="suffix of the CSV name, e.g. _ablations")
    parser.add_argument("--summary", nargs="*",
                        help="'<scene>_<split>[_tag]' CSV sets to summarise instead of running; "
                             "'a+b' merges two sets run on the same pixels (e.g. different variants)")
    parser.add_argument("--targets", nargs="*", help="CSV sets for the table of the issue's targets")
    parser.add_argument("--default", default="ens_lda",
                        help="--targets: the method taken as the default (ensemble: the product's own, "
                             "in runs made without --no-default)")
    parser.add_argument("--variant-table", nargs="*",
                        help="CSV sets ('a+b' merged) for one table of --methods: mean OA (worst run) per ratio")
    parser.add_argument("--methods", default=None, help="methods shown in the summary (comma-separated)")
    args = parser.parse_args()
    if args.targets is not None:
        print(targets(args.targets, args.default))
        return
    if args.variant_table is not None:
        print(variant_table(args.variant_table, args.methods.split(",")))
        return
    if args.summary is not None:
        cpu = subprocess.run("lscpu | grep 'Model name'", shell=True, capture_output=True, text=True).stdout
        print(f"Machine: {platform.node()}, {cpu.split(':')[-1].strip()}, {os.cpu_count()} cores, "
              f"torch {torch.__version__}. Date: {time.strftime('%Y-%m-%d')}.\n")
        print(summary(args.summary, args.methods.split(",") if args.methods else None))
        return
    args.ratios = [float(r) for r in args.ratios.split(",")]
    args.variants = [v for v in args.variants.split(",") if v]
    args.components = [] if args.lean else [int(k) for k in args.components.split(",") if k]
    run(args)


if __name__ == "__main__":
    main()
