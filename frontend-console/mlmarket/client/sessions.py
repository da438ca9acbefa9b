"""HTTP sessions that leave loopback traffic alone (``tx.web3_for`` builds ``Web3`` on them).

A session to a loopback address (``localhost``, ``127.0.0.0/8``, ``::1``) does not read the
environment's proxy settings: traffic to this machine never goes through a proxy (``HTTP_PROXY``
without a ``NO_PROXY`` would otherwise send a local node's calls to it), and requests does not scan
``os.environ`` on every call, which is not safe while another thread changes the environment.
Sessions to other hosts keep requests' defaults, proxies included.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

import requests


def is_loopback(url: str) -> bool:
    """Whether ``url`` names this machine by a loopback name or address."""
    host = urlsplit(url).hostname
    if host is None:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def session_for(url: str) -> requests.Session:
    """A new session for requests to ``url``; one to a loopback address ignores proxy settings."""
    session = requests.Session()
    session.trust_env = not is_loopback(url)
    return session

