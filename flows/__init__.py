"""Prefect flows that compose ``pipeline/`` (no parsing logic here), and the upload trigger.

Prefect is imported only in this package.
"""
