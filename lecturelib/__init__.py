"""lecturelib: the tested code behind the representation-learning lecture book.

One module per topic (``sparse_coding``, ``autoencoders``, ``vae``, ...); every chapter notebook
starts with ``ctx = lecturelib.setup_notebook()``.
"""

__version__ = "0.1.0"

from lecturelib.config import get_scale, resolve_device, scaled  # noqa: E402
from lecturelib.notebook import setup_notebook  # noqa: E402

__all__ = ["__version__", "get_scale", "resolve_device", "scaled", "setup_notebook"]
