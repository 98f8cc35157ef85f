"""Candidates for the spectral path of the default classifier, without the network (seconds per run).

    OMP_NUM_THREADS=1 .venv/bin/python -W ignore benchmarks/spectral_candidates.py --scene potsdam --seeds 42,43,44
    .venv/bin/python -W ignore benchmarks/spectral_candidates.py --table potsdam tahoe para
    .venv/bin/python -W ignore benchmarks/spectral_candidates.py --combine potsdam_blocks_r5 tahoe_blocks_r5 ...

Same protocol as few_labels.py (spatial blocks of 39 px, 3 folds, the same stratified subsample
per seed and fold), so its 'lda' / 'forest' / 'logistic' rows equal few_labels.py's. Writes the
test-set log-probabilities of every candidate to benchmarks/out/spectral_<scene>_s<seed>_f<fold>_r<ratio>.npz,
so that few_labels.py's saved network logits can be averaged with any of them afterwards:
``--combine`` does that for few_labels.py's npz files of the given '<scene>_blocks<tag>' sets.

Candidates: the linear models' probabilities averaged over the 3×3 / 5×5 neighbourhood (``_s3``,
``_s5``) or over it weighted by spectral likeness to the centre pixel (edge-aware, ``_b3_*``,
``_b5_*``); the labelled pixels' neighbours as extra training samples (``lda_nb*``); flattened
class priors (``_up`` uniform, ``_hp`` halfway); self-training on 20,000 unlabelled scene pixels
(``--self-training``, ``_st``); an LDA whose shared covariance comes from the unlabelled scene
(``slda*``); and averages or votes of LDA, logistic regression and forest. ``--table`` prints
them against the LDA of the same runs (results/few_labels.md).
"""

import argparse
import functools
import os

import numpy as np

from few_labels import CLASSICS, OUT, load_scene, score, training_part
from multimodal_siamese.core.io.labels import ClassInfo
from multimodal_siamese.core.learn.evaluation import block_folds
from multimodal_siamese.core.learn.pretraining import PatchSource
from multimodal_siamese.core.learn.spectral import average_probabilities, fit_linear

# 'lda' here is scikit-learn's shrinkage LDA, the classic estimator these candidates were measured with
CLASSIC = {"lda": "sklearn_lda", "logistic": "logistic"}


def log_softmax(logits):
    logits = logits - logits.max(-1, keepdims=True)
    return logits - np.log(np.exp(logits).sum(-1, keepdims=True))


def patch_spectra(source, rows, cols, patch):
    """(N, P, P, B) bands of every modality around each pixel."""
    out = []
    for start in range(0, len(rows), 4096):
        parts = source.batch(rows[start:start + 4096], cols[start:start + 4096], "cpu")
        out.append(np.concatenate([p.numpy() for p in parts], 1).transpose(0, 2, 3, 1))
    return np.concatenate(out)


def self_train(x_lab, y_lab, x_unl, n_classes, model, rounds=1, per_class=5.0, threshold=0.95):
    """Fit, pseudo-label the unlabelled pixels predicted with probability >= threshold (at most
    per_class × the class's labelled count, the most confident first), refit on both."""
    mean, scale = x_lab.mean(0), x_lab.std(0) + 1e-8
    std = lambda v: (v - mean) / scale  # noqa: E731
    w, b = fit_linear(std(x_lab), y_lab, n_classes, CLASSIC[model])
    for _ in range(rounds):
        lp = log_softmax(std(x_unl) @ w.T + b)
        conf, pred = lp.max(1), lp.argmax(1)
        picked = []
        for k in np.unique(y_lab):
            members = np.nonzero((pred == k) & (conf >= np.log(threshold)))[0]
            limit = int(per_class * np.sum(y_lab == k))
            picked.append(members[np.argsort(-conf[members])[:limit]])
        picked = np.concatenate(picked)
        w, b = fit_linear(std(np.concatenate([x_lab, x_unl[picked]])),
                          np.concatenate([y_lab, pred[picked]]), n_classes, CLASSIC[model])
    return lambda v: std(v) @ w.T + b


