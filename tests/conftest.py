"""Test-wide settings: one thread per process (CI has 2 cores shared with notebook kernels)."""

import os

os.environ.setdefault("LECTURELIB_SCALE", "tiny")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import torch  # noqa: E402

torch.set_num_threads(int(os.environ.get("LECTURELIB_THREADS", "1")))
