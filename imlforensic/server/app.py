"""The HTTP API of ``imlforensic serve`` (FastAPI): routes, errors, upload limit, token.

Routes (OpenAPI description at ``/openapi.json``, interactive page at ``/docs``):

* ``POST /v1/analyse``: multipart form, the picture in field ``image``; optional fields
  ``method``, ``threshold``, ``refiner`` (as the CLI's options) and ``maps`` (``url``: PNG
  URLs under ``/v1/results/``, the default; ``inline``: ``data:`` URLs; ``none``: the record
  only, as ``detect``). Answers the JSON record (schema ``imlforensic.result/1``).
* ``GET /v1/results/{id}/{kind}.png``: a map of an earlier answer (kept while memory allows).
* ``GET /v1/health``: liveness, version, queue; ``GET /v1/models``: the registry's methods
  and refiners, their state and whether they are loaded.

Errors are ``{"error": "one line"}`` with 400 (bad form or option), 401 (token), 404, 413
(upload too large), 422 (not a usable picture, or above the pixel limit), 503 (queue full, with
``Retry-After``; or a model that cannot be built). With a token, every route but
``/v1/health`` needs ``Authorization: Bearer TOKEN``.
"""

from __future__ import annotations

import asyncio
import hmac
from typing import Annotated, Any

from fastapi import Depends, FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from imlforensic import __version__
from imlforensic.io.messages import one_line
from imlforensic.registry import DEFAULT_METHOD, REGISTRY
from imlforensic.server.engine import Busy, Engine, RequestError, check_options


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


class UploadLimit:
    """ASGI middleware: refuse a request body above ``max_bytes`` with 413, before it is read in full
    (by its Content-Length, or by counting the bytes of a chunked upload)."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        message = f"upload too large: the limit is {self.max_bytes:,} bytes"
        for key, value in scope.get("headers", []):
            if key == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await error(413, message)(scope, receive, send)
                return
        received, over = 0, False

        async def limited() -> dict:
            nonlocal received, over
            event = await receive()
            if event["type"] == "http.request":
                received += len(event.get("body", b""))
                if received > self.max_bytes:
                    over = True
                    return {"type": "http.disconnect"}
            return event

        async def guarded_send(event: dict) -> None:
            if not over:
                await send(event)

        try:
            await self.app(scope, limited, guarded_send)
        except Exception:
            if not over:
                raise
        if over:
            await error(413, message)(scope, receive, send)


def create_app(engine: Engine) -> Any:
    """The ASGI application serving ``engine`` (the FastAPI app inside the upload limit)."""
    app = FastAPI(
        title="imlforensic",
        version=__version__,
        summary="Find and outline the edited regions of images: the command line's analysis over HTTP.",
    )
    app.state.engine = engine
    token = engine.config.token

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for problem in exc.errors():
            where = ".".join(str(part) for part in problem.get("loc", ())[1:]) or "request"
            what = "is required" if problem.get("type") == "missing" else str(problem.get("msg", "is invalid")).lower()
            problems.append(f"field {where!r} {what}")
        hint = (
            " (send multipart/form-data with the picture in field 'image')"
            if request.url.path.endswith("analyse")
            else ""
        )
        return error(400, "; ".join(problems) + hint)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))

    def authorised(request: Request) -> None:
        if token is None:
            return
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            raise StarletteHTTPException(
                401, "missing or wrong token (Authorization: Bearer TOKEN)", {"WWW-Authenticate": "Bearer"}
            )

    auth = [Depends(authorised)]

    @app.get("/v1/health", summary="Liveness, version and queue")
    def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "version": __version__,
            "warm": engine.warm(),
            "queue": {"limit": engine.config.queue, "in_flight": engine.in_flight},
            "served": engine.served,
        }

    @app.get("/v1/models", summary="Registered methods and refiners", dependencies=auth)
    def models() -> dict[str, Any]:
        return {
            "default_method": DEFAULT_METHOD,
            "models": [
                {
                    "name": entry.name,
                    "task": entry.task,
                    "version": entry.version,
                    "summary": entry.summary,
                    "state": REGISTRY.state(entry),
                    "loaded": REGISTRY.is_loaded(entry.name),
                }
                for entry in REGISTRY.entries()
            ],
        }

    @app.post(
        "/v1/analyse", summary="Analyse one picture (multipart form, the picture in field 'image')", dependencies=auth
    )
    async def analyse(
        image: Annotated[UploadFile, File(description="The picture (JPEG, PNG, TIFF, WebP, BMP, GIF, HEIC, AVIF).")],
        method: Annotated[str | None, Form(description=f"A detection method [default: {DEFAULT_METHOD}].")] = None,
        threshold: Annotated[float | None, Form(description="Decision threshold [default: the method's].")] = None,
        refiner: Annotated[str | None, Form(description="Refine the map: superpixel, grabcut, sam, deeplab.")] = None,
        maps: Annotated[str | None, Form(description="url (default), inline (data: URLs) or none.")] = None,
    ) -> JSONResponse:
        try:
            options = check_options(method, threshold, refiner, maps)
            engine.admit()
        except RequestError as exc:
            return error(exc.status, str(exc))
        except Busy as exc:
            return error(503, str(exc), headers={"Retry-After": "1"})
        try:
            data = await image.read()
            future = engine.executor.submit(engine.analyse, data, image.filename or "upload", options)
            record = await asyncio.wrap_future(future)
        except RequestError as exc:
            return error(exc.status, str(exc))
        except Exception as exc:  # a bug or an unexpected library error: one line, and the server goes on
            return error(500, f"internal error ({type(exc).__name__}: {one_line(exc)})")
        finally:
            engine.release()
        return JSONResponse(record)

    @app.get(
        "/v1/results/{key}/{kind}.png", summary="A map of an earlier answer", response_class=Response, dependencies=auth
    )
    def result(key: str, kind: str) -> Response:
        data = engine.result(key, kind)
        if data is None:
            return error(404, f"no map {kind!r} for result {key!r} (unknown, or dropped to free memory)")
        return Response(data, media_type="image/png")

    return UploadLimit(app, engine.config.max_bytes)
