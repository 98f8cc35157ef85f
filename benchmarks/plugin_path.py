"""Makes the repository importable as ``multimodal_siamese`` for the benchmark scripts
(the repository root is the plugin folder, whatever the checkout is called)."""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PLUGINS = os.path.join(ROOT, ".build", "plugins")
if not os.path.exists(os.path.join(PLUGINS, "multimodal_siamese")):
    os.makedirs(PLUGINS, exist_ok=True)
    os.symlink(ROOT, os.path.join(PLUGINS, "multimodal_siamese"))
if PLUGINS not in sys.path:
    sys.path.insert(0, PLUGINS)
