"""A job's access requests, grants and delegates, and what the acting account may do about them (pure).

The state is the backend's ``jobs/<id>/access`` answer (``dapp/domain/access.py:access_view``, the
query ``mlmarket access list`` shows): the standing requests with their public keys, the accounts
granted access and the delegates. A request stays after a grant or a revocation, so an account that
asked and whose grant was revoked shows as *requested* again (it may be granted again), and an account
granted without asking and then revoked is no longer a member. Who may do what follows
docs/PROTOCOL.md: anyone requests access to a gated job; the sponsor or a delegate grants and revokes;
only the sponsor appoints delegates; requests and grants stop changing when the job ends.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

REQUESTED, GRANTED = "requested", "granted"


@dataclass(frozen=True)
class Member:
    """An account with a standing request or a grant: ``status`` is ``granted`` or ``requested``
    (waiting); ``public_key`` is its request's key in hex without ``0x`` (``""`` if none)."""

    account: str
    status: str
    public_key: str


@dataclass(frozen=True)
class AccessView:
    """What the job page shows about access and delegates to the acting account ``viewer`` (a lower-case
    address, or None when no account is chosen); ``mine`` is the viewer's own member, if any."""

    members: tuple[Member, ...]
    delegates: tuple[str, ...]
    gated: bool
    manual: bool
    open: bool
    viewer: str | None
    mine: Member | None
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
    def has_access(self) -> bool:
        """The viewer holds a grant."""
        return self.mine is not None and self.mine.status == GRANTED

    @property
    def may_submit(self) -> bool:
        """The page offers to submit: the job is not gated, the viewer holds a grant, or no account is
        chosen (who will sign is not known; the backend refuses an account without access)."""
        return not self.gated or self.viewer is None or self.has_access

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
        return self.gated or self.manual or bool(self.delegates)


def _lower(value: Any) -> str:
    return str(value or "").lower()


def members(answer: Mapping[str, Any]) -> tuple[Member, ...]:
    """The granted accounts and those with a standing request, sorted by address, from a
    ``jobs/<id>/access`` answer (whose empty public key ``0x`` becomes ``""``)."""
    keys = {_lower(r.get("account")): _lower(r.get("public_key")).removeprefix("0x")
            for r in answer.get("requests") or () if isinstance(r, Mapping)}
    granted = {_lower(account) for account in answer.get("granted") or ()}
    return tuple(Member(account, GRANTED if account in granted else REQUESTED, keys.get(account, ""))
                 for account in sorted(granted | set(keys)))


def access_view(job: Mapping[str, Any], answer: Mapping[str, Any], viewer: str | None) -> AccessView:
    """The page's view for ``viewer`` (an address, any case, or None) of the ``jobs/<id>/access``
    ``answer``, with the status and policy of ``job`` (an inspect job view)."""
    me = viewer.lower() if viewer else None
    rows = members(answer)
    delegates = tuple(_lower(account) for account in answer.get("delegates") or ())
    return AccessView(members=rows, delegates=delegates, gated=bool(answer.get("gated")),
                      manual=job.get("policy") == "manual", open=job.get("status") != "ended", viewer=me,
                      mine=next((m for m in rows if m.account == me), None),
                      sponsor=me is not None and me == _lower(answer.get("sponsor")),
                      delegate=me is not None and me in delegates)
