"""The collector's HTTP face (Starlette under uvicorn): a thin shell over `Ingest`.

- `PUT /v1/results/{sha256}`: body = the exact signed bytes, `Probe-Signature` = base64 of the `.minisig` file,
  optional `Probe-Public-Key` = the probe's minisign public key line. 201 stored, 200 already stored, 400 / 403 /
  413 / 422 refused for good, 429 / 503 with `Retry-After`. Every answer is JSON with a `reason` on refusal.
- `GET /health`: 200 when the store answers, 503 when it does not.

Settings (probe/collector/settings.py) travel to uvicorn's worker processes in one environment variable, read by
`app_from_environment`, the factory uvicorn calls in each worker.
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Any

from probe.collector.checks import Refusal
from probe.collector.settings import SETTINGS_VARIABLE, CollectorSettings
from probe.wire import PUBLIC_KEY_HEADER, RESULTS_PATH, SIGNATURE_HEADER

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

    from probe.collector.ingest import Ingest

# Threads per worker process for what blocks: enough to keep many fsyncs (which the file system commits together)
# or object store requests in flight; more only add GIL hand-offs.
STORE_THREADS = 16


def app_from_environment() -> Starlette:
    """uvicorn's factory in each worker process."""
    return create_app(CollectorSettings.from_environment(os.environ[SETTINGS_VARIABLE]))


def create_app(settings: CollectorSettings) -> Starlette:
    """The ASGI application over the store the settings name."""
    from concurrent.futures import ThreadPoolExecutor

    from starlette.applications import Starlette
    from starlette.routing import Route

    from probe.collector.ingest import Ingest
    from probe.collector.ratelimit import RateLimiter
    from probe.collector.store import FileStore, S3Store, open_store

    store = open_store(settings.store, settings.endpoint_url)
    if isinstance(store, FileStore):
        store.sweep()
    if isinstance(store, S3Store):
        store.client  # noqa: B018 -- made now, in each worker, rather than by the first uploads under load
    # What blocks (fsync, the object store) runs in this pool; the checks run on the event loop (see ingest.py).
    executor = ThreadPoolExecutor(STORE_THREADS, thread_name_prefix="store")
    limiter = RateLimiter(settings.rate, settings.burst)
    # New keys per client address: a burst of an hour's allowance, then one every 3600/n seconds.
    hourly = settings.new_keys_per_hour
    new_keys = RateLimiter(hourly / 3600, hourly) if hourly > 0 else None
    ingest = Ingest(store, max_bytes=settings.max_bytes, limiter=limiter, executor=executor, new_keys=new_keys)

    async def put_result(request: Request) -> Response:
        return await _put_result(request, ingest)

    async def health(request: Request) -> Response:
        return await _health(ingest)

    return Starlette(
        routes=[
            Route(RESULTS_PATH + "{sha256}", put_result, methods=["PUT"]),
            Route("/health", health, methods=["GET"]),
        ]
    )


async def _put_result(request: Request, ingest: Ingest) -> Response:
    sha256 = request.path_params["sha256"]
    try:
        data = await _body(request, ingest.max_bytes)
        accepted = await ingest.accept(
            sha256,
            data,
            request.headers.get(SIGNATURE_HEADER),
            request.headers.get(PUBLIC_KEY_HEADER),
            request.client.host if request.client else None,
        )
    except Refusal as refusal:
        return _refused(refusal)
    status = "stored" if accepted.status == 201 else "duplicate"
    return _json(
        accepted.status,
        {"status": status, "sha256": sha256, "key": accepted.key, "measurements": accepted.measurements},
    )


async def _body(request: Request, limit: int) -> bytes:
    """The body, refusing early (413) what announces or turns out to be larger than `limit`."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise Refusal(400, "length", f"Content-Length {declared[:40]!r} is not a number") from None
        if size > limit:
            raise Refusal(413, "size", f"the body is {size} bytes; this collector takes at most {limit}")
    from starlette.requests import ClientDisconnect

    chunks = []
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:
                raise Refusal(413, "size", f"the body is over {limit} bytes, the most this collector takes")
            chunks.append(chunk)
    except ClientDisconnect:  # gone, or closed by the body deadline (probe.collector.guard): nobody reads this
        raise Refusal(408, "connection", "the body did not arrive") from None
    return b"".join(chunks)


async def _health(ingest: Ingest) -> Response:
    from starlette.concurrency import run_in_threadpool

    from probe.collector.store import StoreError

    try:
        await run_in_threadpool(ingest.store.check)
    except StoreError as exc:
        return _json(503, {"status": "unavailable", "reason": str(exc)})
    return _json(200, {"status": "ok", "store": ingest.store.name.split(" at ")[0].split(":")[0]})


def _refused(refusal: Refusal) -> Response:
    response = _json(refusal.status, {"status": "refused", "code": refusal.code, "reason": refusal.reason})
    if refusal.retry_after is not None:
        response.headers["Retry-After"] = str(max(1, math.ceil(refusal.retry_after)))
    return response


def _json(status: int, body: dict[str, Any]) -> Response:
    from starlette.responses import JSONResponse

    return JSONResponse(body, status_code=status)
