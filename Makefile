# Two commands on a fresh Debian 12 or 13 machine (as root): `make demo` and `make test`; on a
# minimal image without make or git, `sh bootstrap.sh demo` and `sh bootstrap.sh test`.
PYTHON := .venv/bin/python

.PHONY: setup demo test test-core package matrix clean

setup:
	bash scripts/setup.sh

demo: setup
	bash scripts/demo.sh

# The whole suite: QGIS-free core and models, then the plugin inside QGIS and qgis_process.
test: setup
	QT_QPA_PLATFORM=offscreen $(PYTHON) -m pytest -q tests

# Fast: the QGIS-free core and the networks only (no QGIS started).
test-core: setup
	$(PYTHON) -m pytest -q -p no:pytest_qgis tests/core tests/models

# The plugin zip for the QGIS plugin repository (or "Install from ZIP"): multimodal_siamese.zip.
package:
	python3 scripts/package.py

# The README's two commands in fresh minimal chroots of Debian 12, 13 and unstable (QGIS 3.22,
# 3.40 LTR, 3.44); as root, about an hour the first time: docs/compatibility.md.
DISTS ?= bookworm trixie sid
matrix:
	bash scripts/test_matrix.sh $(DISTS)

clean:
	rm -rf .build demo_output .pytest_cache multimodal_siamese.zip
