"""Which test-time views does the default classifier need? Offline, from few_labels.py's saved parts.

    .venv/bin/python benchmarks/few_labels.py --lean --tta --save-views --tag _views --scene S --seed N
    .venv/bin/python benchmarks/test_time_views.py potsdam_blocks_views tahoe_blocks_views ...

``--save-views`` saves, for every fold × ratio run, each of the default's networks' class
probabilities on each of the 8 elements of D4 (``views``: networks × 8 × pixels × classes) and
the LDA's (``lda``). With every network over all 8 views (the default until the networks
shared them out) the default is ``log(½ mean(views) + ½ lda)``. A *scheme* gives each network a
set of D4 elements; the networks' probability is the mean over every (network, element) pair it
lists, so the number of pairs is the number of network passes over each block when
``mmsiam:classify`` maps a scene (the cost of the flips). Every scheme is
scored on the same test pixels as the runs' CSVs, against ``--reference`` on the same runs
(every network over all 8 views, ``all8``, unless told otherwise; ``a3`` is the default since
2026-11-28). ``one_*`` keep the first network alone and ``lda_only`` the spectral path alone: what
the three networks and the networks at all add. ``aV`` with V = ceil(8 / networks) is what new models do
(``models.network.view_sets``).

D4 elements (``models.augment.dihedral``): 0 identity, 1 / 2 / 3 quarter turns, 4 horizontal
flip, 5 / 7 the two diagonal reflections, 6 vertical flip.
"""

import argparse
import csv
import glob
import os
import re

import numpy as np

from few_labels import CLASSICS, OUT, from_views, score
from multimodal_siamese.core.io.labels import ClassInfo
from multimodal_siamese.models.network import D4_ORDER, view_sets

ALL = tuple(range(8))
# name -> (description, a function: number of networks -> view set of each network)
SCHEMES = {
    "none": ("identity only (no flips)", lambda n: [(0,)] * n),
    "all8": ("every network over all 8 views (the default before)", lambda n: [ALL] * n),
    "c4": ("the 4 quarter turns, every network", lambda n: [(0, 1, 2, 3)] * n),
    "flips4": ("identity, both flips, half turn, every network", lambda n: [(0, 2, 4, 6)] * n),
    "diag4": ("identity, half turn, both diagonal reflections", lambda n: [(0, 2, 5, 7)] * n),
    "pair_h": ("identity and horizontal flip", lambda n: [(0, 4)] * n),
    "pair_r": ("identity and half turn", lambda n: [(0, 2)] * n),
    # each network its own views, the networks together covering D4
    "split8": ("network i: its share of the 8 views (8 passes in all for 3 networks)",
               lambda n: [tuple(t for t in (0, 5, 2, 7, 1, 4, 3, 6)[i::n]) for i in range(n)]),
    "split4x": ("network i: 4 views, rotations for even i, reflections for odd i",
                lambda n: [(0, 1, 2, 3) if i % 2 == 0 else (4, 5, 6, 7) for i in range(n)]),
    "split2": ("network i: 2 views, identity and one reflection",
               lambda n: [(0, (4, 6, 5, 7)[i % 4]) for i in range(n)]),
    "split4": ("network i: 4 views, a coset pattern covering D4 with every 2 networks",
               lambda n: [((0, 2, 5, 7), (1, 3, 4, 6))[i % 2] for i in range(n)]),
}
# the rule a model file states in one number: V views per network, network i taking the next V
# elements of a fixed order of D4 (wrapping), so the networks share out the group between them.
# 'a': the product's order (models.network.view_sets); 'b': the diagonal reflections first.
B_ORDER = (0, 5, 2, 7, 1, 4, 3, 6)
for _v in (1, 2, 3, 4):
    SCHEMES[f"a{_v}"] = (f"{_v} per network, the next {_v} of the order {D4_ORDER}",
                         lambda n, v=_v: view_sets(n, v))
    SCHEMES[f"b{_v}"] = (f"{_v} per network, the next {_v} of the order {B_ORDER}",
                         lambda n, v=_v: [tuple(B_ORDER[D4_ORDER.index(t)] for t in s) for s in view_sets(n, v)])
# fewer networks: the first network alone (the others' views unused), or the spectral path alone
SCHEMES.update({
    "one_none": ("the first network alone, identity only", lambda n: [(0,)] + [()] * (n - 1)),
    "one_a3": ("the first network alone, its 3 views of a3", lambda n: [view_sets(n, 3)[0]] + [()] * (n - 1)),
    "one_all8": ("the first network alone, all 8 views", lambda n: [ALL] + [()] * (n - 1)),
    "lda_only": ("the spectral path alone (no network)", lambda n: [()] * n),
})


