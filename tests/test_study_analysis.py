"""lecturelib.study.analysis on synthetic records whose structure is known: rank correlations,
downstream columns and efficiency, the nested variance decomposition, completion and timings."""

import math
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import scipy.stats

matplotlib.use("Agg")

from lecturelib.benchmarks import recorded  # noqa: E402
from lecturelib.metrics.classifier_based import dci, downstream_accuracy, make_classifier  # noqa: E402
from lecturelib.study import make_grid  # noqa: E402
from lecturelib.study.analysis import (  # noqa: E402
    HEADLINE_METRICS,
    collapsed,
    completion,
    degenerate,
    cross_rank_correlation,
    downstream_columns,
    downstream_sizes,
    efficiency,
    efficiency_sizes,
    mean_image_reconstruction,
    pixel_entropy_sum,
    plot_efficiency,
    plot_hyperparameter_effect,
    plot_record_curves,
    plot_variance_decomposition,
    rank_correlation,
    score_table,
    seed_effect,
    seed_outweighs_method,
    spearman_test,
    timing_summary,
    training_time_estimate,
    variance_decomposition,
    variance_table,
    variance_test,
    variance_tests,
)


def _record(method, hp, seed, scores, status="ok", timings=None):
    return {"job_id": f"toy-{method}-{hp}-seed{seed}", "status": status,
            "config": {"dataset": "toy", "model": method, "hparams": {"beta": float(hp)}, "seed": seed},
            "scores": scores, "timings": timings or {"train_s": 2.0, "eval_s": 1.0, "total_s": 3.0},
            "hardware": "2 CPU cores (x86_64)", "extra": {"device": "cpu"}}


def synthetic_records(method_effect=0.0, hp_effect=0.0, seed_noise=1.0, seeds=range(4), rng=0):
    """Score = method effect + hyperparameter effect + seed noise, for 2 methods x 3 settings x seeds."""
    rng = np.random.default_rng(rng)
    records = []
    for m, method in enumerate(("beta_vae", "dip_vae_i")):
        for h, hp in enumerate((1, 4, 16)):
            for seed in seeds:
                y = method_effect * m + hp_effect * (h - 1) + seed_noise * rng.normal()
                records.append(_record(method, hp, seed, {
                    "beta_vae.eval_accuracy": y, "factor_vae.eval_accuracy": 2 * y + 1, "mig": -y,
                    "dci.disentanglement": y ** 3, "modularity": rng.normal(), "sap": float(seed),
                    "downstream_gbt.10.mean_test_accuracy": 0.2 + 0.01 * m,
                    "downstream_gbt.100.mean_test_accuracy": 0.4,
                    "downstream_lr.10.mean_test_accuracy": 0.1, "downstream_lr.100.mean_test_accuracy": 0.2,
                    "downstream_lr.100.test_accuracy.shape": 0.5}))
    return records


def test_score_table_keeps_finished_records_and_marks_missing_scores():
    records = synthetic_records()
    records.append(_record("beta_vae", 2, 0, {}, status="error"))
    records.append(_record("beta_vae", 3, 0, {"mig": 0.5}))
    table = score_table(records)
    assert len(table) == 2 * 3 * 4 + 1 and table.columns == tuple(HEADLINE_METRICS)
    assert table.values.shape == (25, 6)
    assert np.isnan(table.values[-1, 0]) and table.column("MIG")[-1] == 0.5
    assert set(table.methods) == {"beta_vae", "dip_vae_i"} and table.hparams[0] == "beta=1"
    with pytest.raises(ValueError, match="label='nope'"):
        table.column("nope")


