"""Private updates, what the machine checks (issue 16): a model file's privacy declaration (bounded,
canonical, refused when malformed) and a job's clip_norm as the bound on an update's distance from the
global model, accepted up to the documented float tolerance and refused just past it."""

import json
import zipfile
from io import BytesIO

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer

from dapp.ml import fedavg
from dapp.ml.engine import Engine
from dapp.ml.errors import MLError
from dapp.ml.modelfile import Model, Privacy, read_model, write_model
from tests.fixtures.ml.helpers import spec, split, to_csv

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

LOGISTIC = spec("LogisticRegression", max_iter=100)
TASK = dict(task="classification", label="target")


@pytest.fixture(scope="module")
def world() -> tuple[bytes, bytes, bytes]:
    """(validation CSV, a trained global model, another trained model of the same spec)."""
    X, y, X_valid, y_valid = split(load_breast_cancer)
    X, X_valid = X / X.std(0), X_valid / X.std(0)
    valid = to_csv(X_valid, y_valid)
    engine = Engine(isolate=False)
    models = [engine.score(**TASK, metric="accuracy", validation=valid, model=LOGISTIC,
                           train=to_csv(X[a:a + 150], y[a:a + 150])).model_bytes for a in (0, 150)]
    return valid, models[0], models[1]


def moved(base: bytes, distance: float, privacy: Privacy | None = None, seed: int = 0) -> bytes:
    """``base`` with its parameters moved ``distance`` along a random direction (and a declaration)."""
    model = read_model(base)
    names = fedavg.parameters(model)
    direction = np.random.default_rng(seed).normal(size=sum(model.arrays[n].size for n in names))
    direction *= distance / np.linalg.norm(direction)
    arrays, offset = dict(model.arrays), 0
    for n in names:
        size = model.arrays[n].size
        arrays[n] = model.arrays[n] + direction[offset:offset + size].reshape(model.arrays[n].shape)
        offset += size
    return write_model(Model(model.spec, model.features, arrays, privacy))


def check(update: bytes, base: bytes, valid: bytes, clip_norm: int = 0):
    return Engine(isolate=False).check_update(update, base, **TASK, validation=valid, clip_norm=clip_norm)


def code_of(call) -> MLError:
    with pytest.raises(MLError) as err:
        call()
    return err.value


def manifest(data: bytes) -> dict:
    with zipfile.ZipFile(BytesIO(data)) as archive:
        return json.loads(archive.read("model.json"))


def rewritten(data: bytes, **changes) -> bytes:
    """The model file with its model.json keys changed (a hand-made file)."""
    members = {}
    with zipfile.ZipFile(BytesIO(data)) as archive:
        for info in archive.infolist():
            members[info.filename] = archive.read(info.filename)
    members["model.json"] = json.dumps({**json.loads(members["model.json"]), **changes}).encode()
    out = BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return out.getvalue()


# --- the declaration in the model file ---------------------------------------------------------------

def test_a_declaration_is_written_canonically_and_read_back(world):
    _, base, _ = world
    declared = moved(base, 0.5, Privacy(1_000_000, 10_000_000))
    assert manifest(declared)["privacy"] == {"epsilon_millionths": 1_000_000, "delta_trillionths": 10_000_000}
    assert read_model(declared).privacy == Privacy(1_000_000, 10_000_000)
    again = read_model(declared)
    assert write_model(again) == declared  # canonical: reading and writing gives the same bytes
    assert "privacy" not in manifest(base) and read_model(base).privacy is None


@pytest.mark.parametrize("privacy", [
    {"epsilon_millionths": 0, "delta_trillionths": 1},  # epsilon 0
    {"epsilon_millionths": 100_000_001, "delta_trillionths": 1},  # epsilon over 100
    {"epsilon_millionths": 1, "delta_trillionths": 0},  # delta 0
    {"epsilon_millionths": 1, "delta_trillionths": 10**12},  # delta 1
    {"epsilon_millionths": 1.5, "delta_trillionths": 1},  # not an integer
    {"epsilon_millionths": True, "delta_trillionths": 1},  # a boolean is not a number here
    {"epsilon_millionths": "1", "delta_trillionths": 1},
    {"epsilon_millionths": 1},  # a missing key
    {"epsilon_millionths": 1, "delta_trillionths": 1, "mechanism": "none"},  # an unknown key
    {"epsilon": 1, "delta": 1e-5},  # unit-less names are not accepted
    [1, 1],
])
def test_a_malformed_declaration_is_refused(world, privacy):
    _, base, _ = world
    error = code_of(lambda: read_model(rewritten(base, privacy=privacy)))
    assert error.code == "model_bad_privacy"


