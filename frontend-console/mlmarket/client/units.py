"""Human units for text output: token amounts with their symbol, dates in UTC with "in 3 h" / "2 d
ago", scores in the metric's units.

The pure functions (``utc``, ``relative``, ``when``, ``duration``, ``score_text``, ``tokens_text``,
``short_address``, and for contribution rewards ``contribution_text``, ``contribution_of``,
``norm_text``, ``privacy_text``, ``reward_rule``) take what they show; ``Units`` binds them to a
market: it reads each token's ``symbol()`` and ``decimals()`` from the ERC-20 once (Ether is ``ETH``
with 18 decimals) and counts relative times from the latest block's timestamp (the clock deadlines
use). The CLI and the web
console both show values through here; ``--json`` output never does: it keeps the raw values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from web3.exceptions import ContractLogicError, Web3Exception

from mlmarket.client.amounts import ETHER_DECIMALS, MILLION, format_amount
from mlmarket.client.errors import InspectFailed

ETHER = "0x" + "00" * 20
_STEPS = ((86_400, "d"), (3_600, "h"), (60, "min"), (1, "s"))
_TIMESTAMP = re.compile(r"\b(at|until|after|before|by) (1[5-9]\d{8}|[2-3]\d{9})\b")
"""A unix time in a message (2017..2096), after a word that introduces a time."""
_BALANCE = re.compile(r"has (\d+) of (ETH|0x[0-9a-fA-F]{40}), needs (\d+)")
"""The machine's ``insufficient balance: <account> has N of <token>, needs M`` (base units)."""
_AMOUNT = re.compile(r"(at most the budget \(|; it is |the stake of |positive uint256, got |holds "
                     r"|cannot release )(\d+)\b")
"""An amount in base units of a token the message does not name (the spec's rules, a stake, a pot)."""


@dataclass(frozen=True)
class TokenInfo:
    """What a token amount is shown with."""

    symbol: str
    decimals: int


def has_raw_values(message: str) -> bool:
    """Whether ``message`` holds a unix time or a balance ``Units.humanize`` would rewrite."""
    return _TIMESTAMP.search(message) is not None or _BALANCE.search(message) is not None


def short_address(address: Any) -> str:
    """``0x1234…abcd`` of an address (other values as text)."""
    text = str(address or "")
    return f"{text[:6]}…{text[-4:]}" if text.startswith("0x") and len(text) == 42 else text


