"""The client library of the ML market, shared by the ``mlmarket`` CLI and the web console.

Layers (each module's docstring says more):

- ``config``: node discovery (``discover`` -> ``NodeConfig``); ``accounts``: ``Signer`` (dev accounts,
  private keys; keys are never shown);
- ``chain``: the base layer through web3.py (``Chain``: ``send_input``, ``prepare_input`` for browser
  wallets, ``execute_output``...); ``reader``: the node's JSON-RPC reader API (``ReaderClient``,
  ``wait_for_input``); ``inspect``: inspect queries (``InspectClient``);
- pure helpers: ``actions`` (what each user action sends), ``jobspec`` (JSON specs -> ``JobSpec``),
  ``amounts`` (token units, millionths), ``outputs`` (decoding notices, vouchers, reports; voucher
  states);
- ``market.Market``: the facade tying them for one application and one account; ``upload.upload``
  stores a file in chunks.
"""

from mlmarket.client.errors import (
    ClientError,
    ConfigError,
    InputFailed,
    InspectFailed,
    NodeError,
    SpecError,
    TransactionFailed,
)

__all__ = ["ClientError", "ConfigError", "InputFailed", "InspectFailed", "NodeError", "SpecError",
           "TransactionFailed"]
