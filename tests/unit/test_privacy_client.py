"""The contributor's side of a private update (mlmarket.client.privacy): clipping, the analytic
Gaussian calibration (checked against Balle and Wang's condition computed here with scipy), the noise
drawn at that scale, and the model file it writes: weights and the declaration only, within the
job's clip_norm as the machine measures it."""

import json
import math
import zipfile
from io import BytesIO

import numpy as np
import pytest
from mlmarket.client import privacy
from mlmarket.client.errors import ClientError
from scipy.stats import norm
from sklearn.datasets import load_breast_cancer

from dapp.ml import fedavg
from dapp.ml.engine import Engine
from dapp.ml.modelfile import Privacy, read_model
from tests.fixtures.ml.helpers import spec, split, to_csv

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

LOGISTIC = spec("LogisticRegression", max_iter=100)
TASK = dict(task="classification", metric="accuracy", label="target")


def analytic_delta(sigma: float, epsilon: float, sensitivity: float) -> float:
    """The delta the Gaussian mechanism with ``sigma`` gives at ``epsilon`` (Balle and Wang 2018, Thm 8)."""
    a, b = sensitivity / (2 * sigma), epsilon * sigma / sensitivity
    return norm.cdf(a - b) - math.exp(epsilon) * norm.cdf(-a - b)


@pytest.fixture(scope="module")
def job() -> dict:
    """A job's validation set, a trained global model and a contributor's private rows."""
    X, y, X_valid, y_valid = split(load_breast_cancer)
    X, X_valid = X / X.std(0), X_valid / X.std(0)
    valid = to_csv(X_valid, y_valid)
    engine = Engine(isolate=False)
    trained = engine.score(**TASK, validation=valid, model=LOGISTIC, train=to_csv(X[:150], y[:150]))
    return {"validation": valid, "global": trained.model_bytes, "private": to_csv(X[150:250], y[150:250]),
            "engine": engine}


def make(job, **kw):
    settings = dict(global_model=job["global"], train=job["private"], validation=job["validation"], **TASK,
                    clip_norm=500_000, epsilon=1.0, delta=1e-5, seed=7, engine=job["engine"])
    return privacy.private_update(**{**settings, **kw})


# --- the pieces --------------------------------------------------------------------------------------

def test_clipping_scales_a_long_vector_to_the_bound_and_keeps_a_short_one():
    long = np.arange(1.0, 31.0)
    clipped = privacy.clip(long, 2.5)
    assert np.linalg.norm(clipped) == pytest.approx(2.5, rel=1e-12)
    assert np.allclose(clipped / np.linalg.norm(clipped), long / np.linalg.norm(long))  # same direction
    short = np.full(4, 0.1)
    assert privacy.clip(short, 2.5) is short


@pytest.mark.parametrize("epsilon, delta", [(0.3, 1e-5), (1.0, 1e-5), (3.0, 1e-6), (10.0, 1e-5), (100.0, 1e-3)])
def test_the_noise_scale_is_the_analytic_gaussian_calibration(epsilon, delta):
    sigma = privacy.noise_scale(epsilon, delta, 2.0)
    assert analytic_delta(sigma, epsilon, 2.0) <= delta * (1 + 1e-6)  # enough noise for (epsilon, delta)
    if epsilon <= 10:  # tight where the library's float search is exact (at 100 it errs on the safe side)
        assert analytic_delta(sigma, epsilon, 2.0) == pytest.approx(delta, rel=1e-3)
        assert analytic_delta(sigma * 0.98, epsilon, 2.0) > delta  # any less noise breaks the guarantee
    if epsilon < 1:  # never worse than the classical mechanism where that one applies
        assert sigma <= math.sqrt(2 * math.log(1.25 / delta)) * 2.0 / epsilon
    assert privacy.noise_scale(epsilon, delta, 4.0) == pytest.approx(2 * sigma)  # linear in the sensitivity


