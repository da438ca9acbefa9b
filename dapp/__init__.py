"""The ML market backend: runs inside the Cartesi machine (``python -m dapp``)."""
