"""Bytes <-> typed values: ABI inputs, portal payloads, rollup metadata, notices, vouchers, CIDs."""