def test_rank_correlation_matches_scipy_and_sees_monotone_relations():
    table = score_table(synthetic_records(seed_noise=1.0))
    corr = rank_correlation(table.values)
    assert corr.shape == (6, 6) and np.allclose(corr, corr.T, equal_nan=True)
    labels = table.columns
    i = {label: k for k, label in enumerate(labels)}
    # monotone transforms of one score have rank correlation exactly +1 or -1
    assert corr[i["BetaVAE"], i["FactorVAE"]] == pytest.approx(1.0)
    assert corr[i["BetaVAE"], i["DCI Disentanglement"]] == pytest.approx(1.0)
    assert corr[i["BetaVAE"], i["MIG"]] == pytest.approx(-1.0)
    expected = scipy.stats.spearmanr(table.column("BetaVAE"), table.column("Modularity")).statistic
    assert corr[i["BetaVAE"], i["Modularity"]] == pytest.approx(expected)
    assert abs(expected) < 0.6  # an independent score is not rank-correlated


def test_rank_correlation_is_nan_where_undefined_and_uses_pairwise_complete_rows():
    x = np.array([[1.0, 5.0, 2.0], [2.0, 5.0, np.nan], [3.0, 5.0, 1.0], [4.0, 5.0, 0.0]])
    corr = rank_correlation(x)
    assert np.isnan(corr[1]).all() and np.isnan(corr[:, 1]).all()  # a constant score
    assert corr[0, 2] == pytest.approx(-1.0)  # rows 0, 2, 3 only
    assert np.isnan(rank_correlation(x[:2])).all()  # fewer than 3 models
    with pytest.raises(ValueError, match="shape"):
        rank_correlation(np.zeros(5))
    with pytest.raises(ValueError, match="rows"):
        cross_rank_correlation(np.zeros((4, 2)), np.zeros((3, 1)))


def test_cross_rank_correlation_of_metrics_with_downstream_targets():
    rng = np.random.default_rng(1)
    metric = rng.normal(size=30)
    targets = np.stack([metric + 0.01 * rng.normal(size=30), rng.normal(size=30)], axis=1)
    out = cross_rank_correlation(np.stack([metric, -metric], axis=1), targets)
    assert out.shape == (2, 2)
    assert out[0, 0] > 0.99 and out[1, 0] < -0.99 and abs(out[0, 1]) < 0.5


def test_downstream_columns_and_efficiency():
    records = synthetic_records()
    assert downstream_sizes(records, "gbt") == [10, 100]
    assert downstream_columns(records) == {
        "LR 10": "downstream_lr.10.mean_test_accuracy", "LR 100": "downstream_lr.100.mean_test_accuracy",
        "GBT 10": "downstream_gbt.10.mean_test_accuracy", "GBT 100": "downstream_gbt.100.mean_test_accuracy"}
    ratio, sizes = efficiency(records + [_record("x", 1, 0, {}, status="error")], "gbt")
    assert sizes == (10, 100) and ratio.shape == (24,)
    assert np.allclose(ratio[:12], 0.2 / 0.4) and np.allclose(ratio[12:], 0.21 / 0.4)
    assert efficiency_sizes([10, 100, 1000, 10_000]) == (100, 10_000)  # the paper's pair when present
    assert efficiency_sizes([1000, 10]) == (10, 1000)
    with pytest.raises(ValueError, match="two downstream sizes"):
        efficiency_sizes([100])
    with pytest.raises(ValueError, match="model="):
        downstream_sizes(records, "svm")


@pytest.mark.parametrize("effect,dominant", [("method", "method"), ("hp", "hyperparameter"), ("seed", "seed")])
def test_variance_decomposition_finds_the_source_of_variation(effect, dominant):
    kwargs = {"method": dict(method_effect=10.0, seed_noise=0.1), "hp": dict(hp_effect=10.0, seed_noise=0.1),
              "seed": dict(seed_noise=1.0)}[effect]
    table = score_table(synthetic_records(**kwargs))
    out = variance_decomposition(table.column("BetaVAE"), table.methods, table.hparams)
    shares = {k: out[k] for k in ("method", "hyperparameter", "seed")}
    assert sum(shares.values()) == pytest.approx(1.0)
    assert max(shares, key=shares.get) == dominant
    assert out["n"] == 24
    assert out["total_ss"] == pytest.approx(np.sum((table.column("BetaVAE") - table.column("BetaVAE").mean()) ** 2))


