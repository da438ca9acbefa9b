"""The embedded local node: anvil + the real Cartesi Rollups v2 contracts + a rollup server + reader API.

Chain side (this package's lower layer; each module's docstring lists its public API):
- ``devnode.anvil``: start/stop anvil, dev accounts (``start_anvil``, ``dev_accounts``; their mnemonic is
  ``mlmarket.client.accounts.DEV_MNEMONIC``).
- ``devnode.contracts``: Cartesi and project artifacts (``artifact``, ``abi_of``, ``contract_at``).
- transactions go through ``mlmarket.client.tx`` (``send``; reverts named by custom error).
- ``devnode.deploy``: deterministic deployment of Cartesi v2.2.0, the test token and the application
  (``deploy``, ``Deployment``).
- ``devnode.chain``: inputs (``InputWatcher``, ``ChainInput``, ``add_input``, deposits), epochs and
  claims (``epoch_of``, ``submit_claim``, ``mine``), outputs (``execute_output``, ``was_output_executed``).
- ``devnode.merkle``: the height-63 outputs Merkle tree (``OutputsTree``, ``root``, ``siblings``).
"""
