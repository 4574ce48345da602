"""Erase users and groups from June (june.so) in bulk, with checkpoints and an audit report."""

__version__ = "0.1.0"
