"""Pre-flight checks: ask the machine, by inspect, whether an input would be accepted, before any
upload, deposit or transaction (docs/PROTOCOL.md, ``preflight/…`` queries).

Each function sends the exact bytes the client would send (an ``InputRequest``: the ABI call and
the deposit it carries) with the sender and the block time, plus the files not uploaded yet, inline
while the query stays within the node's inspect limit (the rest are named ``pending`` and left
unchecked). The answer lists every problem at once, each with a fix; ``Preflight.ok`` says whether
the input would be accepted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from dapp.codec.cid import cid_of, cid_to_text
from mlmarket.client.chain import InputRequest
from mlmarket.client.errors import NodeError
from mlmarket.client.inspect import MAX_QUERY_BYTES

QUERY_MARGIN = 4096
"""Bytes of the inspect body kept free when files are put inline."""


class Queries(Protocol):
    """Anything that answers inspect queries: ``Market`` or ``InspectClient``."""

    def query(self, query: str) -> Any: ...


@dataclass(frozen=True)
class Problem:
    """One reason the input would be refused (or cost its stake): ``code`` as in PROTOCOL §11,
    ``message`` the machine's, ``fix`` what to change; ``field`` the job spec field, if any."""

    code: str
    message: str
    fix: str
    field: str = ""

    def text(self) -> str:
        """``message`` then ``fix``, on one line."""
        return f"{self.message}: {self.fix}" if self.fix else self.message


@dataclass(frozen=True)
class Preflight:
    """The machine's answer to a dry run: ``problems`` (empty when the input would be accepted),
    the query's other fields in ``details`` (stake, balance, estimated_cycles...), and the CIDs of
    files that were too large to send inline and were not checked (``unchecked``)."""

    problems: tuple[Problem, ...]
    details: dict[str, Any] = field(default_factory=dict)
    unchecked: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether the input would be accepted (no problem found)."""
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        """``{ok, problems: [{code, message, fix, field}], unchecked, …details}``."""
        return {**self.details, "ok": self.ok, "unchecked": list(self.unchecked),
                "problems": [asdict(p) for p in self.problems]}


def _params(request: InputRequest, sender: str, now: int) -> list[tuple[str, str]]:
    params = [("sender", sender.lower()), ("now", str(now)), ("input", "0x" + request.payload.hex())]
    if request.token is not None and request.amount:
        params += [("deposit", str(request.amount)), ("token", request.token.lower())]
    return params


def _inline(params: list[tuple[str, str]], files: Iterable[bytes], path: str,
            may_defer: bool) -> tuple[str, tuple[str, ...]]:
    """The query text with as many ``files`` inline as fit; the others as ``pending`` CIDs (or, when
    ``may_defer`` is False, a ``NodeError`` saying they must be uploaded first)."""
    room = MAX_QUERY_BYTES - QUERY_MARGIN - sum(len(k) + len(v) + 2 for k, v in params) - len(path)
    pending: list[str] = []
    for data in sorted(set(files), key=len):
        if 2 * len(data) + 11 <= room:
            params.append(("content", "0x" + data.hex()))
            room -= 2 * len(data) + 11
        elif may_defer:
            pending.append(cid_to_text(cid_of(data)))
        else:
            raise NodeError(f"a file of {len(data):,} bytes is too large to check inline: upload it first "
                            "(mlmarket put FILE)")
    params += [("pending", cid) for cid in pending]
    return path + "?" + "&".join(f"{k}={v}" for k, v in params), tuple(pending)


def _result(answer: Any, unchecked: tuple[str, ...]) -> Preflight:
    if not isinstance(answer, dict) or not isinstance(answer.get("problems"), list):
        raise NodeError(f"pre-flight: unexpected answer {str(answer)[:200]}")
    problems = tuple(Problem(str(p.get("code", "error")), str(p.get("message", "")), str(p.get("fix", "")),
                             str(p.get("field") or "")) for p in answer["problems"])
    details = {k: v for k, v in answer.items() if k not in ("ok", "accepted", "problems", "unchecked")}
    return Preflight(problems, details, unchecked)


def check_job(market: Queries, request: InputRequest, *, sender: str, now: int,
              files: Iterable[bytes] = ()) -> Preflight:
    """Dry run of ``request`` (a ``createJob``, e.g. ``actions.create_job(...)``, with the budget's
    deposit if it carries one) sent by ``sender`` at block time ``now``. ``files``: the validation
    data or base model, if not uploaded yet (they must fit inline)."""
    query, unchecked = _inline(_params(request, sender, now), files, "preflight/job", may_defer=False)
    return _result(market.query(query), unchecked)


def check_submission(market: Queries, commit: InputRequest, reveal: InputRequest | None = None, *,
                     sender: str, now: int, files: Iterable[bytes] = (), score: bool = False) -> Preflight:
    """Dry run of a submission: ``commit`` (``actions.commit_submission``, with its stake deposit)
    and ``reveal`` (``actions.reveal_submission`` with the same salt). ``files``: the model and data
    not uploaded yet; those too large to go inline are listed in ``unchecked``. ``score`` also
    trains and scores (as the reveal would; the answer's ``score``)."""
    params = _params(commit, sender, now)
    if reveal is not None:
        params.append(("reveal", "0x" + reveal.payload.hex()))
    if score:
        params.append(("score", "1"))
    query, unchecked = _inline(params, files, "preflight/submission", may_defer=True)
    return _result(market.query(query), unchecked)


def check_model(market: Queries, job: int, *, model: bytes | str | None = None,
                data: bytes | str | None = None) -> Preflight:
    """``model`` (and training ``data``), as bytes or the CID text of stored content, checked against
    job ``job``: its task, label column, estimator parameters and the engine's cost bounds."""
    params = [("job", str(job))]
    files = []
    for name, value in (("model", model), ("data", data)):
        if isinstance(value, bytes):
            files.append(value)
            value = cid_to_text(cid_of(value))
        if value:
            params.append((name, value))
    query, unchecked = _inline(params, files, "preflight/model", may_defer=True)
    return _result(market.query(query), unchecked)


def problems_text(result: Preflight) -> str:
    """Every problem on its own line (``code: message: fix``), then the unchecked files."""
    lines = [f"- {p.code}: {p.text()}" for p in result.problems]
    lines += [f"- not checked (too large to send inline): {cid}" for cid in result.unchecked]
    return "\n".join(lines)
