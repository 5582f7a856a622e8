"""Prometheus metrics of this app (its own registry: see server.live.metrics)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from xactor.server.errors import error_responses

# 401: app.py includes this router behind the bearer-token check.
router = APIRouter(tags=["metrics"], responses=error_responses(401))


@router.get("/metrics", response_class=Response, summary="Prometheus text exposition")
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.live_metrics.registry), media_type=CONTENT_TYPE_LATEST)