def test_the_noise_drawn_has_the_calibrated_scale():
    noise, sigma = privacy.gaussian_noise(200_000, 1.0, 1e-5, 2.0, np.random.default_rng(3))
    assert sigma == privacy.noise_scale(1.0, 1e-5, 2.0)
    # the sample deviation of 200,000 draws is within 1% of sigma (its standard error is 0.16%)
    assert float(noise.std()) == pytest.approx(sigma, rel=0.01)
    assert abs(float(noise.mean())) < 5 * sigma / math.sqrt(noise.size)
    again, _ = privacy.gaussian_noise(200_000, 1.0, 1e-5, 2.0, np.random.default_rng(3))
    assert np.array_equal(noise, again)  # a seed makes it reproducible (tests only)


def test_a_privatized_update_lies_within_the_bound_whatever_the_noise():
    rng = np.random.default_rng(0)
    for epsilon in (0.3, 1.0, 100.0):
        for _ in range(20):
            update = rng.normal(size=31) * rng.uniform(0.01, 100)
            noised, _ = privacy.privatize(update, 2.5, epsilon, 1e-5, rng)
            assert np.linalg.norm(noised) <= 2.5


def test_a_declaration_is_rounded_up_so_it_never_claims_more_privacy():
    assert privacy.declared_units(0.1234567, 10**6) == 123_457
    assert privacy.declared_units(1.0, 10**6) == 1_000_000
    assert privacy.declared_units(1e-5, 10**12) == 10_000_000
    assert privacy.declared_units(1e-13, 10**12) == 1


@pytest.mark.parametrize("epsilon, delta", [(0, 1e-5), (-1, 1e-5), (100.5, 1e-5), (1, 0), (1, 1), (1, 1.5)])
def test_an_impossible_budget_is_refused(epsilon, delta):
    with pytest.raises(ClientError):
        privacy.check_budget(epsilon, delta)


# --- the update file ---------------------------------------------------------------------------------

def test_the_update_file_holds_weights_and_the_declaration_only(job):
    made = make(job)
    with zipfile.ZipFile(BytesIO(made.model)) as archive:
        manifest = json.loads(archive.read("model.json"))
        members = sorted(archive.namelist())
    assert set(manifest) == {"format", "spec", "features", "arrays", "privacy"}
    assert members == ["arrays/classes.npy", "arrays/coef.npy", "arrays/intercept.npy", "model.json"]
    model = read_model(made.model)
    assert model.privacy == Privacy(1_000_000, 10_000_000)
    assert made.samples == 100  # trained on the 100 private rows, which stay here with their count


def test_the_update_lies_within_the_clip_norm_as_the_machine_measures_it(job):
    made = make(job)
    update, base = read_model(made.model), read_model(job["global"])
    assert fedavg.distance(update, base) <= 0.5
    assert made.distance == pytest.approx(fedavg.distance(update, base), abs=1e-6)
    assert made.trained_distance > made.clip  # this contributor's update was longer than the clip
    checked = job["engine"].check_update(made.model, job["global"], task="classification", label="target",
                                         validation=job["validation"], clip_norm=500_000)
    assert (checked.epsilon, checked.delta) == (1_000_000, 10_000_000)
    assert made.score == job["engine"].score(**TASK, validation=job["validation"], model=made.model).score


def test_the_noise_is_what_the_seed_draws_and_differs_between_seeds(job):
    assert make(job).model == make(job).model
    assert make(job).model != make(job, seed=8).model
    assert make(job, seed=None).model != make(job, seed=None).model  # default: fresh randomness


def test_more_privacy_means_more_noise(job):
    sigmas = [make(job, epsilon=e).sigma for e in (10.0, 1.0, 0.1)]
    assert sigmas == sorted(sigmas) and sigmas[0] > 0
    assert make(job, epsilon=None).sigma == 0 and read_model(make(job, epsilon=None).model).privacy is None


def test_an_update_from_an_untrained_spec_is_clipped_around_zero(job):
    made = make(job, global_model=LOGISTIC)
    assert made.distance <= 0.5 and fedavg.norm(read_model(made.model)) <= 0.5


def test_a_job_without_a_clip_norm_or_with_naive_bayes_gets_no_private_update(job):
    with pytest.raises(ClientError, match="no clip_norm"):
        make(job, clip_norm=0)
    with pytest.raises(ClientError, match="linear model or an MLP"):
        make(job, global_model=spec("GaussianNB"))
    with pytest.raises(ClientError, match="cannot be made"):  # the engine's own refusal, named
        make(job, train=b"x,target\n1,0\n")
