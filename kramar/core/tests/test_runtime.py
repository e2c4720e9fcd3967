import gc

from kramar.core.runtime import gc_freeze_after_startup


def test_start_up_objects_are_frozen_out_of_full_collections(monkeypatch):
    monkeypatch.delenv("KRAMAR_GC_FREEZE", raising=False)
    gc.unfreeze()
    try:
        assert gc_freeze_after_startup() is True
        assert gc.get_freeze_count() > 10_000  # Django, the apps and the URL patterns are loaded in tests
    finally:
        gc.unfreeze()


def test_freezing_can_be_turned_off(monkeypatch):
    monkeypatch.setenv("KRAMAR_GC_FREEZE", "0")
    gc.unfreeze()
    assert gc_freeze_after_startup() is False
    assert gc.get_freeze_count() == 0