def scene_lda(x_lab, y_lab, x_unl, n_classes, mix=0.0, ridge=1e-3):
    """Gaussian classifier with class means from the labels and the shared covariance from the
    scene's unlabelled pixels (their total covariance; ``mix`` > 0 blends in the labels' pooled
    within-class covariance)."""
    mean, scale = x_unl.mean(0), x_unl.std(0) + 1e-8
    u, xl = (x_unl - mean) / scale, (x_lab - mean) / scale
    cov = np.cov(u, rowvar=False)
    if mix:
        within = sum(np.cov(xl[y_lab == k], rowvar=False, bias=True) * np.sum(y_lab == k)
                     for k in np.unique(y_lab) if np.sum(y_lab == k) > 1) / len(y_lab)
        cov = (1 - mix) * cov + mix * within
    cov = cov + ridge * np.trace(cov) / len(cov) * np.eye(len(cov))
    means = np.zeros((n_classes, xl.shape[1]))
    prior = np.full(n_classes, -30.0)
    for k in np.unique(y_lab):
        means[k] = xl[y_lab == k].mean(0)
        prior[k] = np.log(np.mean(y_lab == k))
    w = np.linalg.solve(cov, means.T).T
    b = -0.5 * (w * means).sum(1) + prior
    b[prior == -30.0] = -30.0
    return lambda v: ((v - mean) / scale) @ w.T + b


