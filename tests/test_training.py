import pytest
import torch

from lecturelib.plotting import plot_history
from lecturelib.training import History, adam, evaluate, train


def regression_problem(n=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, 5, generator=g)
    w = torch.arange(1.0, 6.0)
    return X, X @ w + 0.01 * torch.randn(n, generator=g)


def mse(model, batch):
    X, y = batch
    residual = model(X).squeeze(-1) - y
    return {"loss": residual.pow(2).mean(), "mae": residual.abs().mean()}


def test_training_reduces_the_loss_and_logs():
    X, y = regression_problem()
    torch.manual_seed(0)
    model = torch.nn.Linear(5, 1)
    before = evaluate(model, mse, (X, y), device="cpu")["loss"]
    history = train(model, mse, (X, y), num_steps=300, batch_size=32, lr=0.05, eval_data=(X, y),
                    num_logs=10, device="cpu")
    assert isinstance(history, History)
    assert history.steps[-1] == 300 and len(history.steps) == 10
    assert set(history.train) == {"loss", "mae"} and len(history.eval["loss"]) == 10
    assert history.last("loss", "eval") < 0.01 * before


def test_training_is_deterministic_under_a_seed():
    X, y = regression_problem()
    results = []
    for _ in range(2):
        torch.manual_seed(1)
        model = torch.nn.Linear(5, 1)
        train(model, mse, (X, y), num_steps=20, batch_size=16, seed=3, device="cpu")
        results.append(model.weight.detach().clone())
    assert torch.equal(results[0], results[1])


def test_adam_is_fused_with_the_same_updates():
    X, y = regression_problem()
    models = []
    for fused in (True, False):
        torch.manual_seed(2)
        model = torch.nn.Linear(5, 1)
        optimizer = adam(model.parameters(), lr=0.01) if fused else torch.optim.Adam(model.parameters(), lr=0.01)
        assert optimizer.defaults["fused"] is (True if fused else None)
        train(model, mse, (X, y), num_steps=50, batch_size=16, optimizer=optimizer, device="cpu")
        models.append(model)
    torch.testing.assert_close(models[0].weight, models[1].weight, rtol=1e-5, atol=1e-6)
    assert adam(torch.nn.Linear(2, 1).double().parameters()).defaults["fused"]
    assert not adam([torch.zeros(2, dtype=torch.long)]).defaults["fused"]  # no fused kernel: the loop


def test_epochs_and_streaming_data():
    X, y = regression_problem(n=100)
    model = torch.nn.Linear(5, 1)
    history = train(model, mse, (X.numpy(), y.numpy()), num_epochs=2, batch_size=10, device="cpu", num_logs=100)
    assert history.steps[-1] == 20

    def stream(batch_size, generator):
        X = torch.randn(batch_size, 5, generator=generator)
        return X, X @ torch.arange(1.0, 6.0)

    history = train(torch.nn.Linear(5, 1), mse, stream, num_steps=200, batch_size=64, lr=0.05, device="cpu")
    assert history.last() < 0.05
    with pytest.raises(ValueError, match="num_epochs needs in-memory data"):
        train(model, mse, stream, num_epochs=1, device="cpu")


@pytest.mark.parametrize("kwargs, message", [
    ({}, "exactly one of num_steps and num_epochs"),
    ({"num_steps": 0}, "num_steps must be an int >= 1"),
    ({"num_steps": 5, "batch_size": 0}, "batch_size"),
])
def test_bad_arguments(kwargs, message):
    X, y = regression_problem(n=10)
    with pytest.raises(ValueError, match=message):
        train(torch.nn.Linear(5, 1), mse, (X, y), device="cpu", **kwargs)


def test_loss_fn_contract_and_divergence():
    X, y = regression_problem(n=10)
    with pytest.raises(ValueError, match="dict with a scalar tensor under 'loss'"):
        train(torch.nn.Linear(5, 1), lambda m, b: m(b[0]).sum(), (X, y), num_steps=1, device="cpu")
    with pytest.raises(ValueError, match="must be a scalar"):
        train(torch.nn.Linear(5, 1), lambda m, b: {"loss": m(b[0])}, (X, y), num_steps=1, device="cpu")
    model = torch.nn.Linear(5, 1)
    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        train(model, mse, (X * 1e3, y), num_steps=50, optimizer=torch.optim.SGD(model.parameters(), lr=10.0),
              device="cpu", num_logs=50)
    with pytest.raises(ValueError, match="sharing their first dimension"):
        train(torch.nn.Linear(5, 1), mse, (X, y[:5]), num_steps=1, device="cpu")


