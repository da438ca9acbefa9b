"""The ML market's web console: a Flask app (``create_app``) over the client library ``mlmarket.client``.

Blueprints in ``views``; pure helpers: ``forms`` (validation), ``modelform`` (the catalogue as form
fields), ``chart`` (the scores chart), ``present`` (how values are shown), ``uploads`` (chunk by
chunk); ``gateway`` picks the account and its ``Market``; ``sending`` delivers an input through a dev
account or a browser wallet. See docs/CONSOLE.md.
"""

from mlmarket.console.app import create_app

__all__ = ["create_app"]
