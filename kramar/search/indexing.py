"""Hooks for bulk loaders (demo data, imports) around writes that bypass the services.

`bulk_load_begin()` may suspend per-row index maintenance; `bulk_load_end()` must leave the search
index complete for every row written in between."""

from __future__ import annotations


def bulk_load_begin(*, using: str = "default") -> None:
    return None


def bulk_load_end(*, using: str = "default") -> None:
    return None
