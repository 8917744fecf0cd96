"""Detect the format of many model folders at once: concurrently, one client per store, each store bounded.

Why: `format: auto` on a stack of hundreds of models read each folder in turn with a new client, so 2,000
models took minutes and a gigabyte, and an unreachable store stalled for each of its models. Here a
bounded pool of threads reads the folders (one listing each, then the MLmodel file where there is one:
`detect_in`), every folder of a store shares its client, a failure of the whole store (unreachable,
refused credentials, no bucket) stops the reads of its other folders, and past the store's time bound
every folder still unread there is answered with one StoreError naming the store.

Threads rather than asyncio: the store clients (boto3, google-cloud-storage, azure-storage) are blocking.
The threads are daemons, so a read that outlives the bound never holds up the caller or its exit.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from modelstore.detect import DEFAULT_HINT, Detected, detect_in
from modelstore.errors import StoreError
from modelstore.stores import POOL_SIZE, Clients, StoreSettings, open_store, split_url, store_name


@dataclass
class _Store:
    """One store's run: its time bound, its folders not answered yet, and its failure once it has one."""

    name: str
    deadline: float
    pending: set[str] = field(default_factory=set)
    failure: StoreError | None = None


def detect_many(
    urls: Iterable[str],
    settings: StoreSettings | None = None,
    *,
    hint: str | None = DEFAULT_HINT,
    workers: int = POOL_SIZE,
) -> dict[str, Detected | StoreError]:
    """The format of each model folder, or the StoreError that says why it cannot be told, by URL.

    Each store (scheme and bucket; the settings give one endpoint and one set of credentials) has
    settings.read_timeout_s from the start of the call; a folder not answered by then gets the store's
    StoreError (`store` set), as does every folder of a store that failed as a whole. `hint` ends each
    message, as in `detect_in`.
    """
    settings = settings or StoreSettings(credentials={})
    bound = settings.read_timeout_s
    start = time.monotonic()
    results: dict[str, Detected | StoreError] = {}
    stores: dict[tuple[str, str], _Store] = {}
    tasks: dict[tuple[str, str], list[str]] = {}
    for url in dict.fromkeys(urls):
        try:
            scheme, bucket, _ = split_url(url)
        except StoreError as err:
            results[url] = StoreError(f"{err}{_skip(hint)}")
            continue
        key = (scheme, bucket if scheme else url)
        if key not in stores:
            stores[key] = _Store(store_name(scheme, bucket, settings) if scheme else url, start + bound)
        stores[key].pending.add(url)
        tasks.setdefault(key, []).append(url)
    if not tasks:
        return results

    done = threading.Condition()
    clients = Clients()
    work: queue.SimpleQueue[tuple[_Store, str] | None] = queue.SimpleQueue()
    # Round robin over the stores, so a store with many folders does not hold back the others.
    for row in range(max(len(urls) for urls in tasks.values())):
        for key, urls in tasks.items():
            if row < len(urls):
                work.put((stores[key], urls[row]))
    count = min(workers, sum(len(urls) for urls in tasks.values()))
    for _ in range(count):
        work.put(None)

    def answer(store: _Store, url: str, result: Detected | StoreError) -> None:
        with done:
            if url in store.pending:
                store.pending.discard(url)
                results[url] = result
                done.notify_all()

    def worker() -> None:
        while (task := work.get()) is not None:
            store, url = task
            if store.failure is not None:
                answer(store, url, store.failure)
                continue
            if time.monotonic() >= store.deadline:
                continue  # answered as unread when the bound passes
            try:
                try:
                    folder = open_store(url, settings, clients)
                except StoreError as err:
                    # detect_in ends its own messages with the hint; building the client is before it.
                    raise StoreError(f"{err}{_skip(hint)}", store=err.store) from None
                result: Detected | StoreError = detect_in(folder, hint=hint)
            except StoreError as err:
                result = err
                if err.store is not None:
                    with done:
                        if store.failure is None:
                            store.failure = StoreError(f"{err}", store=err.store)
                        result = store.failure
            except Exception as err:
                # A client failing in a way modelstore does not know yet: one line, never a traceback.
                result = StoreError(f"{url} cannot be read: {type(err).__name__}{_skip(hint)}")
            answer(store, url, result)

    for _ in range(count):
        threading.Thread(target=worker, name="modelstore-detect", daemon=True).start()

    with done:
        while any(store.pending for store in stores.values()):
            now = time.monotonic()
            for store in stores.values():
                if store.pending and now >= store.deadline:
                    late = StoreError(
                        f"{store.name} cannot be read: no answer within {bound:g} s "
                        f"({len(store.pending)} model folders unread){_skip(hint)}",
                        store=store.name,
                        timed_out=True,
                    )
                    for url in store.pending:
                        results[url] = late
                    store.pending.clear()
            waiting = [store.deadline for store in stores.values() if store.pending]
            if waiting:
                done.wait(timeout=max(0.0, min(waiting) - time.monotonic()))
    return results


def _skip(hint: str | None) -> str:
    return f"; {hint} to skip detection" if hint else ""
