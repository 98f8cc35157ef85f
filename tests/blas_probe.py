"""Which BLAS torch multiplies with, seen from its results: a digest of one float32 matrix product.

torch's own BLAS and a system BLAS (OpenBLAS, the reference BLAS) sum in other orders, so their
products differ in the last bits and the digest tells them apart (core/runtime/torch_loading.py)."""

import hashlib


def product_digest() -> str:
    import torch

    generator = torch.Generator().manual_seed(0)
    a = torch.randn(300, 700, generator=generator)
    b = torch.randn(700, 200, generator=generator)
    return hashlib.sha256((a @ b).numpy().tobytes()).hexdigest()
