"""Post/Redirect/Get with an idempotency key: a form is sent at most once.

Every rendered form carries a fresh random key (hidden field ``idempotency_key``, made by the
template global ``form_fields()`` beside the CSRF token). A POST view wrapped in ``@once`` answers
with a redirect to its outcome (a GET page, so a reload never resends) and the console remembers the
key with that redirect. The same form posted again (a double click, a resubmit after "back", a retry)
is answered with the first POST's redirect; a second POST that arrives while the first is still
sending waits for it. A POST that ends in a form error (nothing sent) is not remembered, so the
corrected form can be sent. Keys are scoped to the session's CSRF token and kept in memory (the
newest ``limit``); a form without a key is still redirected, just not deduplicated.

``Receipts`` also keeps what an outcome page shows beyond the input itself (title, the page to go
back to, the transactions, a secret to show, the wallet's transactions to sign), by receipt id.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import wraps
from typing import Any

from flask import make_response, request, session
from markupsafe import Markup, escape
from werkzeug.wrappers import Response

FIELD = "idempotency_key"
_KEY = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


@dataclass(frozen=True)
class Receipt:
    """What an outcome or signing page shows besides the input: ``input`` once known, ``txs`` for a
    browser wallet to sign (``kind``: ``input`` or ``execute``)."""

    title: str
    back: str
    input: int | None = None
    transactions: tuple[dict[str, Any], ...] = ()
    secret: dict[str, str] | None = None
    txs: tuple[dict[str, str], ...] = ()
    kind: str = "input"
    owner: str = ""


class Receipts:
    """Idempotency keys -> the redirect their first POST answered, and receipts by id (module doc)."""

    def __init__(self, limit: int = 2000) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._done: OrderedDict[str, str] = OrderedDict()
        self._running: dict[str, threading.Event] = {}
        self._receipts: OrderedDict[str, Receipt] = OrderedDict()

    # -- idempotency keys --------------------------------------------------------------------
    def claim(self, key: str) -> tuple[str | None, threading.Event | None]:
        """``(url, None)`` when ``key`` was answered, ``(None, event)`` when another request holds it
        (wait for ``event``), ``(None, None)`` when this request now holds it."""
        with self._lock:
            if key in self._done:
                return self._done[key], None
            if key in self._running:
                return None, self._running[key]
            self._running[key] = threading.Event()
            return None, None

    def finish(self, key: str, url: str | None) -> None:
        """Ends the holder's work: remembers ``url`` (None: forget the key, nothing was sent)."""
        with self._lock:
            if url is not None:
                self._done[key] = url
                while len(self._done) > self.limit:
                    self._done.popitem(last=False)
            event = self._running.pop(key, None)
        if event is not None:
            event.set()

    def answered(self, key: str) -> str | None:
        """The redirect remembered for ``key``."""
        with self._lock:
            return self._done.get(key)

    # -- receipts -----------------------------------------------------------------------------
    def put(self, receipt: Receipt, rid: str | None = None) -> str:
        """Keeps ``receipt``; returns its id (new and random unless given)."""
        rid = rid or secrets.token_urlsafe(16)
        with self._lock:
            self._receipts[rid] = receipt
            while len(self._receipts) > self.limit:
                self._receipts.popitem(last=False)
        return rid

    def get(self, rid: str | None, owner: str) -> Receipt | None:
        """The receipt ``rid`` if ``owner`` (the session's CSRF token) made it; None when unknown,
        forgotten or another session's."""
        with self._lock:
            receipt = self._receipts.get(rid or "")
        return receipt if receipt is not None and owner and receipt.owner == owner else None

    def record_input(self, rid: str, owner: str, index: int) -> Receipt | None:
        """Notes that receipt ``rid``'s transactions added input ``index`` (the wallet's confirmation)."""
        with self._lock:
            receipt = self._receipts.get(rid)
            if receipt is not None and owner and receipt.owner == owner and receipt.input is None:
                receipt = self._receipts[rid] = replace(receipt, input=index)
            return receipt


def new_key() -> str:
    """A fresh idempotency key for one rendered form."""
    return secrets.token_urlsafe(18)


def form_fields(csrf_token: Callable[[], str]) -> Markup:
    """The hidden fields every form carries: the CSRF token and a fresh idempotency key."""
    return Markup(f'<input type="hidden" name="csrf_token" value="{escape(csrf_token())}">'
                  f'<input type="hidden" name="{FIELD}" value="{new_key()}">')


def _scoped_key() -> str | None:
    key = request.form.get(FIELD, "")
    if not _KEY.match(key):
        return None
    return f"{session.get('csrf_token', '')}:{key}"


View = Callable[..., Any]


def once(receipts: Callable[[], Receipts], wait_timeout: Callable[[], float]) -> Callable[[View], View]:
    """Decorates a POST view (module doc): a repeated key answers the first POST's redirect."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            key = _scoped_key()
            if key is None:
                return view(*args, **kwargs)
            store = receipts()
            url, running = store.claim(key)
            if running is not None:
                running.wait(wait_timeout())
                url = store.answered(key)
                if url is None:  # the first one failed before sending anything, or is still at it
                    url, running = store.claim(key)
                    if running is not None:
                        return make_response(("this form is still being sent: reload in a moment", 409))
            if url is not None:
                return _redirect(url)
            answer: Response | None = None
            try:
                answer = make_response(view(*args, **kwargs))
            finally:
                sent = answer is not None and answer.status_code in (302, 303)
                store.finish(key, answer.headers.get("Location") if sent and answer is not None else None)
            return answer

        return wrapper

    return decorate


def _redirect(url: str) -> Response:
    response = make_response("", 303)
    response.headers["Location"] = url
    return response
