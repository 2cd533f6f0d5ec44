"""Protokol: consultation protocols for public-service contact centres."""

__version__ = "0.1.0"
