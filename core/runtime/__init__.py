"""The Python environment: optional dependencies and their installer, the triton guard, versions."""
