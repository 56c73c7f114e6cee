"""Exercises: autograded checks (``check_<exercise>(their_function)``) and student notebooks.

A student calls, e.g., ``lecturelib.exercises.check_soft_threshold(my_soft_threshold)`` and gets a
clear pass or a message saying what is wrong (shape, value on a small case, sparsity, ...).
``python -m lecturelib.exercises student --out student_notebooks`` writes the chapters without
solutions; see :mod:`lecturelib.exercises.notebooks`.
"""

from lecturelib.exercises.checks import CheckFailed, ExerciseCheck, all_checks

__all__ = ["CheckFailed", "ExerciseCheck", "all_checks"]
