# Two commands on a fresh Debian 12 machine (as root): `make demo` and `make test`.
PYTHON := .venv/bin/python

.PHONY: setup demo test test-core package clean

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

clean:
	rm -rf .build demo_output .pytest_cache multimodal_siamese.zip
