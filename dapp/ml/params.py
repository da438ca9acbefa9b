"""Hyper-parameter types with bounds. Each ``check`` returns the normalised value or raises
:class:`ParamError` naming the parameter and the limit it breaks."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from dapp.ml.errors import ParamError


def _fail(name: str, expected: str, value: Any) -> ParamError:
    return ParamError(f"parameter '{name}' must be {expected}, got {value!r}", code="param_out_of_bounds")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True, slots=True)
class Int:
    """An integer in ``[lo, hi]``."""

    lo: int
    hi: int

    def describe(self) -> str:
        """Human-readable bound, used in error messages and docs."""
        return f"an integer in [{self.lo}, {self.hi}]"

    def accepts(self, value: Any) -> bool:
        """Whether ``value`` is within this type."""
        return _is_int(value) and self.lo <= value <= self.hi

    def check(self, name: str, value: Any) -> int:
        """The value, or ParamError."""
        if not self.accepts(value):
            raise _fail(name, self.describe(), value)
        return int(value)


@dataclass(frozen=True, slots=True)
class Float:
    """A finite number in an interval; ``lo_open``/``hi_open`` exclude the ends. Integers are accepted
    and converted to float (scikit-learn treats 1 and 1.0 alike) unless ``accept_int`` is false, for
    parameters where an integer means something else (a count, not a fraction)."""

    lo: float
    hi: float
    lo_open: bool = False
    hi_open: bool = False
    accept_int: bool = True

    def describe(self) -> str:
        """Human-readable bound."""
        left = "(" if self.lo_open else "["
        right = ")" if self.hi_open else "]"
        kind = "a number" if self.accept_int else "a fraction (written with a decimal point)"
        return f"{kind} in {left}{self.lo:g}, {self.hi:g}{right}"

    def accepts(self, value: Any) -> bool:
        """Whether ``value`` is within this type."""
        number = isinstance(value, float) or (self.accept_int and _is_int(value))
        if not number or (_is_int(value) and abs(value) > 2**53) or not math.isfinite(value):
            return False
        above = value > self.lo if self.lo_open else value >= self.lo
        below = value < self.hi if self.hi_open else value <= self.hi
        return above and below

    def check(self, name: str, value: Any) -> float:
        """The value as a float, or ParamError."""
        if not self.accepts(value):
            raise _fail(name, self.describe(), value)
        return float(value)


@dataclass(frozen=True, slots=True)
class Bool:
    """``true`` or ``false``."""

    def describe(self) -> str:
        """Human-readable bound."""
        return "true or false"

    def accepts(self, value: Any) -> bool:
        """Whether ``value`` is within this type."""
        return isinstance(value, bool)

    def check(self, name: str, value: Any) -> bool:
        """The value, or ParamError."""
        if not self.accepts(value):
            raise _fail(name, self.describe(), value)
        return value


@dataclass(frozen=True, slots=True)
class Choice:
    """One of a few allowed constants (strings, booleans or ``null``). ``why``, if given, is added to
    the error message: the reason the other values scikit-learn knows are not offered."""

    values: tuple
    why: str = ""

    def describe(self) -> str:
        """Human-readable bound (JSON spellings: ``null``, ``true``, ``false``)."""
        return "one of " + ", ".join(_json_constant(v) for v in self.values)

    def accepts(self, value: Any) -> bool:
        """Whether ``value`` is within this type (type-exact: ``1`` is not ``true``)."""
        return any(value is v or (type(value) is type(v) and value == v) for v in self.values)

    def check(self, name: str, value: Any) -> Any:
        """The value, or ParamError."""
        if not self.accepts(value):
            error = _fail(name, self.describe(), value)
            raise ParamError(f"{error.message}: {self.why}" if self.why else error.message, code=error.code)
        return value


def _json_constant(value: Any) -> str:
    if value is None:
        return "null"
    return ("true" if value else "false") if isinstance(value, bool) else repr(value)


@dataclass(frozen=True, slots=True)
class Layers:
    """Hidden layer sizes of an MLP: a list of 1..``max_layers`` integers in [1, ``max_units``]."""

    max_layers: int
    max_units: int

    def describe(self) -> str:
        """Human-readable bound."""
        return f"a list of 1 to {self.max_layers} integers in [1, {self.max_units}]"

    def accepts(self, value: Any) -> bool:
        """Whether ``value`` is within this type."""
        return (
            isinstance(value, (list, tuple))
            and 1 <= len(value) <= self.max_layers
            and all(_is_int(v) and 1 <= v <= self.max_units for v in value)
        )

    def check(self, name: str, value: Any) -> tuple[int, ...]:
        """The sizes as a tuple, or ParamError."""
        if not self.accepts(value):
            raise _fail(name, self.describe(), value)
        return tuple(int(v) for v in value)


@dataclass(frozen=True, slots=True)
class AnyOf:
    """The first of several types that accepts the value (e.g. an int count or a float fraction)."""

    options: tuple

    def describe(self) -> str:
        """Human-readable bound."""
        return " or ".join(o.describe() for o in self.options)

    def accepts(self, value: Any) -> bool:
        """Whether one option accepts ``value``."""
        return any(o.accepts(value) for o in self.options)

    def check(self, name: str, value: Any) -> Any:
        """The value normalised by the first option that accepts it, or ParamError."""
        for option in self.options:
            if option.accepts(value):
                return option.check(name, value)
        raise _fail(name, self.describe(), value)
