"""A job's access requests, grants and delegates, and what the acting account may do about them (pure).

The page folds ``jobs/<id>/history``, which it loads anyway: it holds every notice naming the job, in
order, and the ``AccessRequested``, ``AccessChanged`` and ``DelegateChanged`` notices are the only
changes of that state (``dapp/domain/access.py``), so replaying them gives it exactly, revocations
included (the ``jobs/<id>/access`` query gives the standing state only: requests, grants, delegates). Who may
do what follows docs/PROTOCOL.md: anyone requests access to a gated job; the sponsor or a delegate
grants and revokes; only the sponsor appoints delegates; requests and grants end with the job.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

REQUESTED, GRANTED, REVOKED = "requested", "granted", "revoked"


@dataclass(frozen=True)
class Member:
    """An account that asked for access or whose access was set: ``status`` is ``requested`` (waiting),
    ``granted`` or ``revoked``; ``public_key`` is the one of its latest request (``""`` if none)."""

    account: str
    status: str
    requested: bool
    public_key: str


@dataclass(frozen=True)
class AccessState:
    """Every member in order of first appearance, and the job's delegates in order of appointment."""

    members: tuple[Member, ...]
    delegates: tuple[str, ...]

    def member(self, account: str | None) -> Member | None:
        """The member ``account`` (any case), if it is one."""
        key = (account or "").lower()
        return next((m for m in self.members if m.account == key), None)


def access_state(history: Iterable[Mapping[str, Any]]) -> AccessState:
    """The state the job's history leads to (events of other types are ignored)."""
    members: dict[str, Member] = {}
    delegates: dict[str, None] = {}
    for event in history:
        kind, account = event.get("type"), str(event.get("account") or "").lower()
        before = members.get(account, Member(account, REQUESTED, False, ""))
        if kind == "AccessRequested":
            status = GRANTED if before.status == GRANTED else REQUESTED  # a new request keeps a grant
            members[account] = Member(account, status, True, str(event.get("public_key") or "").removeprefix("0x"))
        elif kind == "AccessChanged":
            members[account] = Member(account, GRANTED if event.get("granted") else REVOKED, before.requested,
                                      before.public_key)
        elif kind == "DelegateChanged":
            delegates.pop(account, None)
            if event.get("enabled"):
                delegates[account] = None
    return AccessState(tuple(members.values()), tuple(delegates))


@dataclass(frozen=True)
class AccessView:
    """What the job page shows about access and delegates to the acting account ``viewer``."""

    state: AccessState
    gated: bool
    manual: bool
    open: bool
    viewer: str | None
    sponsor: bool
    delegate: bool

    @property
    def manages(self) -> bool:
        """The viewer may grant and revoke (sponsor or delegate of an unfinished gated job)."""
        return self.gated and self.open and (self.sponsor or self.delegate)

    @property
    def appoints(self) -> bool:
        """The viewer may appoint and remove delegates (the sponsor)."""
        return self.sponsor

    @property
    def sponsor_actions(self) -> bool:
        """The page offers the sponsor's own actions (cancel, reveal the hidden test set): to the
        sponsor, and to a visitor who chose no account (the page cannot tell who will sign)."""
        return self.viewer is None or self.sponsor

    @property
    def reviews(self) -> bool:
        """The page offers the review of submissions: on a manual job, to the sponsor, a delegate, or a
        visitor who chose no account."""
        return self.manual and (self.viewer is None or self.sponsor or self.delegate)

    @property
    def mine(self) -> Member | None:
        """The viewer's own row, if any."""
        return self.state.member(self.viewer)

    @property
    def has_access(self) -> bool:
        """The viewer holds a grant."""
        return self.mine is not None and self.mine.status == GRANTED

    @property
    def can_request(self) -> bool:
        """The viewer may ask for access: an unfinished gated job, an account chosen, no grant yet, and
        not managing the job (a manager grants itself instead)."""
        return self.gated and self.open and self.viewer is not None and not self.has_access and not (
            self.sponsor or self.delegate)

    @property
    def shown(self) -> bool:
        """Whether the page has anything to show: for jobs where delegates have a say (gated or manual)
        or that have delegates."""
        return self.gated or self.manual or bool(self.state.delegates)


def access_view(job: Mapping[str, Any], history: Iterable[Mapping[str, Any]], viewer: str | None) -> AccessView:
    """The page's view of ``job`` (an inspect job view) for ``viewer`` (an address, any case, or None)."""
    state = access_state(history)
    me = viewer.lower() if viewer else None
    spec = job.get("spec") or {}
    return AccessView(state=state, gated=bool(spec.get("gated")), manual=job.get("policy") == "manual",
                      open=job.get("status") != "ended", viewer=me,
                      sponsor=me is not None and me == str(job.get("sponsor") or "").lower(),
                      delegate=me is not None and me in state.delegates)
