"""``GET /`` serves the console page; ``/console/*`` its scripts and styles (plain files, no build step)."""

from __future__ import annotations

from pathlib import Path

from litestar import get
from litestar.response import File
from litestar.static_files import create_static_files_router

STATIC_DIR = Path(__file__).resolve().parent / "static"
ASSETS_PATH = "/console"


@get("/", include_in_schema=False, sync_to_thread=False)
def console_page() -> File:
    """The console's single page (open without a key: it asks for one when the API answers 401)."""
    return File(STATIC_DIR / "index.html", media_type="text/html; charset=utf-8", content_disposition_type="inline")


console_assets = create_static_files_router(path=ASSETS_PATH, directories=[STATIC_DIR], include_in_schema=False)
