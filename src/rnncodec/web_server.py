"""A local HTTP server for the web decoder (``web/``): the page and its modules, the shipped models
(``/models/``) and the .rgc files it is given (``/files/NAME``), on 127.0.0.1 only.

It sends the cross-origin isolation headers, so onnxruntime-web may run the network on several
threads. ``rnncodec view`` and the browser tests use it."""

from __future__ import annotations

import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from .errors import RnncodecError
from .registry import models_folder

WEB_FOLDER = Path(__file__).resolve().parents[2] / "web"  # beside src/ in a source checkout
ORT_FILE = Path("node_modules/onnxruntime-web/dist/ort.wasm.min.mjs")


def web_folder() -> Path:
    """The web decoder's folder, with its npm dependencies installed; RnncodecError saying what is missing."""
    if not (WEB_FOLDER / "rgc-img.js").is_file():
        raise RnncodecError("the web decoder is in a source checkout's web/ folder, which this installation does not have")
    if not (WEB_FOLDER / ORT_FILE).is_file():
        raise RnncodecError(f"the web decoder's dependencies are not installed: run `npm ci` in {WEB_FOLDER}")
    return WEB_FOLDER


class Handler(SimpleHTTPRequestHandler):
    """Serves /web/…, /models/… and /files/NAME; the others are 404."""

    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, ".mjs": "text/javascript", ".js": "text/javascript",
                      ".wasm": "application/wasm", ".rgc": "application/octet-stream", ".onnx": "application/octet-stream",
                      ".safetensors": "application/octet-stream", ".json": "application/json"}

    def __init__(self, *args, server_files: dict[str, Path], **kwargs):
        self.server_files = server_files
        super().__init__(*args, **kwargs)

    def translate_path(self, path: str) -> str:
        parts = unquote(urlsplit(path).path).split("/")
        roots = {"web": web_folder(), "models": models_folder()}
        if len(parts) >= 3 and parts[1] == "files":
            return str(self.server_files.get("/".join(parts[2:]), "/nonexistent"))
        if len(parts) >= 2 and parts[1] in roots and ".." not in parts:
            return str(roots[parts[1]].joinpath(*parts[2:]))
        return "/nonexistent"

    def end_headers(self):
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def log_message(self, format, *args):  # quiet: the page shows what happens
        pass


class WebServer:
    """The server on 127.0.0.1 (``port`` 0: any free one), in a thread; ``files``: name → .rgc path."""

    def __init__(self, files: dict[str, Path] | None = None, port: int = 0, handler=Handler):
        web_folder()
        self.files = dict(files or {})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), functools.partial(handler, server_files=self.files))
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def page(self, name: str) -> str:
        """The URL of the page showing the served file ``name``."""
        return f"{self.base}/web/?src={quote('/files/' + name)}"

    def __enter__(self) -> "WebServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
