"""QGIS-free core, in layers; a layer imports only the layers after it (never back):

* ``jobs``: one whole job per algorithm (pretrain, train, classify, suggest, embed, evaluate);
* ``learn``: the engines: pretraining and fine-tuning loops, the spectral path, dense prediction,
  embedding, the evaluation protocol, metrics;
* ``io``: the analyst's data: rasters on one grid, labels, patches and blocks, the scene in memory;
* ``output``: reports, QGIS styles, class colours, whole-or-nothing files;
* ``runtime`` (beside them): optional dependencies and their installer, the triton guard, versions.

``errors`` and ``progress`` are shared by all. Nothing in this package imports QGIS; the
Processing algorithms are thin adapters over ``jobs``.
"""