def main():
    from sklearn.ensemble import RandomForestClassifier

    parser = argparse.ArgumentParser()
    parser.add_argument("--scene", required=True)
    parser.add_argument("--seeds", default="42,43,44")
    parser.add_argument("--ratios", default="0.05,0.1,0.2,0.4")
    parser.add_argument("--unlabelled", type=int, default=20000)
    parser.add_argument("--self-training", action="store_true")
    args = parser.parse_args()
    arrays, valid, samples = load_scene(args.scene)
    rows, cols, y = samples.rows, samples.cols, samples.class_index
    n_classes, codes = len(samples.classes), np.array([c.code for c in samples.classes])
    patch, h = 5, 2
    source = PatchSource(arrays, patch)
    pat = patch_spectra(source, rows, cols, patch)  # (N, 5, 5, B)
    bands = pat[:, h, h]
    vr, vc = np.nonzero(valid)
    # label-free scale of neighbour differences: the median squared distance (per band, on
    # globally standardised bands) between a pixel and its 8 neighbours, over random pixels
    probe = np.random.default_rng(0).choice(len(vr), min(5000, len(vr)), replace=False)
    pp_ = patch_spectra(source, vr[probe], vc[probe], patch)
    gm, gs = pp_[:, h, h].mean(0), pp_[:, h, h].std(0) + 1e-8
    nb = (pp_[:, h - 1:h + 2, h - 1:h + 2] - gm) / gs
    median_d2 = float(np.median((((nb - nb[:, 1:2, 1:2]) ** 2).mean(-1)).reshape(len(probe), -1)[:, [0, 1, 2, 3, 5, 6, 7, 8]]))
    print("median neighbour d2", median_d2)
    results = {}
    for seed in [int(s) for s in args.seeds.split(",")]:
        pick = np.random.default_rng(seed).choice(len(vr), min(args.unlabelled, len(vr)), replace=False)
        unl = patch_spectra(source, vr[pick], vc[pick], patch)[:, h, h]
        folds = block_folds(rows, cols, 3, 39, patch, arrays[0].shape[1:], seed, y)
        for f, (train_all, test) in enumerate(folds):
            for ratio in [float(r) for r in args.ratios.split(",")]:
                train = training_part(train_all, y, ratio, seed, f)
                lp = {}
                mean, scale = bands[train].mean(0), bands[train].std(0) + 1e-8
                std = lambda v: (v - mean) / scale  # noqa: E731
                for model in ("lda", "logistic"):
                    w, b = fit_linear(std(bands[train]), y[train], n_classes, CLASSIC[model])
                    lp[model] = log_softmax(std(bands[test]) @ w.T + b)
                    # class priors flattened: uniform (log prior removed) or halfway (half removed)
                    counts = np.bincount(y[train], minlength=n_classes)
                    log_prior = np.log(np.maximum(counts, 1) / len(train))
                    lp[f"{model}_up"] = log_softmax(std(bands[test]) @ w.T + b - log_prior)
                    lp[f"{model}_hp"] = log_softmax(std(bands[test]) @ w.T + b - 0.5 * log_prior)
                    # the probabilities averaged over the 3×3 and 5×5 neighbourhood
                    full = log_softmax(std(pat[test]) @ w.T + b)  # (N, 5, 5, K)
                    lp[f"{model}_s3"] = np.log(np.exp(full[:, 1:4, 1:4]).mean((1, 2)) + 1e-12)
                    lp[f"{model}_s5"] = np.log(np.exp(full).mean((1, 2)) + 1e-12)
                    # edge-aware: neighbours weighted by their spectral likeness to the centre pixel
                    g = (pat[test] - gm) / gs
                    d2 = ((g - g[:, h:h + 1, h:h + 1]) ** 2).mean(-1)  # (N, 5, 5)
                    for fac in (0.5, 1.0):
                        wgt = np.exp(-d2 / (fac * median_d2))
                        for r, name in ((1, "b3"), (2, "b5")):
                            ww = wgt[:, h - r:h + r + 1, h - r:h + r + 1, None]
                            pp = np.exp(full[:, h - r:h + r + 1, h - r:h + r + 1])
                            lp[f"{model}_{name}_{fac:g}"] = np.log((ww * pp).sum((1, 2)) / ww.sum((1, 2)) + 1e-12)
                    for name, kw in (("st", {}),) if args.self_training else ():
                        fn = self_train(bands[train], y[train], unl, n_classes, model, **kw)
                        lp[f"{model}_{name}"] = log_softmax(fn(bands[test]))
                # the labelled pixel's neighbours as extra training samples of its class (all 8, or
                # those spectrally close to it)
                g_tr = (pat[train] - gm) / gs
                d2_tr = ((g_tr - g_tr[:, h:h + 1, h:h + 1]) ** 2).mean(-1)  # (n, 5, 5)
                for name, r, limit in (("lda_nb3", 1, np.inf), ("lda_nb3c", 1, 1.0), ("lda_nb5c", 2, 1.0)):
                    win = pat[train][:, h - r:h + r + 1, h - r:h + r + 1]
                    keep = d2_tr[:, h - r:h + r + 1, h - r:h + r + 1] <= limit * median_d2
                    keep[:, r, r] = True
                    x_nb = win[keep]
                    y_nb = np.repeat(y[train], keep.reshape(len(train), -1).sum(1))
                    m_nb, s_nb = x_nb.mean(0), x_nb.std(0) + 1e-8
                    w_nb, b_nb = fit_linear((x_nb - m_nb) / s_nb, y_nb, n_classes, "sklearn_lda")
                    lp[name] = log_softmax(((bands[test] - m_nb) / s_nb) @ w_nb.T + b_nb)
                for name, kw in (("slda", {}), ("slda_m5", dict(mix=0.5)), ("slda_r1", dict(ridge=0.1))):
                    fn = scene_lda(bands[train], y[train], unl, n_classes, **kw)
                    lp[name] = log_softmax(fn(bands[test]))
                forest = RandomForestClassifier(300, n_jobs=1, random_state=seed + f).fit(bands[train], y[train])
                proba = np.full((len(test), n_classes), 1e-12)
                proba[:, forest.classes_] += forest.predict_proba(bands[test])
                lp["forest"] = np.log(proba)
                for a, b_ in (("lda", "logistic"), ("lda", "forest"), ("logistic", "forest")):
                    lp[f"{a}+{b_}"] = average_probabilities([lp[a], lp[b_]])
                lp["lda+logistic+forest"] = average_probabilities([lp["lda"], lp["logistic"], lp["forest"]])
                lp["lda_s3+forest"] = average_probabilities([lp["lda_s3"], lp["forest"]])
                lp["lda_s5+forest"] = average_probabilities([lp["lda_s5"], lp["forest"]])
                for name, members in (("vote", ("lda", "logistic", "forest")),
                                      ("vote_s5", ("lda_s5", "logistic_s5", "forest"))):
                    votes = np.stack([lp[m].argmax(1) for m in members])
                    first = votes[0].copy()  # the first member unless the other two agree
                    agree = votes[1] == votes[2]
                    first[agree] = votes[1][agree]
                    lp[name] = np.log(np.eye(n_classes)[first] + 1e-6)
                np.savez_compressed(os.path.join(OUT, f"spectral_{args.scene}_s{seed}_f{f + 1}_r{ratio:g}.npz"),
                                    y=y[test], **{k: v.astype(np.float32) for k, v in lp.items()})
                for name, v in lp.items():
                    oa, miou, _ = score(codes, samples.classes, y[test], np.asarray(v))
                    results.setdefault(ratio, {}).setdefault((seed, f + 1), {})[name] = (100 * oa, 100 * miou)
                best = max(results[ratio][(seed, f + 1)][m][0] for m in CLASSICS)
                print(f"s{seed} f{f + 1} r{ratio:g}: best classic {best:.1f} lda "
                      f"{results[ratio][(seed, f + 1)]['lda'][0]:.1f}", flush=True)
    names = list(next(iter(next(iter(results.values())).values())))
    print(f"\n{args.scene}: mean OA / mIoU, mean OA − run's best classic, runs ≥ run's best classic − 2")
    for ratio, cell in sorted(results.items()):
        run_best = {k: max(v[m][0] for m in CLASSICS) for k, v in cell.items()}
        print(f"  ratio {ratio:g} ({len(cell)} runs)")
        for name in names:
            oa = np.array([v[name][0] for v in cell.values()])
            miou = np.array([v[name][1] for v in cell.values()])
            gap = oa - np.array([run_best[k] for k in cell])
            print(f"    {name:24s} {oa.mean():5.1f} / {miou.mean():5.1f}  {gap.mean():+5.1f}  "
                  f"{np.sum(gap >= -2)}/{len(gap)}  worst {gap.min():+.1f}")


