"""CSV datasets: strict parsing and a specific error code for each way a file can be wrong."""

import numpy as np
import pytest

from dapp.ml.dataset import Dataset, parse_table, select
from dapp.ml.engine import Engine
from dapp.ml.errors import DatasetError
from dapp.ml.limits import DEFAULT_LIMITS, MLLimits
from tests.fixtures.ml.helpers import spec, to_csv


def parse_dataset(data: bytes, label: str, task: str, limits: MLLimits = DEFAULT_LIMITS) -> Dataset:
    """What the engine does with a CSV file for a job: decode it, then take the job's label and task."""
    return select(parse_table(data, limits), label, task, limits)


def test_a_valid_csv_parses_to_exact_arrays_with_the_label_removed():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(20, 3))
    y = rng.integers(0, 3, size=20)
    data = parse_dataset(to_csv(X, y, label="kind", names=["a", "b", "c"]), "kind", "classification")
    np.testing.assert_array_equal(data.X, X)
    np.testing.assert_array_equal(data.y, y)
    assert data.features == ("a", "b", "c") and data.y.dtype == np.int64 and data.rows == 20


def test_label_column_may_be_anywhere_and_crlf_and_bom_are_accepted():
    data = parse_dataset("\ufeffy,a,b\r\n1.5,1,2\r\n2.5,3,4\r\n".encode(), "y", "regression")
    np.testing.assert_array_equal(data.X, [[1, 2], [3, 4]])
    np.testing.assert_array_equal(data.y, [1.5, 2.5])
    assert data.features == ("a", "b")


def test_integral_float_labels_are_classes():
    data = parse_dataset(b"a,y\n1,0.0\n2,1.0\n", "y", "classification")
    assert data.y.tolist() == [0, 1] and data.y.dtype == np.int64


@pytest.mark.parametrize("text, code, fragment", [
    (b"", "dataset_empty", "empty"),
    (b"   \n", "dataset_empty", "empty"),
    (b"a,y\n1,0\n2\n", "dataset_ragged", "line 3 has 1 cells"),
    (b"a,y\n1,0\n2,1,5\n", "dataset_ragged", "line 3 has 3 cells"),
    (b"a,y\n1,0\nx,1\n", "dataset_not_numeric", "line 3, column 'a'"),
    (b'a,y\n1,0\n"2",1\n', "dataset_not_numeric", "line 3"),
    (b"a,y\n1,0\n,1\n", "dataset_empty_value", "line 3, column 'a'"),
    (b"a,y\n1,0\nnan,1\n", "dataset_not_finite", "line 3, column 'a'"),
    (b"a,y\n1,0\n2,inf\n", "dataset_not_finite", "line 3, column 'y'"),
    (b"a,y\n1,0\n\n2,1\n", "dataset_empty_line", "line 3"),
    (b"a,y\n1,0\n2,1\n\n", "dataset_empty_line", "line 4"),
    (b"a,b\n1,0\n2,1\n", "dataset_missing_label", "'y'"),
    (b"a,a,y\n1,1,0\n2,2,1\n", "dataset_bad_header", "repeats"),
    (b"a,,y\n1,1,0\n2,2,1\n", "dataset_bad_header", "not a valid name"),
    (b"y\n0\n1\n", "dataset_no_features", "no feature"),
    (b"a,y\n1,0\n", "dataset_too_few_rows", "1 data row"),
    (b"a,y\n1,0\n2,0.5\n", "dataset_label_not_integer", "line 3"),
    (b"a,y\n1,3\n2,3\n", "dataset_too_few_classes", "single class"),
    (b"a,y\r1,0\r2,1\r", "dataset_bad_line_end", "\\r"),
    (b"a,y\n\xff,0\n2,1\n", "dataset_not_utf8", "UTF-8"),
])
def test_broken_csv_files_get_specific_errors(text, code, fragment):
    with pytest.raises(DatasetError) as err:
        parse_dataset(text, "y", "classification")
    assert err.value.code == code
    assert fragment in err.value.message


def test_size_rows_columns_and_classes_are_bounded():
    limits = MLLimits(max_csv_bytes=100, max_rows=3, max_features=2, max_classes=2)
    cases = [
        (b"a,y\n" + b"1,0\n" * 30, "dataset_too_large"),
        (b"a,y\n1,0\n2,1\n3,0\n4,1\n", "dataset_too_many_rows"),
        (b"a,b,c,y\n1,2,3,0\n1,2,3,1\n", "dataset_too_many_columns"),
        (b"a,y\n1,0\n2,1\n3,2\n", "dataset_too_many_classes"),
    ]
    for text, code in cases:
        with pytest.raises(DatasetError) as err:
            parse_dataset(text, "y", "classification", limits)
        assert err.value.code == code


def test_regression_accepts_any_finite_label_and_unknown_tasks_are_refused():
    assert parse_dataset(b"a,y\n1,0.25\n2,-3e5\n", "y", "regression").y.tolist() == [0.25, -3e5]
    with pytest.raises(DatasetError) as err:
        parse_dataset(b"a,y\n1,0\n2,1\n", "y", "clustering")
    assert err.value.code == "bad_task"


def test_training_and_validation_features_must_match_in_name_and_order():
    train = b"a,b,y\n1,2,0\n3,4,1\n5,6,0\n"
    for validation in (b"b,a,y\n1,2,0\n3,4,1\n", b"a,c,y\n1,2,0\n3,4,1\n", b"a,y\n1,0\n3,1\n"):
        with pytest.raises(DatasetError) as err:
            Engine().score(task="classification", metric="accuracy", label="y", validation=validation,
                           model=spec("GaussianNB"), train=train)
        assert err.value.code == "dataset_columns_mismatch"


def test_check_dataset_reports_shape_and_classes():
    info = Engine().check_dataset(b"a,b,y\n1,2,0\n3,4,1\n5,6,1\n", "y", "classification")
    assert (info.rows, info.features, info.columns, info.classes) == (3, 2, ("a", "b", "y"), (0, 1))


def test_parsed_datasets_are_read_only():
    data = parse_dataset(b"a,y\n1,0\n2,1\n", "y", "classification")
    with pytest.raises(ValueError):
        data.X[0, 0] = 5


@pytest.mark.parametrize("text, where", [
    (b"a,b,y\n1,2,0\n3,1e100,1\n", "line 3, column 'b'"),
    (b"a,b,y\n1,2,0\n-1000000001,4,1\n", "line 3, column 'a'"),
    (b"a,b,y\n1,2,0\n3,4,2e9\n", "line 3, column 'y'"),  # the label (target) is bounded too
])
def test_cells_beyond_the_magnitude_bound_are_refused_naming_line_and_column(text, where):
    with pytest.raises(DatasetError) as err:
        parse_table(text)
    assert err.value.code == "value_out_of_range"
    assert where in err.value.message and "rescale" in err.value.message


def test_the_magnitude_bound_is_inclusive_and_configurable():
    edge = b"a,y\n-1e9,0\n1000000000,1e9\n"
    assert parse_dataset(edge, "y", "regression").X.min() == -1e9
    with pytest.raises(DatasetError) as err:
        parse_dataset(b"a,y\n11,0\n2,1\n", "y", "classification", MLLimits(max_abs_value=10))
    assert err.value.code == "value_out_of_range" and "line 2, column 'a'" in err.value.message
