"""The study records shipped in ``lecturelib/results`` are what their commands make (provenance).

Chapters 8 and 9 read them; a record whose config differs from the grid job of its id would be
silently compared with the wrong model.
"""

from pathlib import Path

import pytest

import lecturelib
from lecturelib.study import load_records, study_grid

RESULTS = Path(lecturelib.__file__).resolve().parent / "results"


@pytest.mark.parametrize("folder, grid", [
    ("study_default", lambda: study_grid("default")),
    ("study_annealed_ramp", lambda: study_grid("default", methods=("annealed_vae",), seeds=(0,),
                                               annealed_threshold=100_000)),
])
def test_shipped_records_are_the_jobs_of_their_command(folder, grid):
    records = load_records(RESULTS / folder)
    assert records, f"no records in {folder}"
    jobs = {job.job_id: job.to_dict() for job in grid()}
    for record in records:
        assert record["status"] == "ok", record["job_id"]
        assert record["config"] == jobs[record["job_id"]], record["job_id"]
        if record["config"]["seed"] == 0:  # the encoders the chapters encode with
            assert (RESULTS / folder / record["artifacts"]["encoder"]).is_file(), record["job_id"]
    if folder == "study_annealed_ramp":
        assert len(records) == len(jobs)
