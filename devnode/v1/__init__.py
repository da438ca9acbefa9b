"""The local node's Cartesi Rollups v1 mode (``python -m devnode up --rollups v1``): what Cartesi CLI 1.x
and sunodo users run.

- ``devnode.v1.contracts``: the ``@cartesi/rollups@1.4.3`` artifacts (npm alias ``cartesi-rollups-1``).
- ``devnode.v1.deploy``: the v1 contracts at their canonical addresses, the test token, and one
  CartesiDApp with its Authority and History.
- ``devnode.v1.inputs``: ``InputAdded`` events of the v1 InputBox and the v1 advance metadata.
- ``devnode.v1.proofs``: epoch hashes, claims and the GraphQL ``Proof`` of an output (pure).
- ``devnode.v1.epochs``: claims through the Authority (History) and voucher executions.
- ``devnode.v1.node``: what ``devnode.node.Node`` plugs in with ``NodeConfig(rollups=1)``, and the v1
  reader routes (``devnode.graphql_v1`` with these proofs).
"""
