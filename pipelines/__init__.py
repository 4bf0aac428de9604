"""Prefect flows, event-triggered deployments, the inbox watcher and ``assetmap up``.

Thin shells over :mod:`assetmap`: every decision about data is the library's.
"""
