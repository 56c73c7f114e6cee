"""Exercises: autograded checks (``check_<exercise>(their_function)``) and student notebooks.

A student calls, e.g., ``lecturelib.exercises.check_soft_threshold(my_soft_threshold)`` and gets a
clear pass or a message saying what is wrong (shape, value on a small case, sparsity, ...).
Each chapter's checks live in a module named for its topic (``sparse_coding``, ``autoencoders``,
``vae``, ``reparametrization``, ``evaluation``, ``disentanglement``, ``metrics``, ``study``) and are
registered under the exercise's label (``all_checks()``).
``python -m lecturelib.exercises student --out student_notebooks`` writes the chapters without
solutions; see :mod:`lecturelib.exercises.notebooks`.
"""

from lecturelib.exercises.autoencoders import (check_kl_sparsity, check_linear_denoiser, check_logit_gradients,
                                               check_masking_noise, check_optimal_denoiser, check_tied_ista_step)
from lecturelib.exercises.checks import CheckFailed, ExerciseCheck, all_checks
from lecturelib.exercises.disentanglement import check_gaussian_tc
from lecturelib.exercises.evaluation import check_nearest_centroid, check_slerp
from lecturelib.exercises.metrics import check_mig_from_mi
from lecturelib.exercises.reparametrization import check_sampler, check_score_baseline
from lecturelib.exercises.sparse_coding import check_fista, check_soft_threshold
from lecturelib.exercises.study import check_bootstrap_rank_correlation, check_efficiency, check_grouped_mean_image_loss
from lecturelib.exercises.vae import check_gaussian_kl, check_iwae

__all__ = ["CheckFailed", "ExerciseCheck", "all_checks",
           "check_soft_threshold", "check_fista",                 # 01 sparse coding
           "check_logit_gradients", "check_tied_ista_step", "check_kl_sparsity",  # 02 autoencoders
           "check_optimal_denoiser", "check_linear_denoiser", "check_masking_noise",  # 03 denoising
           "check_gaussian_kl", "check_iwae",                     # 04 variational autoencoders
           "check_sampler", "check_score_baseline",               # 05 the reparametrization trick
           "check_nearest_centroid", "check_slerp",               # 06 evaluating representations
           "check_gaussian_tc",                                   # 07 disentanglement and the beta-VAE
           "check_mig_from_mi",                                   # 08 disentanglement metrics
           "check_bootstrap_rank_correlation", "check_efficiency",  # 09 the Locatello et al. study
           "check_grouped_mean_image_loss"]
