"""Test-wide settings: one thread per process (CI has 2 cores shared with notebook kernels)."""

import os

os.environ.setdefault("LECTURELIB_SCALE", "tiny")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

os.environ.setdefault("LECTURELIB_THREADS", "1")

from lecturelib.config import set_threads  # noqa: E402

set_threads()  # a bad LECTURELIB_THREADS is named here too, not a raw int() error

# Property-based tests (tests/test_properties.py): a bounded, derandomized profile by default, so that
# `make test` and CI draw the same examples in a bounded time; HYPOTHESIS_PROFILE=explore searches more.
# No example database: nothing is written into the checkout.
from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile("ci", max_examples=25, deadline=None, derandomize=True, database=None,
                          print_blob=True, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("explore", max_examples=500, deadline=None, database=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
