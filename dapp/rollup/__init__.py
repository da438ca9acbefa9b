"""The backend's only I/O: the rollup HTTP API (``http``), a fake for tests, and the loop."""
