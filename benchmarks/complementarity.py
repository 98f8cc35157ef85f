"""Where does pretraining's gain for the network land: on pixels the LDA already classifies, or on
those it misses? Offline, from few_labels.py's saved parts of ``--random-init`` runs.

    .venv/bin/python benchmarks/few_labels.py --lean --random-init --tag _ctx --scene S --seed N
    .venv/bin/python benchmarks/complementarity.py potsdam_blocks_ctx tahoe_chm_blocks_ctx ...
    .venv/bin/python benchmarks/complementarity.py potsdam_blocks_cpred=potsdam_blocks_ctx

``a=b``: the runs of set ``a`` (another pretraining, run without ``--random-init``) with the
random-init network of set ``b`` (the same seeds, folds and pixels).

The default averages networks with a shrinkage LDA, so a network only changes the map where the two
disagree; it helps where it is right and the LDA is wrong. For every run, the test pixels are split
by the shrinkage LDA on the centre pixel's bands (the ``lda`` row: the default's LDA wherever
``SPECTRAL_CONTEXT=auto`` leaves the patch mean out), and the network alone (the ``network`` row,
the paper's g, fine-tuned once) is scored there pretrained and from random weights
(``network_random``): on the pixels the LDA misses (right there: the share it could fix) and on
those the LDA gets (wrong there: the share it could spoil). Pixels are pooled over the runs of a cell.
"""

import argparse
import glob
import os
import re

import numpy as np

from few_labels import OUT


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("sets", nargs="+", help="'<scene>_<split><tag>' sets of few_labels.py --random-init runs, "
                                                "or 'a=b': set a with the random-init network of set b")
    args = parser.parse_args()
    print("| set | ratio | runs | LDA OA | network OA, pretrained / random init | right where the LDA is wrong, "
          "pretrained / random init (pixels) | wrong where the LDA is right, pretrained / random init (pixels) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name in args.sets:
        name, _, twin = name.partition("=")
        by_ratio = {}
        for path in sorted(glob.glob(os.path.join(OUT, f"few_labels_{name}_s*_f*_r*.npz"))):
            parts = None if path.endswith("_views.npz") else dict(np.load(path))
            if parts is not None and twin:
                twin_path = path.replace(f"few_labels_{name}_", f"few_labels_{twin}_")
                twin_parts = np.load(twin_path) if os.path.exists(twin_path) else {}
                if "network_random" in twin_parts and np.array_equal(twin_parts["y"], parts["y"]):
                    parts["network_random"] = twin_parts["network_random"]
            if parts is None or "network_random" not in parts:
                continue
            ratio = float(re.search(r"_r([0-9.]+)\.npz$", path).group(1))
            y = parts["y"]
            lda_wrong = parts["lda"].argmax(1) != y
            run = {"lda_oa": 1 - lda_wrong.mean(), "missed": lda_wrong.sum(), "held": (~lda_wrong).sum()}
            for key in ("network", "network_random"):
                hit = parts[key].argmax(1) == y
                run[key] = (hit.mean(), hit[lda_wrong].sum(), (~hit[~lda_wrong]).sum())
            by_ratio.setdefault(ratio, []).append(run)
        for ratio, runs in sorted(by_ratio.items()):
            missed, held = sum(r["missed"] for r in runs), sum(r["held"] for r in runs)

            def both(column, pooled=None):  # pretrained / random init, as a mean over runs or pooled pixels
                values = [sum(r[k][column] for r in runs) / pooled if pooled else np.mean([r[k][column] for r in runs])
                          for k in ("network", "network_random")]
                return " / ".join(f"{100 * v:.1f}" for v in values)

            print(f"| {name} | {100 * ratio:g} % | {len(runs)} | {100 * np.mean([r['lda_oa'] for r in runs]):.1f} | "
                  f"{both(0)} | {both(1, max(missed, 1))} % ({missed}) | {both(2, max(held, 1))} % ({held}) |")


if __name__ == "__main__":
    main()