def test_plot_history_draws_train_and_eval():
    history = History(steps=[1, 2], train={"loss": [2.0, 1.0]}, eval={"loss": [2.5, 1.5]})
    ax = plot_history(history)
    assert len(ax.lines) == 2


def test_callback_sees_the_model_in_eval_mode_at_its_steps_and_its_time_is_not_counted():
    import time

    X, y = regression_problem()
    model, loss_fn, data = torch.nn.Linear(5, 1), mse, (X, y)
    seen = []

    def callback(step, trained, seconds):
        seen.append((step, trained.training, torch.is_grad_enabled()))
        assert 0 < seconds < 0.2 * len(seen)  # the earlier pauses are not training time
        time.sleep(0.2)

    history = train(model, loss_fn, data, num_steps=12, batch_size=8, callback=callback, callback_steps=[3, 12],
                    device="cpu")
    assert seen == [(3, False, False), (12, False, False)]
    assert history.seconds < 0.3  # the two 0.2 s pauses are left out
    with pytest.raises(ValueError, match="callback"):
        train(model, loss_fn, data, num_steps=2, callback_steps=[1])
    with pytest.raises(ValueError, match="callback"):
        train(model, loss_fn, data, num_steps=2, callback=callback, callback_steps=[0])


class _Interrupt(Exception):
    """Stands for a killed process: raised from a callback after some steps."""


def _stop_at(step_to_stop):
    def callback(step, model, seconds):
        if step == step_to_stop:
            raise _Interrupt
    return callback


def test_an_interrupted_run_resumes_from_its_checkpoint_and_ends_as_the_uninterrupted_one(tmp_path):
    X, y = regression_problem()
    noisy = lambda model, batch: {**mse(model, batch), "loss": mse(model, batch)["loss"]  # noqa: E731
                                  + 1e-3 * torch.randn(()).abs()}  # uses torch's global generator too
    kwargs = dict(num_steps=40, batch_size=24, seed=5, num_logs=8, device="cpu", lr=0.01)

    torch.manual_seed(0)
    reference_model = torch.nn.Linear(5, 1)
    reference = train(reference_model, noisy, (X, y), **kwargs)

    path = tmp_path / "run.checkpoint.pt"
    torch.manual_seed(0)
    model = torch.nn.Linear(5, 1)
    record = {"calls": 0}
    with pytest.raises(_Interrupt):  # killed at step 27: the last checkpoint is step 20
        train(model, noisy, (X, y), checkpoint=path, checkpoint_every=10, callback=_stop_at(27),
              callback_steps=[27], extra_state={"record": record}, **kwargs)
    assert path.exists()
    record["calls"] = 99  # changed after the checkpoint: restored on resume
    torch.manual_seed(123)  # a new process: other global random state, fresh weights
    model = torch.nn.Linear(5, 1)
    resumed = train(model, noisy, (X, y), checkpoint=path, checkpoint_every=10, extra_state={"record": record},
                    **kwargs)
    assert record == {"calls": 0} and not path.exists()
    assert resumed.steps == reference.steps and resumed.train == reference.train
    for got, expected in zip(model.parameters(), reference_model.parameters()):
        torch.testing.assert_close(got, expected, rtol=0, atol=0)
    assert resumed.seconds > 0


def test_a_checkpoint_of_another_run_or_a_corrupt_one_is_refused_by_name(tmp_path):
    X, y = regression_problem()
    path = tmp_path / "run.checkpoint.pt"
    with pytest.raises(_Interrupt):
        train(torch.nn.Linear(5, 1), mse, (X, y), num_steps=20, batch_size=8, device="cpu", checkpoint=path,
              checkpoint_every=5, callback=_stop_at(7), callback_steps=[7])
    with pytest.raises(ValueError, match=r"run.checkpoint.pt belongs to a run with .*delete it"):
        train(torch.nn.Linear(5, 1), mse, (X, y), num_steps=30, batch_size=8, device="cpu", checkpoint=path)
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"run.checkpoint.pt cannot be read.*delete it"):
        train(torch.nn.Linear(5, 1), mse, (X, y), num_steps=20, batch_size=8, device="cpu", checkpoint=path)
    with pytest.raises(ValueError, match="checkpoint_every"):
        train(torch.nn.Linear(5, 1), mse, (X, y), num_steps=20, device="cpu", checkpoint=path, checkpoint_every=0)
