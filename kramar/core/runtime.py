"""Process tuning for the web server's workers, applied once the application is loaded.

Python's cyclic garbage collector now and then makes a full pass over every tracked object. In a Kramar worker
about 150,000 of them are created at start-up (modules, URL patterns, model and schema metadata) and live
forever; a full pass over them plus a request's garbage took 60–120 ms on our machines and showed up as the
p95 of busy pages (see benchmarks/sales_pages.py). `gc.freeze()` moves the start-up objects to the permanent
generation, which the collector skips; cycles created by requests are still collected as before."""

from __future__ import annotations

import gc
import os


def gc_freeze_after_startup() -> bool:
    """Collect once, then freeze what survived. Off when KRAMAR_GC_FREEZE is "0". Returns whether it froze."""
    if os.environ.get("KRAMAR_GC_FREEZE", "1") == "0":
        return False
    from django.urls import get_resolver

    _ = get_resolver().url_patterns  # import every view module now rather than on the first request
    gc.collect()
    gc.freeze()
    return True
