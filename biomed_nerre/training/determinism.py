"""Bit-for-bit reproducible training on GPUs (`--full-determinism`), for as long as one run lasts.

On a CPU the loop is already deterministic. On a GPU some kernels of the backward pass (the scatter-add in
`gather`'s backward pass, for one) add in whatever order their threads finish, so two runs, or a run and
its resumed copy, drift apart in the last bits (seen on an H100). `torch.use_deterministic_algorithms(True)`
swaps in ordered kernels (slower), and cuBLAS needs a fixed workspace for its own results to repeat.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def full_determinism(enabled: bool) -> Iterator[None]:
    """Deterministic kernels inside the block, the process's previous settings restored after it."""
    if not enabled:
        yield
        return
    # read by cuBLAS when it creates its handle: set before the first matrix product on the GPU
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    previous = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic,
                torch.backends.cudnn.benchmark)
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous[0])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = previous[1], previous[2]
