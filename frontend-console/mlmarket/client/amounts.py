"""Amounts as people write them: token units with decimals ("1.5") or raw base units ("1500 wei").

Token amounts in the protocol are integers in the token's base units (wei for Ether). Users write
them in token units: ``"100"`` or ``"1.5"`` mean ``100 * 10**decimals`` and ``15 * 10**(decimals-1)``
base units (``decimals`` is 18 for Ether and for most ERC-20 tokens, including the local test
token). Raw base units are written with a ``wei`` suffix (``"1500wei"``) or chosen by the caller
(``raw=True``, the CLI's ``--wei``). Scores are written in the metric's units and stored as integer
millionths (``to_millionths``).
"""

from __future__ import annotations

import re
from decimal import Decimal

from mlmarket.client.errors import SpecError

ETHER_DECIMALS = 18
UINT256_MAX = (1 << 256) - 1
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
MILLION = 10**6

_UNSIGNED = re.compile(r"^\d+(\.\d+)?$")
_SIGNED = re.compile(r"^[+-]?\d+(\.\d+)?([eE][+-]?\d+)?$")
_WEI = re.compile(r"^(\d+)\s*wei$", re.IGNORECASE)


def _decimal(text: str, pattern: re.Pattern[str], what: str) -> Decimal:
    if not pattern.match(text):
        raise SpecError(f"{what}: {text!r} is not a number")
    return Decimal(text)  # exact: construction never rounds


def _as_text(value: object, what: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise SpecError(f"{what}: expected a number or a string, got {value!r}")
    return repr(value) if isinstance(value, float) else str(value).strip()


def parse_amount(value: object, *, decimals: int = ETHER_DECIMALS, raw: bool = False,
                 what: str = "amount") -> int:
    """Base units of ``value``: token units (``"1.5"``, ``100``) scaled by ``10**decimals``, or raw
    base units when ``raw`` or when written ``"<N>wei"``. Raises ``SpecError`` on a negative value,
    more decimals than the token has, or a value above ``2**256-1``."""
    text = _as_text(value, what)
    wei = _WEI.match(text)
    if raw or wei:
        digits = wei.group(1) if wei else text
        if not digits.isdigit():
            raise SpecError(f"{what}: {text!r} is not a whole number of base units")
        amount = int(digits)
    else:
        if not _UNSIGNED.match(text):
            raise SpecError(f"{what}: {text!r} is not a number")
        whole, _, frac = text.partition(".")
        if len(frac.rstrip("0")) > decimals:
            raise SpecError(f"{what}: {text!r} has more than {decimals} decimals")
        amount = int(whole) * 10**decimals + int(frac.rstrip("0").ljust(decimals, "0") or "0")
    if amount > UINT256_MAX:
        raise SpecError(f"{what}: {text!r} does not fit in uint256")
    return amount


def format_amount(base_units: int, decimals: int = ETHER_DECIMALS) -> str:
    """Token units of ``base_units`` without trailing zeros (``1500000000000000000`` -> ``"1.5"``)."""
    sign = "-" if base_units < 0 else ""
    whole, frac = divmod(abs(base_units), 10**decimals)
    if decimals == 0 or frac == 0:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{str(frac).rjust(decimals, '0').rstrip('0')}"


def to_millionths(value: object, what: str = "score") -> int:
    """A score in the metric's units (``0.9``, ``"0.95"``, ``1``) as int64 millionths (``900000``).
    Raises ``SpecError`` on more than 6 decimals or on a value outside int64."""
    text = _as_text(value, what)
    sign, digits, exponent = _decimal(text, _SIGNED, what).as_tuple()
    exponent = int(exponent) + 6  # exact integer arithmetic on the decimal digits
    result = int("".join(map(str, digits)) or "0")
    if result and exponent > 40:
        raise SpecError(f"{what}: {text!r} is out of range")
    if exponent >= 0:
        result *= 10**exponent
    elif -exponent > len(digits):  # every digit lies below the millionths: only zero fits
        if result:
            raise SpecError(f"{what}: {text!r} has more than 6 decimals (scores are kept in millionths)")
    else:
        result, remainder = divmod(result, 10**-exponent)
        if remainder:
            raise SpecError(f"{what}: {text!r} has more than 6 decimals (scores are kept in millionths)")
    result = -result if sign else result
    if not INT64_MIN <= result <= INT64_MAX:
        raise SpecError(f"{what}: {text!r} is out of range")
    return result


def from_millionths(value: int) -> float:
    """A score in millionths back in the metric's units (for display)."""
    return value / MILLION
