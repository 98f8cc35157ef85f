"""Networks, losses, augmentation and checkpoint format of the multimodal Siamese model.

Pure PyTorch: nothing here imports QGIS. Import the submodules directly, e.g.
``from .models.network import MultimodalSiamese``; this package itself imports nothing so that
the plugin can start (and report a clear message) when torch is missing.
"""
