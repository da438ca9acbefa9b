"""The ``mlmarket`` command line (click), built on ``mlmarket.client``."""