def test_variance_decomposition_is_exact_on_a_hand_computed_unbalanced_case():
    y = np.array([1.0, 3.0, 5.0, 10.0, 12.0])
    methods = ["a", "a", "a", "b", "b"]
    hparams = ["x", "x", "y", "x", "x"]  # 'x' of a and 'x' of b are different settings (nested)
    out = variance_decomposition(y, methods, hparams)
    total = np.sum((y - y.mean()) ** 2)
    ss_method = 3 * (3.0 - y.mean()) ** 2 + 2 * (11.0 - y.mean()) ** 2
    ss_hp = 2 * (2.0 - 3.0) ** 2 + 1 * (5.0 - 3.0) ** 2 + 2 * (11.0 - 11.0) ** 2
    ss_seed = (1 - 2.0) ** 2 + (3 - 2.0) ** 2 + (10 - 11.0) ** 2 + (12 - 11.0) ** 2
    assert out["method"] == pytest.approx(ss_method / total)
    assert out["hyperparameter"] == pytest.approx(ss_hp / total)
    assert out["seed"] == pytest.approx(ss_seed / total)
    assert math.isnan(variance_decomposition([1.0, 1.0], ["a", "b"], ["x", "x"])["seed"])
    with pytest.raises(ValueError, match="methods and hparams"):
        variance_decomposition(y, methods[:4], hparams)
    with pytest.raises(ValueError, match="at least 2"):
        variance_decomposition([1.0, np.nan], ["a", "a"], ["x", "x"])


def test_pure_seed_noise_gives_between_group_shares_near_their_degrees_of_freedom():
    # The docstring's claim: with no effect at all, E[share] = (M-1)/(N-1) and (G-M)/(N-1).
    shares = []
    for rep in range(300):
        table = score_table(synthetic_records(seed_noise=1.0, rng=rep))
        shares.append(variance_table(table)[0])
    mean = np.mean(shares, axis=0)
    n, m, g = 24, 2, 6
    assert mean == pytest.approx([(m - 1) / (n - 1), (g - m) / (n - 1), (n - g) / (n - 1)], abs=0.02)


def test_seed_outweighs_method_lists_the_columns_driven_by_seeds():
    table = score_table(synthetic_records(method_effect=10.0, seed_noise=0.1))
    listed = seed_outweighs_method(table)
    # the method drives the BetaVAE, FactorVAE, MIG and DCI columns; SAP is the seed itself;
    # Modularity is fresh noise, so the seed term holds most of it
    assert "SAP" in listed and "Modularity" in listed
    assert not {"BetaVAE", "FactorVAE", "MIG", "DCI Disentanglement"} & set(listed)
    assert listed == seed_outweighs_method(table, variance_table(table))
    with pytest.raises(ValueError, match="shares must have shape"):
        seed_outweighs_method(table, np.zeros((2, 3)))


def test_completion_and_timing_summary():
    jobs = make_grid(["toy"], {"beta_vae": [{"beta": 1.0}, {"beta": 4.0}]}, [0, 1])
    records = [{"job_id": jobs[0].job_id, "status": "ok", "timings": {"train_s": 4.0, "total_s": 5.0},
                "hardware": "H100", "extra": {"device": "cuda"}},
               {"job_id": jobs[1].job_id, "status": "error"},
               {"job_id": jobs[2].job_id, "status": "ok", "timings": {"train_s": 2.0, "total_s": 3.0},
                "hardware": "H100", "extra": {"device": "cuda"}},
               {"job_id": "elsewhere", "status": "ok"}]
    assert completion(records, jobs) == (2, 4)
    summary = timing_summary(records)
    assert summary["n"] == 3 and summary["median_train_s"] == 3.0 and summary["sum_total_s"] == 8.0
    assert math.isnan(summary["median_eval_s"]) and summary["hardware"] == ["?", "H100"]
    assert summary["devices"] == ["?", "cuda"]
    assert summary["median_eval_parts"] == {}


