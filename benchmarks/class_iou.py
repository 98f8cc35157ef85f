"""Where does the default lose mIoU against the LDA? Per class, offline, from few_labels.py's saved parts.

    .venv/bin/python benchmarks/few_labels.py --lean --save-views --tag _comb --scene S --seed N
    .venv/bin/python benchmarks/class_iou.py potsdam_blocks_comb tahoe_blocks_comb ...

For every fold × ratio run saved with ``--save-views`` (the networks' probabilities on each D4
view and the LDA's, on the run's test pixels), the default is rebuilt exactly as
``mmsiam:classify`` computes it (``few_labels.from_views`` with ``models.network.view_sets``) and
compared class by class with the LDA and the networks' part alone. mIoU is the mean IoU over the
classes present in the run's test part, so the difference of two methods' mIoU is exactly the sum
over classes of (IoU difference) / (classes present): the table's "share of the mIoU gap".

It also scores other ways to combine the same networks and LDA on the same runs (``rules``):
``mean`` (the default: ½ networks + ½ LDA), ``w25`` (¼ networks + ¾ LDA), ``geometric`` (the
normalised geometric mean, ½ log networks + ½ log LDA), ``agreement`` (the networks' weight per
pixel ½ × the share of the 9 network × view passes whose class is the networks' mean's class, so
that the LDA decides more where the networks disagree among themselves).
"""

import argparse
import glob
import os
import re

import numpy as np

from few_labels import DATA, OUT, SCENES, from_views
from multimodal_siamese.core.learn.metrics import accuracy_assessment
from multimodal_siamese.core.io.labels import ClassInfo, build_class_table, read_label_features
from multimodal_siamese.models.network import shared_views_per_network, view_sets

# Potsdam's class_id codes (the data README)
POTSDAM = {"1": "roof", "2": "pavement", "3": "low vegetation", "4": "tree", "5": "soil", "6": "water"}


def class_names(set_name):
    """A scene's class names in the class-index order of its runs (the label layer's classes)."""
    scene = re.match(r"(.+?)_(blocks|random)", set_name).group(1)
    _, labels, field = SCENES[scene]
    classes = build_class_table(read_label_features(os.path.join(DATA, labels), field).values)
    return [POTSDAM.get(str(c.name), str(c.name)) if scene == "potsdam" else str(c.name) for c in classes]


def geometric(p, q, w=0.5):
    log = (1 - w) * np.log(np.clip(p, 1e-12, 1)) + w * np.log(np.clip(q, 1e-12, 1))
    e = np.exp(log - log.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def rules(networks, lda, passes):
    """``passes``: the networks' probabilities of each network × view pass the default averages."""
    agreement = (passes.argmax(2) == networks.argmax(1)[None]).mean(0)[:, None]
    return {
        "mean": 0.5 * networks + 0.5 * lda,
        "w25": 0.25 * networks + 0.75 * lda,
        "geometric": geometric(lda, networks),
        "agreement": 0.5 * agreement * networks + (1 - 0.5 * agreement) * lda,
    }


def assess(y, p, n):
    classes = [ClassInfo(code=k, value=k, name=str(k), color="#000000") for k in range(n)]
    a = accuracy_assessment(y, p if p.ndim == 1 else p.argmax(1), classes)  # a vote saves its labels
    iou = np.array([c["iou"] if c["iou"] is not None else np.nan for c in a["per_class"]])
    support = np.array([c["support"] for c in a["per_class"]])
    return a["overall_accuracy"], a["mean_iou"], iou, support


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("sets", nargs="+", help="'<scene>_<split><tag>' sets of few_labels.py --save-views runs")
    args = parser.parse_args()
    for name in args.sets:
        paths = sorted(glob.glob(os.path.join(OUT, f"few_labels_{name}_s*_f*_r*_views.npz")))
        if not paths:
            print(f"{name}: no saved views")
            continue
        names = class_names(name)
        by_ratio = {}
        for path in paths:
            ratio = float(re.search(r"_r([0-9.]+)_views\.npz$", path).group(1))
            data = np.load(path)
            views, lda, y = data["views"], data["lda"], data["y"]
            n_net, n = views.shape[0], lda.shape[1]
            sets = view_sets(n_net, shared_views_per_network(n_net))
            passes = np.stack([views[i, t] for i, ts in enumerate(sets) for t in ts])
            networks = passes.mean(0)
            default = from_views(views, lda, sets)
            methods = {"lda": lda, "networks": networks, **rules(networks, lda, passes)}
            assert np.allclose(methods["mean"], default, atol=1e-6)
            classic = np.load(path.replace("_views.npz", ".npz"))
            for c in ("forest", "logistic"):
                if c in classic:
                    methods[c] = classic[c]  # logits or labels: only their argmax is scored
            by_ratio.setdefault(ratio, []).append({m: assess(y, p, n) for m, p in methods.items()})
        methods = list(by_ratio[min(by_ratio)][0])
        print(f"\n### {name}: OA / mIoU, mean over runs (%)\n")
        print("| method | " + " | ".join(f"{100 * r:g} % ({len(v)} runs)" for r, v in sorted(by_ratio.items())) + " |")
        print("| --- | " + " | ".join("---" for _ in by_ratio) + " |")
        for m in methods:
            print(f"| {m} | " + " | ".join(
                f"{100 * np.mean([run[m][0] for run in v]):.1f} / {100 * np.mean([run[m][1] for run in v]):.1f}"
                for _, v in sorted(by_ratio.items())) + " |")
        print(f"\nPer class: mean IoU over the runs whose test part holds the class (%), lda / networks / "
              "default, and in brackets the class's share of the default's mIoU gap to the LDA (points)\n")
        print("| class (test pixels per run) | " + " | ".join(f"{100 * r:g} %" for r in sorted(by_ratio)) + " |")
        print("| --- | " + " | ".join("---" for _ in by_ratio) + " |")
        for k, cname in enumerate(names):
            cells = []
            for _, v in sorted(by_ratio.items()):
                present = [run for run in v if run["lda"][3][k] > 0]
                if not present:
                    cells.append("absent")
                    continue
                iou = {m: 100 * np.nanmean([run[m][2][k] for run in present]) for m in ("lda", "networks", "mean")}
                share = np.mean([100 * (np.nan_to_num(run["mean"][2][k]) - np.nan_to_num(run["lda"][2][k]))
                                 / (run["lda"][3] > 0).sum() if run["lda"][3][k] > 0 else 0.0 for run in v])
                cells.append(f"{iou['lda']:.1f} / {iou['networks']:.1f} / {iou['mean']:.1f} ({share:+.2f})")
            support = np.mean([run["lda"][3][k] for run in by_ratio[min(by_ratio)]])
            print(f"| {cname} ({support:.0f}) | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
