"""CSRF protection for every form and JSON POST.

Hand-rolled on purpose (a dozen lines; Flask-WTF would bring WTForms for one feature): a random
token lives in the signed session cookie; every unsafe request must echo it in the form field
``csrf_token`` or the ``X-CSRF-Token`` header (what the page's JavaScript sends), compared in
constant time. The cookie is ``SameSite=Lax`` and ``HttpOnly`` as a second line.
"""

from __future__ import annotations

import hmac
import secrets

from flask import Flask, abort, request, session

FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def csrf_token() -> str:
    """The session's CSRF token (created on first use); templates call it for hidden fields."""
    token = session.get(FIELD)
    if not isinstance(token, str) or len(token) < 32:
        token = secrets.token_urlsafe(32)
        session[FIELD] = token
    return token


def check_request() -> None:
    """Aborts with 400 unless an unsafe request carries the session's token."""
    if request.method in SAFE_METHODS:
        return
    expected = session.get(FIELD)
    given = request.headers.get(HEADER) or request.form.get(FIELD) or ""
    if not isinstance(expected, str) or not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        abort(400, description="the form expired or did not come from this console (CSRF check failed); "
                               "reload the page and try again")


def init_csrf(app: Flask) -> None:
    """Checks every unsafe request and offers ``csrf_token()`` to templates."""
    app.before_request(check_request)
    app.jinja_env.globals["csrf_token"] = csrf_token