def test_timing_summary_ranks_the_parts_of_the_scoring():
    records = [{"job_id": f"j{i}", "status": "ok",
                "timings": {"train_s": 9.0, "eval_s": 6.0, "eval.dci_s": 1.0 + i, "eval.beta_vae_s": 4.0 * i,
                            "images_per_s": 100.0}} for i in range(3)]
    records.append({"job_id": "old", "status": "ok", "timings": {"train_s": 9.0}})  # before eval parts were timed
    parts = timing_summary(records)["median_eval_parts"]
    assert parts == {"beta_vae": 4.0, "dci": 2.0} and list(parts) == ["beta_vae", "dci"]


GPU_RESULT = {"name": "study-gpu", "provenance": {"command": "python benchmarks/study.py --full --device cuda"},
              "values": {"device": "Some GPU", "throughput": [
                  {"models": 1, "alone": 10_000.0, "stacked": 8_000.0},
                  {"models": 8, "alone": 12_500.0, "stacked": 50_000.0},
                  {"models": 32, "alone": 12_000.0, "stacked": 120_000.0}]}}


def test_training_time_estimate_uses_the_largest_measured_stack_within_the_group():
    est = training_time_estimate(GPU_RESULT, images=1_000_000, group_size=9)
    assert est["M"] == 8 and est["device"] == "Some GPU"
    assert est["stacked_s"] == pytest.approx(20.0) and est["alone_s"] == pytest.approx(80.0)
    assert training_time_estimate(GPU_RESULT, images=1_000_000, group_size=32)["M"] == 32


def test_training_time_estimate_errors_name_the_problem():
    with pytest.raises(ValueError, match="recorded result of benchmarks/study.py"):
        training_time_estimate({"values": {"rates": []}}, images=10, group_size=4)
    with pytest.raises(ValueError, match="none <= group_size"):
        training_time_estimate({"values": {"throughput": GPU_RESULT["values"]["throughput"][1:]}},
                               images=10, group_size=4)
    with pytest.raises(ValueError, match="group_size must be a positive integer"):
        training_time_estimate(GPU_RESULT, images=10, group_size=0)
    with pytest.raises(ValueError, match="images must be a positive integer"):
        training_time_estimate(GPU_RESULT, images=0, group_size=9)


@pytest.mark.parametrize("name", ["study", "study-gpu"])
def test_the_shipped_study_benchmarks_match_their_printed_tables(name):
    """The recorded values are the numbers of the table the run printed (its rows, speed-ups included)."""
    result = recorded(name)
    table = (Path(__file__).resolve().parents[1] / result["provenance"]["table"]).read_text()
    rows = [line.split() for line in table.splitlines() if line[:3].strip().isdigit()]
    assert [int(r[0]) for r in rows] == [row["models"] for row in result["values"]["throughput"]]
    for cells, row in zip(rows, result["values"]["throughput"]):
        assert (f"{row['alone']:,.0f}", f"{row['stacked']:,.0f}") == (cells[1], cells[2])
        # the printed speed-up is of the unrounded rates: equal to 2 decimals up to the rates' rounding
        assert row["stacked"] / row["alone"] == pytest.approx(float(cells[-1].rstrip("x")), abs=0.01)


class CoinPixels:
    """Two-pixel images: the first pixel is a fair coin (the factor), the second always on."""

    def sample_factors(self, n, seed):
        return np.random.default_rng(seed).integers(0, 2, size=(n, 1))

    def render(self, factors):
        return np.stack([factors[:, 0], np.ones(len(factors))], axis=1).reshape(-1, 1, 1, 2).astype(np.float32)


def test_pixel_entropy_sum_is_the_sum_of_bernoulli_entropies():
    p = np.array([[0.5, 0.1], [0.9, 0.0]])
    np.testing.assert_allclose(pixel_entropy_sum(p), scipy.stats.bernoulli(p).entropy().sum(), rtol=1e-9)
    assert pixel_entropy_sum([0.5] * 3) == pytest.approx(3 * np.log(2))
    assert pixel_entropy_sum([0.0, 1.0]) == pytest.approx(0.0, abs=1e-9)