def combined(views, lda, sets):
    """The default rebuilt with these view sets; the spectral path alone where they hold no view."""
    return from_views(views, lda, sets) if any(sets) else lda


def scores(y, p, n_classes):
    """OA and mIoU as few_labels.py scores its runs (class indices stand in for the codes)."""
    classes = [ClassInfo(code=k, value=k, name=str(k), color="#000000") for k in range(n_classes)]
    oa, miou, _ = score(np.arange(n_classes), classes, y, p)
    return oa, miou


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("sets", nargs="+", help="'<scene>_<split><tag>' sets of few_labels.py runs")
    parser.add_argument("--schemes", default=",".join(SCHEMES))
    parser.add_argument("--reference", default="all8",
                        help="the scheme the per-run differences are taken to (a3: the default since 2026-11-28)")
    args = parser.parse_args()
    names = args.schemes.split(",")
    names += [args.reference] if args.reference not in names else []
    rows = {}  # (set, ratio) -> scheme -> list of (oa, miou)
    classic = {}  # (set, ratio) -> list of {method: (oa, miou)}, in the same run order
    passes = {}
    for name in args.sets:
        table = {}
        for path in glob.glob(os.path.join(OUT, f"few_labels_{name}_s*.csv")):
            for r in csv.DictReader(open(path, newline="")):
                if r["method"] in CLASSICS:
                    table.setdefault((int(r["seed"]), int(r["fold"]), float(r["ratio"])), {})[r["method"]] = (
                        float(r["OA"]), float(r["mIoU"]))
        for path in sorted(glob.glob(os.path.join(OUT, f"few_labels_{name}_s*_f*_r*_views.npz"))):
            m = re.search(r"_s(\d+)_f(\d+)_r([0-9.]+)_views\.npz$", path)
            ratio = float(m.group(3))
            classic.setdefault((name, ratio), []).append(table[(int(m.group(1)), int(m.group(2)), ratio)])
            data = np.load(path)
            views, lda, y = data["views"], data["lda"], data["y"]
            n_networks, n_classes = views.shape[0], lda.shape[1]
            cell = rows.setdefault((name, ratio), {})
            for scheme in names:
                sets = SCHEMES[scheme][1](n_networks)
                passes[scheme] = sum(len(s) for s in sets)
                cell.setdefault(scheme, []).append(scores(y, combined(views, lda, sets), n_classes))
    cells = sorted(rows)
    print("Mean OA / mIoU over the fold × seed runs of each cell (%); in brackets the mean and the "
          f"lowest per-run OA difference to {args.reference} ({SCHEMES[args.reference][0]}; points).\n")
    print("| scheme | network passes | " + " | ".join(f"{s} {100 * r:g} % ({len(rows[(s, r)][args.reference])} runs)"
                                                     for s, r in cells) + " |")
    print("| --- | --- | " + " | ".join("---" for _ in cells) + " |")
    for scheme in names:
        out = []
        for cell in cells:
            v = np.array(rows[cell][scheme]) * 100
            d = v[:, 0] - np.array(rows[cell][args.reference])[:, 0] * 100
            out.append(f"{v[:, 0].mean():.1f} / {v[:, 1].mean():.1f} ({d.mean():+.2f}, {d.min():+.1f})")
        print(f"| {scheme}: {SCHEMES[scheme][0]} | {passes[scheme]} | " + " | ".join(out) + " |")
    print("\nAgainst the best classic classifier (forest, shrinkage LDA, logistic regression: the one with "
          "the best mean OA in the cell): the scheme's mean minus its mean, OA / mIoU (points), and the runs "
          "at most 2 OA points below the best classic of that run.\n")
    print("| scheme | " + " | ".join(f"{s} {100 * r:g} %" for s, r in cells) + " |")
    print("| --- | " + " | ".join("---" for _ in cells) + " |")
    for scheme in names:
        out = []
        for cell in cells:
            v = np.array(rows[cell][scheme]) * 100
            runs = classic[cell]
            best = max(CLASSICS, key=lambda c: np.mean([r[c][0] for r in runs]))
            ref = np.array([r[best] for r in runs]) * 100
            run_best = np.array([max(r[c][0] for c in CLASSICS) for r in runs]) * 100
            within = int(np.sum(v[:, 0] >= run_best - 2))
            out.append(f"{v[:, 0].mean() - ref[:, 0].mean():+.2f} / {v[:, 1].mean() - ref[:, 1].mean():+.2f} "
                       f"({within} of {len(v)})")
        print(f"| {scheme} | " + " | ".join(out) + " |")


if __name__ == "__main__":
    main()
