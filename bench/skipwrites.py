"""`probe collector serve` whose store skips every write: what the collector costs without its writes.

bench.ingest runs it as `python -m bench.skipwrites collector serve ...`. The patch below is made at import, so it
holds in the worker processes too: multiprocessing's spawn imports this module in each of them (as `__mp_main__`)
before they build the app. Every upload is still received, checked and answered 201 exactly as by the real
collector, up to the store; nothing is kept.
"""

from __future__ import annotations

from probe.collector import store


def _skip(self: object, key: str, data: bytes, *, sync: bool = True) -> bool:
    store._check_key(key)
    return True


store.FileStore.put_new = _skip  # type: ignore[method-assign]
store.S3Store.put_new = _skip  # type: ignore[method-assign]

if __name__ == "__main__":
    from probe.cli import main

    main()