def test_mean_image_reconstruction_is_the_best_code_blind_decoders_cross_entropy():
    import torch

    data = CoinPixels()
    nll = mean_image_reconstruction(data, num_samples=4_000, seed=3)
    assert nll == pytest.approx(math.log(2), abs=1e-3)  # one fair coin, one certain pixel
    images = torch.as_tensor(data.render(data.sample_factors(4_000, 3))).double().reshape(4_000, -1)
    mean = images.mean(dim=0, keepdim=True).expand_as(images)
    bce = torch.nn.functional.binary_cross_entropy(mean, images, reduction="sum") / len(images)
    assert nll == pytest.approx(float(bce), rel=1e-9)
    with pytest.raises(ValueError, match="num_samples"):
        mean_image_reconstruction(data, num_samples=1)


def test_collapsed_lists_the_models_at_the_code_blind_baseline():
    records = [_record("annealed_vae", 5, 0, {}), _record("beta_vae", 1, 0, {}), _record("beta_vae", 4, 0, {}),
               _record("beta_vae", 8, 0, {}, status="error")]
    records[0]["curves"] = {"reconstruction": [3000.0, 512.0], "kl": [0.0, 5.0]}
    records[1]["curves"] = {"reconstruction": [3000.0, 50.0], "kl": [0.0, 30.0]}
    records[3]["curves"] = {"reconstruction": [3000.0, 513.0], "kl": [0.0, 0.0]}  # failed: not a model
    out = collapsed(records, baseline=513.0)
    assert out == [{"job_id": records[0]["job_id"], "model": "annealed_vae", "reconstruction": 512.0, "kl": 5.0}]
    assert collapsed(records, baseline=513.0, tolerance=0.0) == []
    with pytest.raises(ValueError, match="tolerance"):
        collapsed(records, baseline=513.0, tolerance=1.0)


def test_plots_draw_one_artist_per_method_and_bar():
    table = score_table(synthetic_records())
    ratio, sizes = efficiency(synthetic_records())
    ax = plot_efficiency(table.column("FactorVAE"), ratio, table.methods, sizes=sizes)
    assert len(ax.collections) == 2 and "(10) / (100)" in ax.get_ylabel()
    ax = plot_variance_decomposition(variance_table(table), table.columns)
    assert len(ax.patches) == 3 * 6
    with pytest.raises(ValueError, match="shares"):
        plot_variance_decomposition(np.zeros((2, 2)), ["a", "b"])
    with pytest.raises(ValueError, match="1-D"):
        plot_efficiency([1.0], [1.0, 2.0], ["a"])


def test_plot_record_curves_draws_each_records_logged_curve():
    runs = [{**_record("annealed_vae", c, 0, {}), "curves": {"steps": [0, 10, 20], "kl": [0.0, c / 2, c]}}
            for c in (5, 25)]
    ax = plot_record_curves(runs, "kl", ["fast", "slow"], styles=["-", "--"], colors=["red", "red"])
    assert [line.get_color() for line in ax.lines] == ["red", "red"]
    assert [line.get_label() for line in ax.lines] == ["fast", "slow"]
    np.testing.assert_array_equal(ax.lines[1].get_ydata(), [0.0, 12.5, 25.0])
    assert ax.lines[1].get_linestyle() == "--" and ax.get_ylabel() == "kl"
    with pytest.raises(ValueError, match=r"key='loss' is not a curve of toy-annealed_vae-5-seed0; it has \['kl', 'steps'\]"):
        plot_record_curves(runs, "loss", ["a", "b"])
    with pytest.raises(ValueError, match=r"labels must have one entry per record \(2\), got 1"):
        plot_record_curves(runs, "kl", ["a"])
    with pytest.raises(ValueError, match="colors must have one entry per record"):
        plot_record_curves(runs, "kl", ["a", "b"], colors=["red"])


