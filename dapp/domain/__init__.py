"""Pure rules of the market: state machine, escrow ledger, commands and events.

Nothing here does I/O or imports requests, web3 or scikit-learn.
"""
