"""Analysis of a study's records, by the names chapters 8 and 9 import: tables and statistics
(:mod:`lecturelib.study.tables`), figures (:mod:`lecturelib.study.figures`) and cost
(:mod:`lecturelib.study.cost`). New code imports from those modules.
"""

from lecturelib.study.cost import timing_summary, training_time_estimate
from lecturelib.study.figures import (METHOD_COLORS, METHOD_LABELS, plot_efficiency, plot_hyperparameter_effect,
                                      plot_record_curves, plot_variance_decomposition)
from lecturelib.study.tables import (HEADLINE_METRICS, StudyTable, VarianceTests, collapsed, completion,
                                     cross_rank_correlation, degenerate, downstream_columns, downstream_sizes,
                                     efficiency, efficiency_sizes, finished, mean_image_reconstruction,
                                     pixel_entropy_sum, rank_correlation, score_table, seed_effect,
                                     seed_outweighs_method, spearman_test, variance_decomposition, variance_table,
                                     variance_test, variance_tests)

__all__ = ["HEADLINE_METRICS", "METHOD_COLORS", "METHOD_LABELS", "StudyTable", "VarianceTests", "collapsed",
           "completion", "cross_rank_correlation", "degenerate", "downstream_columns", "downstream_sizes",
           "efficiency", "efficiency_sizes", "finished", "mean_image_reconstruction", "pixel_entropy_sum",
           "plot_efficiency", "plot_hyperparameter_effect", "plot_record_curves", "plot_variance_decomposition",
           "rank_correlation", "score_table", "seed_effect", "seed_outweighs_method", "spearman_test",
           "timing_summary", "training_time_estimate", "variance_decomposition",
           "variance_table", "variance_test", "variance_tests"]
