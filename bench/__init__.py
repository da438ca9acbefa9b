"""Benchmarks that print figures (not timed tests): each ``bench/<name>.py`` has a ``main()``.

Run them all with ``.venv/bin/python -m bench``, or some with ``.venv/bin/python -m bench <name> ...``.
"""