def test_boosting_rounds_set_the_trees_of_dci_and_downstream_gbt():
    assert make_classifier("hgb", 0, boosting_rounds=7).max_iter == 7
    assert make_classifier("gbt", 0).n_estimators == 100  # the reference by default
    with pytest.raises(ValueError, match="boosting_rounds"):
        make_classifier("gbt", 0, boosting_rounds=0)
    rng = np.random.default_rng(0)
    factors = rng.integers(0, 3, size=(120, 2))
    codes = factors + 0.1 * rng.normal(size=factors.shape)
    few = dci(codes[:80], factors[:80], codes[80:], factors[80:], importance="hgb_permutation", boosting_rounds=2)
    assert few["disentanglement"] > 0.5
    acc = downstream_accuracy(codes[:80], factors[:80], codes[80:], factors[80:], model="gbt", fast=True,
                              boosting_rounds=3)
    assert acc["test_accuracy"].min() > 0.9


def test_annotated_heatmap_writes_every_value():
    from lecturelib.plotting import annotated_heatmap

    matrix = np.array([[1.0, -0.5], [np.nan, 0.25]])
    ax = annotated_heatmap(matrix, ["a", "b"], ["c", "d"])
    assert [t.get_text() for t in ax.texts] == ["1.00", "-0.50", "n/a", "0.25"]
    with pytest.raises(ValueError, match="matrix must have shape"):
        annotated_heatmap(matrix, ["a"])


def _three_methods(method_effect=0.0, hp_effect=0.0, rng=0):
    """3 methods x 4 settings x 3 seeds: enough settings for the method's permutation test to reach p < 0.01."""
    m, h = np.repeat(np.arange(3), 12), np.tile(np.repeat(np.arange(4), 3), 3)
    y = method_effect * m + hp_effect * h + np.random.default_rng(rng).normal(size=36)
    return y, m.astype(str), h.astype(str)


@pytest.mark.parametrize("kwargs,significant", [(dict(method_effect=3.0), "method"), (dict(hp_effect=2.0), "hyperparameter")])
def test_variance_test_finds_a_real_effect_and_agrees_with_the_f_test(kwargs, significant):
    y, methods, hparams = _three_methods(**kwargs)
    out = variance_test(y, methods, hparams, num_permutations=999)
    assert out[f"p_{significant}"] <= 0.01 and out[f"f_p_{significant}"] <= 0.01
    assert out[f"noise_{significant}"] < out[significant]
    shares = variance_decomposition(y, methods, hparams)
    assert all(out[k] == shares[k] for k in ("method", "hyperparameter", "seed"))


def test_variance_test_p_values_are_uniform_under_pure_noise():
    # a valid test rejects at the 5% level in about 5% of noise-only data sets
    p = np.array([[(out := variance_test(np.random.default_rng(rep).normal(size=24),
                                         score_table(synthetic_records()).methods,
                                         score_table(synthetic_records()).hparams, num_permutations=199,
                                         seed=rep))["p_method"], out["p_hyperparameter"]] for rep in range(200)])
    rejected = np.mean(p <= 0.05, axis=0)
    assert np.all(rejected < 0.05 + 3 * np.sqrt(0.05 * 0.95 / 200)), rejected


def test_variance_test_noise_baseline_is_the_pure_noise_share():
    # with no effect, the nulls' mean shares are the degrees-of-freedom fractions (M-1)/(N-1), (G-M)/(N-1)
    table = score_table(synthetic_records())
    noise = np.mean([[(o := variance_test(np.random.default_rng(rep).normal(size=24), table.methods,
                                          table.hparams, num_permutations=199, seed=rep))["noise_method"],
                      o["noise_hyperparameter"]] for rep in range(100)], axis=0)
    assert noise == pytest.approx([1 / 23, 4 / 23], abs=0.02)


def test_variance_test_is_nan_for_a_constant_score_and_checks_its_arguments():
    table = score_table(synthetic_records())
    assert math.isnan(variance_test(np.ones(24), table.methods, table.hparams)["p_method"])
    with pytest.raises(ValueError, match="num_permutations"):
        variance_test(np.zeros(24), table.methods, table.hparams, num_permutations=0)


