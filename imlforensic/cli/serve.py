"""``imlforensic serve``: a local HTTP API that keeps the models warm (FastAPI on uvicorn)."""

from __future__ import annotations

import ipaddress
from typing import Annotated

import typer

from imlforensic.cli.common import Device, check_device, entry_of, fail, usage_error
from imlforensic.io.messages import one_line
from imlforensic.registry import DEFAULT_METHOD


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on. Anything but loopback needs --token.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port.")] = 8000,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="IMLFORENSIC_TOKEN",
            help="Require 'Authorization: Bearer TOKEN' on every route but /v1/health (better given in the environment variable IMLFORENSIC_TOKEN than on the command line).",
            show_default=False,
        ),
    ] = None,
    method: Annotated[
        list[str] | None,
        typer.Option(
            "--method",
            "-m",
            help=f"Methods to load before listening (repeatable) \\[default: {DEFAULT_METHOD}]; others load on first use.",
            show_default=False,
        ),
    ] = None,
    device: Device = "auto",
    max_bytes: Annotated[int, typer.Option(min=1, help="Largest upload accepted, in bytes (413 above).")] = 50_000_000,
    max_pixels: Annotated[
        int, typer.Option(min=1, help="Largest picture accepted, in pixels (422 above).")
    ] = 50_000_000,
    queue: Annotated[
        int, typer.Option(min=1, help="Requests admitted at once, running or waiting; more get 503 and Retry-After.")
    ] = 16,
    workers: Annotated[
        int, typer.Option(min=1, help="Analyses at once (one per model at a time; decoding and encoding overlap).")
    ] = 2,
    result_memory: Annotated[
        int, typer.Option(min=1, help="Megabytes of PNG maps kept for their URLs (oldest dropped first).")
    ] = 256,
) -> None:
    """Serve the analysis over HTTP with warm models: POST /v1/analyse, GET /v1/health, GET /v1/models.

    POST /v1/analyse takes a multipart form with the picture in field 'image' and the options method, threshold, refiner and maps (url, inline or none), and answers the JSON record of `localize`, its maps as PNG URLs (or inline data: URLs). The OpenAPI description is at /openapi.json.

    [bold]Examples[/bold]

      imlforensic serve --port 8000

      curl -F image=@photo.jpg http://127.0.0.1:8000/v1/analyse

      IMLFORENSIC_TOKEN=s3cret imlforensic serve --host 0.0.0.0
    """
    check_device(device)
    if not is_loopback(host) and not token:
        usage_error(f"listening on {host} needs a token: --token or the environment variable IMLFORENSIC_TOKEN")
    names = list(method or [DEFAULT_METHOD])
    for name in names:
        entry_of(name, "detector", "a detection method")
    try:
        import uvicorn

        from imlforensic.server.app import create_app
    except ImportError as exc:
        fail(f'serve needs FastAPI and uvicorn: pip install "imlforensic[serve]" ({one_line(exc)})')
    from imlforensic.server.engine import Engine, RequestError, ServerConfig

    config = ServerConfig(
        methods=names,
        device=device,
        max_bytes=max_bytes,
        max_pixels=max_pixels,
        queue=queue,
        workers=workers,
        result_bytes=result_memory * 1_000_000,
        token=token or None,
    )
    engine = Engine(config)
    try:
        engine.warm_up()
    except RequestError as exc:
        fail(str(exc))
    typer.echo(f"imlforensic serve: {', '.join(names)} loaded; listening on http://{host}:{port}", err=True)
    try:
        uvicorn.run(create_app(engine), host=host, port=port, log_level="warning", access_log=False)
    finally:
        engine.close()