def candidate_table(scenes, names):
    """One Markdown table: a row per candidate, a column per scene × ratio: mean OA over the
    fold × seed runs and, in brackets, its mean difference to the LDA of the same runs."""
    import glob
    import re

    cells = {}
    for scene in scenes:
        for path in sorted(glob.glob(os.path.join(OUT, f"spectral_{scene}_s*_f*_r*.npz"))):
            seed, fold, ratio = re.search(r"_s(\d+)_f(\d+)_r([\d.]+)\.npz$", path).groups()
            data = np.load(path)
            y = data["y"]
            cells.setdefault((scene, float(ratio)), []).append(
                {name: 100 * np.mean(data[name].argmax(1) == y) for name in names if name in data})
    keys = sorted(cells)
    lines = ["| candidate | " + " | ".join(f"{s.capitalize()} {100 * r:g} %" for s, r in keys) + " |",
             "| --- |" + " --- |" * len(keys)]
    for name in names:
        row = []
        for key in keys:
            runs = [run for run in cells[key] if name in run]
            oa = np.mean([run[name] for run in runs])
            gap = np.mean([run[name] - run["lda"] for run in runs])
            row.append(f"{oa:.1f} ({gap:+.1f})")
        lines.append(f"| {name} | " + " | ".join(row) + " |")
    return "\n".join(lines)


@functools.lru_cache(maxsize=None)
def _scene(scene):
    return load_scene(scene)


@functools.lru_cache(maxsize=None)
def _scene_folds(scene, seed, n_folds):
    arrays, _, samples = _scene(scene)
    return block_folds(samples.rows, samples.cols, n_folds, 39, 5, arrays[0].shape[1:], seed, samples.class_index)


def training_log_priors(scene, seed, fold, ratio, n_folds=3):
    """log of the class frequencies (+1) of few_labels.py's training pixels of that run."""
    samples = _scene(scene)[2]
    y = samples.class_index
    train_all, _ = _scene_folds(scene, seed, n_folds)[fold - 1]
    counts = np.bincount(y[training_part(train_all, y, ratio, seed, fold - 1)], minlength=len(samples.classes)) + 1.0
    return np.log(counts / counts.sum())


