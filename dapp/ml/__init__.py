"""The deterministic ML engine: catalogue, safe model format, datasets, training, metrics, FedAvg.

Pure over bytes and arrays, and a leaf of the backend: it knows nothing of the rollup or of jobs.
The public entry point is :mod:`dapp.ml.engine`. Importing this package imports neither numpy nor
scikit-learn; scikit-learn is imported inside the functions that need it.
"""
