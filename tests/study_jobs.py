"""Cheap job functions for tests/test_study.py, in a light module so worker processes import little."""

import os
import time

import numpy as np


def cheap_job(job):
    """Deterministic scores from the seed and hyperparameters (stands in for train + evaluate)."""
    x = np.random.default_rng(job.seed).normal(size=200)
    return {"scores": {"mean": float(x.mean() * job.hparams["beta"]), "std": float(x.std())},
            "curves": {"loss": [3.0, 2.0, float(job.hparams["beta"])]}, "timings": {"train_s": 0.0}}


def failing_job(job):
    if job.hparams["beta"] > 2:
        raise RuntimeError(f"diverged at beta={job.hparams['beta']}")
    return cheap_job(job)


def counting_job(job):
    """Logs every execution to $STUDY_TEST_LOG, then sleeps: lets a test kill a run midway."""
    with open(os.environ["STUDY_TEST_LOG"], "a") as log:
        log.write(job.job_id + "\n")
    time.sleep(float(os.environ.get("STUDY_TEST_SLEEP", "0")))
    return cheap_job(job)


def keeping_job(job):
    """Like :func:`counting_job`, and keeps an artifact holding a number drawn afresh by each attempt.

    The record's score ``attempt`` is the same number, so a test can check that the artifact a
    record names is the one its own attempt wrote.
    """
    import torch

    result = counting_job(job)
    attempt = float(np.random.default_rng().random())
    result["scores"]["attempt"] = attempt
    result["artifacts"] = {"encoder": {"attempt": torch.tensor(attempt, dtype=torch.float64)}}
    return result