def combine(tags):
    """The network's saved test logits (few_labels.py) averaged or voted with the candidates."""
    import glob
    import re

    results = {}
    for tag in tags:
        scene = tag.split("_")[0]
        for path in sorted(glob.glob(os.path.join(OUT, f"few_labels_{tag}_s*_f*_r*.npz"))):
            seed, fold, ratio = re.search(r"_s(\d+)_f(\d+)_r([\d.]+)\.npz$", path).groups()
            spectral = os.path.join(OUT, f"spectral_{scene}_s{seed}_f{fold}_r{ratio}.npz")
            if not os.path.exists(spectral):
                continue
            a, b = np.load(path), np.load(spectral)
            y = a["y"]
            if len(y) != len(b["y"]) or (y != b["y"]).any():
                raise SystemExit(f"{path} and {spectral} test different pixels")
            net, lda, forest = a["network"], b["lda"], b["forest"]
            k = lda.shape[1]

            def vote(members):
                v = [m.argmax(1) for m in members]
                out = v[0].copy()
                out[v[1] == v[2]] = v[1][v[1] == v[2]]
                return np.log(np.eye(k)[out] + 1e-6)

            cands = {"lda": lda, "logistic": b["logistic"], "forest": forest, "network": net,
                     "ensemble (default)": average_probabilities([net, lda]),
                     "ensemble, network weight 0.25": average_probabilities([net, lda], [0.25, 0.75]),
                     "ensemble + forest": average_probabilities([net, lda, forest]),
                     "ensemble + forest + logistic": average_probabilities([net, lda, forest, b["logistic"]]),
                     "ensemble + logistic": average_probabilities([net, lda, b["logistic"]]),
                     "ensemble, edge-aware 3×3 LDA": average_probabilities([net, b["lda_b3_0.5"]]),
                     "vote of LDA, network, forest": vote([lda, net, forest])}
            cell = results.setdefault((tag, float(ratio)), {})
            if "network_seed1000" in a.files:  # few_labels.py --variants seed1000,seed2000
                net3 = average_probabilities([net, a["network_seed1000"], a["network_seed2000"]])
                cands["network, 3 seeds averaged"] = net3
                cands["ensemble with the 3-seed network"] = average_probabilities([net3, lda])
                # post-hoc alternatives to the arithmetic mean (the LDA's probabilities are sharp)
                cands["3-seed ensemble, geometric mean"] = (log_softmax(net3) + log_softmax(lda)) / 2
                cands["3-seed ensemble, LDA at temperature 2"] = average_probabilities([net3, lda / 2])
                cands["3-seed ensemble, network weight 0.35"] = average_probabilities([net3, lda], [0.35, 0.65])
                # logit adjustment (half the training priors divided out): of the networks, or of all
                prior = training_log_priors(scene, int(seed), int(fold), float(ratio))
                cands["3-seed ensemble, networks' priors halved out"] = average_probabilities([net3 - prior / 2, lda])
                cands["3-seed ensemble, priors halved out"] = average_probabilities([net3, lda]) - prior / 2
            codes = np.arange(k)
            classes = [ClassInfo(code=c, value=c, name=str(c), color="#000000") for c in range(k)]
            for name, value in cands.items():
                oa, miou, _ = score(codes, classes, y, value)
                cell.setdefault((int(seed), int(fold)), {})[name] = (100 * oa, 100 * miou)
    keys = sorted(results)
    lines = ["| method | " + " | ".join(f"{t.split('_')[0].capitalize()} {100 * r:g} %" for t, r in keys) + " |",
             "| --- |" + " --- |" * len(keys)]
    for name in next(iter(results[keys[0]].values())):
        row = []
        for key in keys:
            cell = results[key]
            run_best = {k: max(v[m][0] for m in CLASSICS) for k, v in cell.items()}
            oa = np.mean([v[name][0] for v in cell.values()])
            iou = np.mean([v[name][1] for v in cell.values()])
            within = sum(v[name][0] >= run_best[k] - 2 for k, v in cell.items())
            row.append(f"{oa:.1f} / {iou:.1f} ({within}/{len(cell)})")
        lines.append(f"| {name} | " + " | ".join(row) + " |")
    print("\n".join(lines))


if __name__ == "__main__":
    import sys

    if "--table" in sys.argv:
        print(candidate_table(sys.argv[sys.argv.index("--table") + 1:], [
            "lda", "forest", "logistic", "lda+forest", "lda+logistic+forest", "vote", "lda_s3", "lda_s5",
            "lda_b3_0.5", "lda_b5_1", "lda_nb3", "lda_nb3c", "lda_up", "lda_hp", "lda_st", "slda", "slda_m5"]))
    elif "--combine" in sys.argv:
        combine(sys.argv[sys.argv.index("--combine") + 1:])
    else:
        main()
