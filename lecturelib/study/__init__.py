"""The Locatello et al. study as a sweep: grid, record store, runner (local or Dask), report, command line.

Chapter 9 (the Locatello et al. study) trains a grid of (dataset variant, method, hyperparameter,
seed) models, scores each with every disentanglement metric and downstream task, and compares.

- :mod:`~lecturelib.study.grid`: the grid as a list of :class:`~lecturelib.study.grid.Job` with
  stable, human-readable ids, per compute scale.
- :mod:`lecturelib.store` (shared with train-or-load): one JSON record per job, written atomically
  (first finisher wins), claims that share the work between runners.
- :mod:`~lecturelib.study.folder`: :class:`~lecturelib.study.folder.Study`, one handle on a study
  folder (records, finished ones, kept encoders, agreement records).
- :mod:`~lecturelib.study.settings`: what each compute scale sweeps, trains and evaluates.
- :mod:`~lecturelib.study.runner`: runs a job function over the grid on local processes or a Dask
  cluster, resumably; failures are recorded, not raised.
- :mod:`~lecturelib.study.batched`: trains several models of one grid row in one vmapped step.
- :mod:`~lecturelib.study.report`: records to one table.
- :mod:`~lecturelib.study.tables` (tables and statistics), :mod:`~lecturelib.study.figures` and
  :mod:`~lecturelib.study.cost`: chapter 9's analysis (all importable from :mod:`~lecturelib.study.analysis`).
- :mod:`~lecturelib.study.agreement`: the metrics' fast mode against reference mode on the
  study's kept encoders (chapter 8).
- :mod:`~lecturelib.study.rescore`: scores the kept encoders again when a metric's code changes.
- ``python -m lecturelib.study run|report|agreement|rescore``: the command line.

Dask (``pip install lecturelib[study]``) is imported only when the Dask backend is used.
"""

from lecturelib.study.folder import Study
from lecturelib.study.grid import Job, make_grid, study_grid
from lecturelib.study.report import aggregate, format_table, load_records
from lecturelib.study.runner import run_study
from lecturelib.store import RecordStore

__all__ = ["Job", "make_grid", "study_grid", "RecordStore", "Study", "run_study", "aggregate", "format_table",
           "load_records"]