def test_the_bounds_themselves_are_accepted(world):
    _, base, _ = world
    for privacy in (Privacy(1, 1), Privacy(100_000_000, 10**12 - 1)):
        assert read_model(moved(base, 0.1, privacy)).privacy == privacy


# --- the clip bound ----------------------------------------------------------------------------------

def test_the_clip_bound_holds_at_the_edge_and_refuses_just_past_it(world):
    valid, base, _ = world
    clip = 2_500_000
    at_bound = check(moved(base, 2.5), base, valid, clip)
    assert at_bound.distance == 2_500_000 and (at_bound.epsilon, at_bound.delta) == (0, 0)
    check(moved(base, 2.5 * (1 + fedavg.CLIP_TOLERANCE / 10)), base, valid, clip)  # float rounding passes
    past = moved(base, 2.5 * (1 + 10 * fedavg.CLIP_TOLERANCE))
    error = code_of(lambda: check(past, base, valid, clip))
    assert error.code == "update_beyond_clip_norm"
    measured = fedavg.distance(read_model(past), read_model(base))
    assert f"lies {measured:.9g} from" in error.message and "clip_norm 2.5 " in error.message


def test_the_measured_distance_is_the_l2_distance_of_the_averaged_parameters(world):
    valid, base, other = world
    checked = check(other, base, valid, clip_norm=10**12)
    a, b = read_model(other), read_model(base)
    by_hand = np.sqrt(sum(np.sum((a.arrays[n] - b.arrays[n]) ** 2) for n in ("coef", "intercept")))
    assert checked.distance == round(by_hand * 1e6)


def test_before_a_global_model_is_trained_the_bound_is_on_the_updates_own_norm(world):
    valid, _, other = world
    size = np.linalg.norm(np.concatenate([read_model(other).arrays[n].ravel() for n in ("coef", "intercept")]))
    assert check(other, LOGISTIC, valid, clip_norm=int(size * 1e6) + 1).distance == round(size * 1e6)
    error = code_of(lambda: check(other, LOGISTIC, valid, clip_norm=int(size * 1e6) - 1))
    assert error.code == "update_beyond_clip_norm"


def test_a_huge_update_cannot_pass_whatever_it_declares(world):
    valid, base, _ = world
    for distance in (1e3, 1e200):  # 1e200 overflows the sum of squares: still refused, never accepted
        update = moved(base, distance, Privacy(100_000_000, 1))
        with np.errstate(over="ignore"):
            assert code_of(lambda: check(update, base, valid, 1_000_000)).code == "update_beyond_clip_norm"


def test_the_clip_norm_replaces_the_default_bound(world):
    valid, base, _ = world
    far = 20 * max(fedavg.norm(read_model(base)), 1.0)  # beyond 10 x max(||global||, 1)
    assert code_of(lambda: check(moved(base, far), base, valid)).code == "aggregate_update_too_far"
    assert check(moved(base, far), base, valid, clip_norm=int(far * 1e6) + 1).distance > 0


# --- declarations and the bound together ---------------------------------------------------------------

def test_a_declaration_is_returned_for_the_machine_to_record(world):
    valid, base, _ = world
    checked = check(moved(base, 0.9, Privacy(3_000_000, 1_000_000)), base, valid, 1_000_000)
    assert (checked.epsilon, checked.delta, checked.distance) == (3_000_000, 1_000_000, 900_000)


def test_a_declaration_without_a_clip_norm_is_refused(world):
    valid, base, _ = world
    error = code_of(lambda: check(moved(base, 0.1, Privacy(1_000_000, 10)), base, valid, clip_norm=0))
    assert error.code == "privacy_without_clip_norm" and "clip_norm" in error.message
    check(moved(base, 0.1), base, valid)  # the same update without the declaration joins


def test_declaring_epsilon_does_not_excuse_an_unclipped_update(world):
    valid, base, other = world
    clip = int(fedavg.distance(read_model(other), read_model(base)) * 1e6) // 2
    declared = read_model(other)
    update = write_model(Model(declared.spec, declared.features, declared.arrays, Privacy(1_000_000, 10)))
    assert code_of(lambda: check(update, base, valid, clip)).code == "update_beyond_clip_norm"
