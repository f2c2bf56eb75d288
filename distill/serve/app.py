"""The HTTP app: FastAPI routes over a :class:`~distill.serve.service.Service`.

Endpoints:
    POST /predict   ``{"text": "...", "lang": "it"}`` or ``{"texts": ["...", {"text": "...", "lang": "ja"}]}``
    GET  /health    ``{"status": "ok"}`` once the model and adapters are loaded
    GET  /metrics   Prometheus text
    GET  /info      model card summary, labels, adapter versions, routes, cache
    POST /admin/adapters/{lang}           ``{"path": "<adapter folder>", "promote": false}``
    POST /admin/adapters/{lang}/promote   ``{"version": "v2"}``
    POST /admin/adapters/{lang}/rollback

Every error is a 4xx with ``{"error": "<one line>"}``; the server stays up. The admin routes need
``Authorization: Bearer $DISTILL_SERVE_TOKEN``; without that variable they are refused (403).
"""

from __future__ import annotations

import hmac
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from typing import Any

from fastapi import APIRouter, FastAPI, Header, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field

from distill.errors import DistillError
from distill.serve.metrics import ServeMetrics
from distill.serve.service import Item, Service

TOKEN_ENV = "DISTILL_SERVE_TOKEN"


@dataclass(frozen=True)
class Limits:
    """What one request may hold."""

    max_texts: int = 256
    max_chars: int = 20_000
    max_body_bytes: int = 4_000_000


class TextIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str
    lang: str | None = Field(default=None, max_length=35)


class PredictIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str | None = None
    lang: str | None = Field(default=None, max_length=35)
    texts: list[TextIn | str] | None = None


class AddIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str
    promote: bool = False


class PromoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: str


def _items(body: PredictIn, limits: Limits) -> list[Item]:
    if (body.text is None) == (body.texts is None):
        raise HTTPException(422, 'give either "text" (one) or "texts" (a list), not both or neither')
    if body.texts is None:
        items = [Item(str(body.text), body.lang)]
    else:
        items = [
            Item(t, body.lang) if isinstance(t, str) else Item(t.text, t.lang or body.lang)
            for t in body.texts
        ]
    if not items:
        raise HTTPException(422, '"texts" is empty; send at least one text')
    if len(items) > limits.max_texts:
        raise HTTPException(413, f"{len(items)} texts in one request; the limit is {limits.max_texts}")
    for i, item in enumerate(items):
        if not item.text.strip():
            raise HTTPException(422, f"text {i} is empty")
        if len(item.text) > limits.max_chars:
            raise HTTPException(
                413, f"text {i} has {len(item.text)} characters; the limit is {limits.max_chars}"
            )
    return items


def _validation_message(exc: RequestValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return "invalid request"
    first = errors[0]
    if first.get("type") == "json_invalid":
        return f"malformed JSON: {first.get('ctx', {}).get('error', 'cannot parse the body')}"
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "body"
    if first.get("type") == "extra_forbidden":
        return f"unknown field {where!r}; send text, lang or texts"
    return f"{where}: {first.get('msg', 'invalid')}"


def _check_admin(authorization: str | None) -> None:
    token = os.environ.get(TOKEN_ENV)
    if not token:
        raise HTTPException(403, f"the admin routes are off: start the server with {TOKEN_ENV} set")
    given = (authorization or "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(given.encode(), token.encode()):
        raise HTTPException(401, "wrong or missing admin token (Authorization: Bearer <token>)")


def _add_counting(app: FastAPI, metrics: ServeMetrics, limits: Limits) -> None:
    """Refuse oversized bodies before parsing; count and time every request."""

    @app.middleware("http")
    async def count(request: Request, call_next: Any) -> Response:
        start = time.perf_counter()
        size = request.headers.get("content-length")
        if size is not None and size.isdigit() and int(size) > limits.max_body_bytes:
            response: Response = JSONResponse(
                {"error": f"body of {size} bytes; the limit is {limits.max_body_bytes}"}, status_code=413
            )
        else:
            response = await call_next(request)
        endpoint = getattr(request.scope.get("route"), "path", None) or "unmatched"
        metrics.requests.labels(endpoint=endpoint, status=str(response.status_code)).inc()
        metrics.latency.labels(endpoint=endpoint).observe(time.perf_counter() - start)
        return response


def _add_error_handlers(app: FastAPI) -> None:
    """Every error as ``{"error": "<one line>"}`` with a 4xx status."""

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        json_error = any(e.get("type") == "json_invalid" for e in exc.errors())
        return JSONResponse({"error": _validation_message(exc)}, status_code=400 if json_error else 422)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code)

    @app.exception_handler(DistillError)
    async def distill_error(request: Request, exc: DistillError) -> JSONResponse:
        return JSONResponse({"error": str(exc).splitlines()[0]}, status_code=400)


def _admin_routes(service: Service) -> APIRouter:
    router = APIRouter(prefix="/admin/adapters")
    counter = service.metrics.admin

    @router.post("/{lang}")
    async def add(lang: str, body: AddIn, authorization: str | None = Header(default=None)) -> dict[str, Any]:
        _check_admin(authorization)
        result = await service.add(lang, body.path, promote=body.promote)
        counter.labels(action="add", status="ok").inc()
        return result

    @router.post("/{lang}/promote")
    async def promote(
        lang: str, body: PromoteIn, authorization: str | None = Header(default=None)
    ) -> dict[str, Any]:
        _check_admin(authorization)
        change = await service.promote(lang, body.version)
        counter.labels(action="promote", status="ok").inc()
        return asdict(change)

    @router.post("/{lang}/rollback")
    async def rollback(lang: str, authorization: str | None = Header(default=None)) -> dict[str, Any]:
        _check_admin(authorization)
        change = await service.rollback(lang)
        counter.labels(action="rollback", status="ok").inc()
        return asdict(change)

    return router


def _public_routes(service: Service, limits: Limits) -> APIRouter:
    router = APIRouter()

    @router.post("/predict")
    async def predict(body: PredictIn) -> dict[str, Any]:
        answers = await service.predict(_items(body, limits))
        return {"results": answers} if body.texts is not None else answers[0]

    @router.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "kind": service.model.kind, "adapters": dict(service.routes)}

    @router.get("/metrics")
    async def prometheus() -> Response:
        service.refresh_drift()
        return Response(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @router.get("/info")
    async def info() -> dict[str, Any]:
        return service.info()

    return router


def create_app(service: Service, limits: Limits | None = None) -> FastAPI:
    """The FastAPI app serving ``service`` (started and stopped with the app)."""
    limits = limits or Limits()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await service.start()
        yield
        await service.stop()

    app = FastAPI(title="xlt-distill student", lifespan=lifespan)
    _add_counting(app, service.metrics, limits)
    _add_error_handlers(app)
    app.include_router(_public_routes(service, limits))
    app.include_router(_admin_routes(service))
    return app