def test_variance_tests_of_a_table_and_their_marks_on_the_bars():
    table = score_table(synthetic_records(method_effect=3.0))
    tests = variance_tests(table, num_permutations=99)
    assert tests.shares.shape == (6, 3) and tests.noise.shape == tests.p_values.shape == (6, 2)
    assert np.allclose(tests.shares[np.isfinite(tests.shares).all(axis=1)], variance_table(table)[
        np.isfinite(tests.shares).all(axis=1)])
    ax = plot_variance_decomposition(tests.shares, table.columns, noise=tests.noise, p_values=tests.p_values)
    assert len(ax.collections) == 2 and sum(t.get_text().startswith("p = ") for t in ax.texts) == 6
    with pytest.raises(ValueError, match="noise"):
        plot_variance_decomposition(tests.shares, table.columns, noise=np.zeros((6, 3)))


def test_seed_effect_sees_a_seed_that_is_best_everywhere():
    records = synthetic_records(seed_noise=0.0, seeds=range(3))
    for r in records:  # seed 0 is best in every setting, by a margin that varies
        r["scores"]["mig"] = (2.0 if r["config"]["seed"] == 0 else 0.0) + np.random.default_rng(
            len(r["job_id"]) + r["config"]["seed"]).normal(scale=0.1)
    out = seed_effect(score_table(records), "MIG")
    assert list(out["seeds"]) == [0, 1, 2] and out["n_blocks"] == 6
    assert list(out["best_counts"]) == [6, 0, 0] and out["mean_ranks"][0] == 3.0
    assert out["p_value"] == pytest.approx(scipy.stats.friedmanchisquare(
        *score_table(records).column("MIG").reshape(6, 3).T).pvalue)
    # SAP is the seed itself in the synthetic records; with two seeds the test is not defined
    assert math.isnan(seed_effect(score_table(synthetic_records(seeds=range(2))), "SAP")["p_value"])


def test_seed_effect_leaves_out_settings_where_all_seeds_tie():
    records = synthetic_records(seeds=range(3))
    for r in records:
        if r["config"]["model"] == "beta_vae":
            r["scores"]["mig"] = 0.0
    assert seed_effect(score_table(records), "MIG")["n_blocks"] == 3


def test_spearman_test_matches_scipy_and_skips_missing_values():
    a, b = np.arange(10.0), np.array([1, 3, 2, 5, 4, 7, 6, 9, 8, 10.0])
    rho, p = spearman_test(np.append(a, np.nan), np.append(b, 1.0))
    expected = scipy.stats.spearmanr(a, b)
    assert rho == pytest.approx(expected.statistic) and p == pytest.approx(expected.pvalue)
    assert all(math.isnan(v) for v in spearman_test(np.ones(5), np.arange(5.0)))
    with pytest.raises(ValueError, match="1-D of one length"):
        spearman_test(a, b[:3])


def test_degenerate_lists_models_far_above_the_median_reconstruction():
    records = [_record("beta_vae", hp, 0, {}) for hp in (1, 2, 3, 4)] + [_record("annealed_vae", 5, 0, {})]
    for r, final in zip(records, (50.0, 60.0, 70.0, 200.0, 513.0)):
        r["curves"] = {"reconstruction": [3000.0, final]}
    assert degenerate(records) == [records[-1]["job_id"]]  # median 70: 513 > 210, 200 is not
    assert degenerate(records, factor=2.5) == [records[3]["job_id"], records[4]["job_id"]]
    with pytest.raises(ValueError, match="factor"):
        degenerate(records, factor=1.0)


def test_plot_hyperparameter_effect_draws_one_panel_per_method_in_setting_order():
    table = score_table(synthetic_records(seeds=range(3)))
    axes = plot_hyperparameter_effect(table.column("MIG"), table.methods, table.hparams, table.seeds, label="MIG",
                                      excluded=table.methods == "dip_vae_i")
    assert len(axes) == 2 and [a.get_title() for a in axes] == ["β-VAE", "DIP-VAE-I"]
    assert [t.get_text() for t in axes[0].get_xticklabels()] == ["beta=1", "beta=4", "beta=16"]
    assert len(axes[0].lines) == 3  # one line per seed
    with pytest.raises(ValueError, match="axes"):
        plot_hyperparameter_effect(table.column("MIG"), table.methods, table.hparams, table.seeds, label="MIG",
                                   axes=[axes[0]])
