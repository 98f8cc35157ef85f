"""How far the default's networks change the LDA's map, and what a softer LDA would give them.

    .venv/bin/python benchmarks/few_labels.py --lean --random-init --pretrain-variant ctx --tag _pooledri \
        --ratios 0.05,0.1,0.2 --scene S --seed N          # saves every run's test probabilities
    .venv/bin/python benchmarks/lda_dominance.py tahoe tahoe_chm

From each ``_pooledri`` run's saved test probabilities (``benchmarks/out/*.npz``): the default is ½ the
three networks + ½ the LDA that ``SPECTRAL_CONTEXT=auto`` chose (the pooled LDA, ``plda`` or
``plda_ctx``), so the networks' part is recovered as 2 × default − LDA. Printed per scene: the test
pixels whose class the networks change against the chosen LDA alone, and the runs where they change
none; then per ratio the mean OA / mIoU of the LDA alone, the networks alone, and the default rebuilt
with the LDA's logits divided by a temperature T before the average (T = 1 is the default).
"""

import glob
import os
import re
import sys

import numpy as np

from few_labels import OUT, score
from multimodal_siamese.core.io.labels import ClassInfo
from multimodal_siamese.core.learn.spectral import log_softmax

TEMPERATURES = (1, 2, 4, 8)


def runs(scene):
    """(ratio, y, the chosen LDA's logits, the networks' probabilities) of every saved run."""
    for path in sorted(glob.glob(os.path.join(OUT, f"few_labels_{scene}_blocks_pooledri_s*_f*_r*.npz"))):
        saved = np.load(path)
        default = np.exp(saved["ensemble"].astype(np.float64))
        logits = {name: saved[name].astype(np.float64) for name in ("plda", "plda_ctx")}
        # the networks' part left by each LDA; only the one the default averaged leaves no negative share
        parts = {name: 2 * default - np.exp(log_softmax(logits[name])) for name in logits}
        chosen = max(parts, key=lambda name: parts[name].min())
        networks = np.clip(parts[chosen], 0, None)
        yield (re.search(r"_r([\d.]+)\.npz$", path).group(1), saved["y"], logits[chosen],
               networks / networks.sum(1, keepdims=True))


def report(scene):
    changed = total = untouched = count = 0
    scores = {}
    for ratio, y, lda, networks in runs(scene):
        codes = np.arange(lda.shape[1])
        classes = [ClassInfo(int(c), int(c), str(c), "#000000") for c in codes]
        rows = {"LDA alone": lda.argmax(1), "networks alone": networks.argmax(1)}
        rows.update({f"default, LDA logits / {t}": (networks + np.exp(log_softmax(lda / t))).argmax(1)
                     for t in TEMPERATURES})
        moved = int((rows["LDA alone"] != rows["default, LDA logits / 1"]).sum())
        changed, total, untouched, count = changed + moved, total + len(y), untouched + (moved == 0), count + 1
        for name, predicted in rows.items():
            scores.setdefault((ratio, name), []).append(score(codes, classes, y, predicted)[:2])
    print(f"{scene}: the networks change {changed} of {total} test pixels of the LDA's map "
          f"({100 * changed / total:.2f} %); none in {untouched} of {count} runs")
    for (ratio, name), values in scores.items():
        values = 100 * np.array(values)
        print(f"  {100 * float(ratio):g} %  {name}: {values[:, 0].mean():.2f} / {values[:, 1].mean():.2f} "
              f"(worst run {values[:, 0].min():.1f}, {len(values)} runs)")


if __name__ == "__main__":
    for name in sys.argv[1:]:
        report(name)
