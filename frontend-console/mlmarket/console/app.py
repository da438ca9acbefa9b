"""The console's Flask app factory: ``create_app(config)``.

``config`` may hold Flask settings (``TESTING``, ``SECRET_KEY``…) and ``CONSOLE_SETTINGS`` (a
``Settings``; default ``Settings.from_env(config.get("ENVIRON"))``). Pages render with Jinja's
autoescaping; every unsafe request passes the CSRF check; responses carry a strict
Content-Security-Policy (scripts and styles from this console only, nothing from a CDN).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, g, jsonify, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from mlmarket.client.errors import ClientError
from mlmarket.client.units import score_text, short_address, utc
from mlmarket.console.csrf import csrf_token, init_csrf
from mlmarket.console.gateway import MarketPool, identity_address
from mlmarket.console.idempotency import Receipts, form_fields
from mlmarket.console.present import notice_summary, report_lines
from mlmarket.console.runtime import Runtime, TokenBook, human, identity, runtime
from mlmarket.console.settings import Settings
from mlmarket.console.staging import Staging
from mlmarket.console.views import access, account, api, create, funds, jobs, outputs, submit

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "frame-ancestors 'none'; base-uri 'self'; form-action 'self'")


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """The console app (module doc)."""
    config = dict(config or {})
    settings = config.pop("CONSOLE_SETTINGS", None) or Settings.from_env(config.pop("ENVIRON", None))
    app = Flask(__name__)
    app.config.update(SECRET_KEY=settings.secret_key, SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SAMESITE="Lax", MAX_CONTENT_LENGTH=settings.max_file_size + (1 << 20))
    app.config.update(config)
    pool = MarketPool(settings)
    app.extensions["mlmarket"] = Runtime(settings, pool, Staging(settings.upload_dir, max_file=settings.max_file_size,
                                                                 max_total=settings.max_staged_bytes),
                                         TokenBook(pool), Receipts())
    init_csrf(app)
    app.jinja_env.globals["form_fields"] = lambda: form_fields(csrf_token)
    for blueprint in (jobs.bp, access.bp, create.bp, submit.bp, outputs.bp, funds.bp, account.bp, api.bp):
        app.register_blueprint(blueprint)
    app.add_url_rule("/favicon.ico", "favicon",
                     lambda: redirect(url_for("static", filename="favicon.svg"), 301))
    app.context_processor(_page_context)
    app.jinja_env.filters.update(utc=utc, short=short_address, score=score_text, when=_when, human=human)
    app.jinja_env.globals["report_lines"] = report_lines
    app.jinja_env.globals["token_label"] = lambda token: runtime().tokens.label(token)  # macros see globals only
    app.register_error_handler(ClientError, _client_error)
    app.register_error_handler(OSError, _network_error)
    app.register_error_handler(HTTPException, _http_error)
    app.after_request(_headers)
    return app


def _page_context() -> dict[str, Any]:
    """What the layout needs on every page: the acting account, the accounts offered, the node."""
    rt = runtime()
    try:
        who = identity()
        dev = rt.pool.dev_addresses()
        node = rt.pool.config()
        problem = None
    except (ClientError, OSError) as exc:
        who, dev, node, problem = None, [], None, getattr(exc, "message", None) or f"network error: {exc}"
    return {"who": who, "who_address": identity_address(rt.pool, who), "dev_accounts": dev,
            "node": node, "node_problem": problem, "amount": rt.tokens.fmt,
            "summary": lambda name, args: notice_summary(name, args, rt.tokens.units())}


def _when(seconds: Any) -> str:
    """A time as ``2026-11-21 21:48 UTC (in 3 h)``, relative to the chain's latest block (``Units.time``;
    without the relative part when the chain does not answer)."""
    try:
        stamp = int(seconds)
    except (TypeError, ValueError):
        return str(seconds)
    if not g.get("chain_down"):
        try:
            return runtime().tokens.units().time(stamp)
        except (ClientError, OSError):
            g.chain_down = True
    return utc(stamp)



def _wants_json() -> bool:
    return request.path.startswith("/api/")


def _client_error(exc: ClientError) -> Any:
    """A client error that escaped a view (node down, no account): a clear message, not a traceback."""
    if _wants_json():
        return jsonify(ok=False, error=exc.message), 502
    return render_template("error.html", message=exc.message), 502


def _network_error(exc: OSError) -> Any:
    """The chain or the node did not answer (requests' connection errors are ``OSError``)."""
    return _client_error(ClientError(f"network error: {exc}"))


def _http_error(exc: HTTPException) -> Any:
    if _wants_json():
        return jsonify(ok=False, error=exc.description), exc.code
    return render_template("error.html", message=exc.description, code=exc.code), exc.code


def _headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response
