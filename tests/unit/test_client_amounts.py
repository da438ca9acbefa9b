"""Amount and score parsing: token units, raw base units, millionths."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mlmarket.client.amounts import format_amount, from_millionths, parse_amount, to_millionths
from mlmarket.client.errors import SpecError


@pytest.mark.parametrize(
    ("text", "expected"),
    [("100", 100 * 10**18), ("1.5", 15 * 10**17), ("0.000000000000000001", 1), (2, 2 * 10**18),
     (" 7 ", 7 * 10**18), ("0", 0)],
)
def test_token_units_scale_by_eighteen_decimals(text: object, expected: int) -> None:
    assert parse_amount(text) == expected


def test_decimals_follow_the_token() -> None:
    assert parse_amount("1.5", decimals=6) == 1_500_000
    assert parse_amount("3", decimals=0) == 3


@pytest.mark.parametrize(("text", "raw", "expected"), [("1500", True, 1500), ("1500wei", False, 1500),
                                                      ("42 WEI", False, 42)])
def test_raw_base_units_are_taken_as_is(text: str, raw: bool, expected: int) -> None:
    assert parse_amount(text, raw=raw) == expected


@pytest.mark.parametrize("text", ["-1", "1.2.3", "abc", "", "1e18", "0x10", "1.5wei"])
def test_malformed_amounts_are_refused(text: str) -> None:
    with pytest.raises(SpecError):
        parse_amount(text)


def test_raw_amount_must_be_whole() -> None:
    with pytest.raises(SpecError, match="whole number"):
        parse_amount("1.5", raw=True)


def test_more_decimals_than_the_token_has_is_an_error() -> None:
    with pytest.raises(SpecError, match="more than 6 decimals"):
        parse_amount("0.0000001", decimals=6)


def test_amount_above_uint256_is_refused() -> None:
    with pytest.raises(SpecError, match="uint256"):
        parse_amount(str(2**256), raw=True)


def test_booleans_are_not_amounts() -> None:
    with pytest.raises(SpecError):
        parse_amount(True)


@given(st.integers(min_value=0, max_value=2**200), st.integers(min_value=0, max_value=30))
def test_format_then_parse_round_trips(base: int, decimals: int) -> None:
    assert parse_amount(format_amount(base, decimals), decimals=decimals) == base


def test_format_drops_trailing_zeros() -> None:
    assert format_amount(15 * 10**17) == "1.5"
    assert format_amount(10**18) == "1"
    assert format_amount(1) == "0.000000000000000001"


@pytest.mark.parametrize(("value", "expected"), [(0.9, 900_000), ("0.95", 950_000), (1, 1_000_000),
                                                 (-0.25, -250_000), ("1e-6", 1), (0, 0)])
def test_scores_become_millionths(value: object, expected: int) -> None:
    assert to_millionths(value) == expected


def test_scores_finer_than_millionths_are_refused() -> None:
    with pytest.raises(SpecError, match="more than 6 decimals"):
        to_millionths(0.1234567)


def test_scores_outside_int64_are_refused() -> None:
    with pytest.raises(SpecError, match="out of range"):
        to_millionths(10**13)


@given(st.decimals(min_value=-10**6, max_value=10**6, places=6, allow_nan=False, allow_infinity=False))
def test_millionths_agree_with_decimal_arithmetic(value: Decimal) -> None:
    assert to_millionths(str(value)) == int(value * 10**6)
    assert from_millionths(to_millionths(str(value))) == pytest.approx(float(value))


@pytest.mark.parametrize("text", ["1e-999999999", "1e999999999"])
def test_extreme_exponents_fail_fast(text: str) -> None:
    with pytest.raises(SpecError):
        to_millionths(text)
    assert to_millionths("0e-999999999") == 0
