"""Runnable seed examples: ``python -m examples [NAME ...] [--small]``."""
