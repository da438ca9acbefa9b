"""The ML market's user side: the ``client`` library (shared by the CLI and the web console) and the
``mlmarket`` command line (``cli``)."""
