"""Builders shared by the tests: rollup metadata, portal payloads, a driven in-memory dApp."""