def utc(timestamp: int) -> str:
    """``2026-12-04 05:20 UTC`` (seconds shown only when not zero)."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC" if moment.second else "%Y-%m-%d %H:%M UTC")


def relative(seconds: int) -> str:
    """``in 3 h`` for a positive offset, ``2 d ago`` for a negative one, ``now`` for zero; in the
    largest unit that gives at least 1, rounded down (``in 1 h`` for 5,400 s)."""
    if seconds == 0:
        return "now"
    size = abs(seconds)
    step, unit = next((s, u) for s, u in _STEPS if size >= s)
    count = f"{size // step} {unit}"
    return f"in {count}" if seconds > 0 else f"{count} ago"


def when(timestamp: int, now: int) -> str:
    """``2026-12-04 05:20 UTC (in 3 h)``."""
    return f"{utc(timestamp)} ({relative(timestamp - now)})"


def duration(seconds: int) -> str:
    """``1 h`` / ``10 min`` / ``1 d 2 h`` for a span of seconds (``0 s`` for none)."""
    parts, left = [], seconds
    for step, unit in _STEPS:
        if left >= step:
            parts.append(f"{left // step} {unit}")
            left %= step
    return " ".join(parts[:2]) or "0 s"


def score_text(millionths: int | None, metric: str) -> str:
    """``accuracy 0.900000`` (all six decimals: scores are kept in millionths); ``-`` for none."""
    if millionths is None:
        return "-"
    sign = "-" if millionths < 0 else ""
    whole, frac = divmod(abs(int(millionths)), MILLION)
    return f"{metric} {sign}{whole}.{frac:06d}"


def contribution_text(millionths: int | None, metric: str) -> str:
    """``accuracy +0.012000`` (``+0.012000`` without a metric, for a column that names it): a
    measured contribution (millionths of the metric), signed; positive means the update made the
    model better (for losses too: a lower loss); ``-`` when not measured."""
    if millionths is None:
        return "-"
    sign = "+" if millionths > 0 else "-" if millionths < 0 else ""
    whole, frac = divmod(abs(int(millionths)), MILLION)
    return f"{metric} {sign}{whole}.{frac:06d}" if metric else f"{sign}{whole}.{frac:06d}"


def contribution_of(submission: Mapping[str, Any]) -> int | None:
    """A submission's measured contribution in millionths, as inspect gives it: exact from
    ``contribution_millionths``, else from ``contribution`` (metric units); ``None``: not measured."""
    exact, value = submission.get("contribution_millionths"), submission.get("contribution")
    if exact is not None:
        return int(exact)
    return None if value is None else round(float(value) * MILLION)


def norm_text(millionths: int | str) -> str:
    """``2.5``: an L2 length kept in millionths (a job's ``clip_norm``, an update's ``norm``)."""
    return format_amount(int(millionths), 6)


def _real(value: float) -> str:
    """``1.5``, ``1e-5`` (up to 12 significant digits, no padded exponent)."""
    return re.sub(r"e([+-])0*(\d)", r"e\1\2", f"{value:.12g}").replace("e+", "e")


def privacy_text(privacy: Mapping[str, Any] | None) -> str:
    """``ε=1.5, δ=1e-5``: the differential privacy a contributor declared for an update (inspect's
    ``privacy``); ``""`` when none was declared."""
    if not privacy:
        return ""
    return f"ε={_real(float(privacy.get('epsilon', 0)))}, δ={_real(float(privacy.get('delta', 0)))}"


def reward_rule(spec: Mapping[str, Any], policy: str, pool: str) -> str:
    """How a job shares its money, in words (``JobSpec.reward``): ``leave-one-out share of each
    round's 10 MLT``, ``Shapley, 50 permutations: a share of each round's 10 MLT``, ``top 3 by score
    above baseline``, ``winner takes all``, ``a fixed 10 MLT per accepted update``; ``pool`` is the
    spec's ``reward_per_accept`` as shown (the round's budget under ``loo`` and ``shapley``)."""
    rule = str(spec.get("reward") or "")
    if rule == "sequential":
        return f"commit-order share of each round's {pool}"
    if rule == "loo":
        return f"leave-one-out share of each round's {pool}"
    if rule == "shapley":
        return f"Shapley, {spec.get('permutations', 0)} permutations: a share of each round's {pool}"
    if rule == "top_k":
        return f"top {spec.get('top_k', 0)} by score above baseline share the budget"
    if rule:
        return rule
    if policy == "best":
        return "winner takes all"
    return f"a fixed {pool} per accepted {'update' if policy == 'rounds' else 'submission'}"


def tokens_text(base_units: int | str, info: TokenInfo) -> str:
    """``10 TEST``, ``0.25 ETH`` (token units, no trailing zeros)."""
    return f"{format_amount(int(base_units), info.decimals)} {info.symbol}"


class Units:
    """The human forms of one market's values (module docstring); token facts are read once."""

    def __init__(self, market: Any, tokens: dict[str, TokenInfo] | None = None) -> None:
        """``tokens``: a cache of token facts by lower-case address to share between ``Units`` (a
        long-lived one, as the console keeps, while each request gets its own clock)."""
        self.market = market
        self._tokens: dict[str, TokenInfo] = {} if tokens is None else tokens
        self._jobs: dict[int, dict[str, Any]] = {}
        self._now: int | None = None

    @property
    def now(self) -> int:
        """The latest block's timestamp, read once."""
        if self._now is None:
            self._now = int(self.market.now())
        return self._now

    def token(self, token: str) -> TokenInfo:
        """The token's symbol and decimals: ``ETH``/18 for Ether; else ``symbol()`` and
        ``decimals()`` of the ERC-20 (a short address when it has no symbol)."""
        key = token.lower()
        if key not in self._tokens:
            self._tokens[key] = TokenInfo("ETH", ETHER_DECIMALS) if int(key, 16) == 0 else self._erc20(key)
        return self._tokens[key]

    def _erc20(self, token: str) -> TokenInfo:
        decimals = self.market.chain.decimals_of(token)
        try:
            symbol = str(self.market.chain.contract("ERC20", token).functions.symbol().call()).strip()
        except (ContractLogicError, Web3Exception, ValueError, OverflowError):  # no symbol(): the address says
            symbol = ""
        return TokenInfo(symbol or short_address(token), decimals)

    def job(self, job_id: int) -> dict[str, Any]:
        """Inspect ``jobs/<id>``'s job (its token and metric say what its amounts and scores are
        in), read once; ``{}`` for a job inspect does not know."""
        if job_id not in self._jobs:
            try:
                answer = self.market.query(f"jobs/{job_id}")
            except InspectFailed:
                answer = None
            record = answer.get("job") if isinstance(answer, dict) else None
            self._jobs[job_id] = record if isinstance(record, dict) else {}
        return self._jobs[job_id]

    def amount(self, base_units: int | str, token: str) -> str:
        """``10 TEST`` for ``10**19`` base units of the test token."""
        return tokens_text(base_units, self.token(token))

    def score(self, millionths: int | None, job_id: int) -> str:
        """``accuracy 0.964497``: a score of job ``job_id`` in its metric (``score`` when the job is
        not known)."""
        return score_text(millionths, str(self.job(int(job_id)).get("metric") or "score"))

    def time(self, timestamp: int) -> str:
        """``2026-12-04 05:20 UTC (in 3 h)``, relative to the chain's latest block."""
        return when(int(timestamp), self.now)

    def humanize(self, message: str, token: str | None = None) -> str:
        """``message`` with each unix time after "at", "until", "after", "before" or "by" shown as
        a UTC date and relative time (``submissions close at 2026-12-03 10:32:26 UTC (3 h ago; unix
        1796284346)``), and a balance shortfall in token units (``has 0 MLT, needs 2 MLT``). Given
        the ``token`` the message is about (a job's, a deposit's), the amounts that do not name
        theirs are shown in it too (``at most the budget (20 MLT); it is 0 MLT``, ``the stake of 2
        MLT``)."""
        def shown(match: re.Match[str]) -> str:
            stamp = int(match.group(2))
            return f"{match.group(1)} {utc(stamp)} ({relative(stamp - self.now)}; unix {stamp})"

        def balance(match: re.Match[str]) -> str:
            token = ETHER if match.group(2) == "ETH" else match.group(2)
            return f"has {self.amount(match.group(1), token)}, needs {self.amount(match.group(3), token)}"

        def amount(match: re.Match[str]) -> str:
            return f"{match.group(1)}{self.amount(match.group(2), str(token))}"

        text = _BALANCE.sub(balance, _TIMESTAMP.sub(shown, message))
        return _AMOUNT.sub(amount, text) if token else text
