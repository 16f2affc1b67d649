"""loadbay: self-hosted data import service."""

from importlib.metadata import version

__version__ = version("loadbay")
