"""For Beam runners' ``--setup_file``: the package is configured in pyproject.toml."""

from setuptools import setup

setup()
