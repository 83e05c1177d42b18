"""rnncodec view: serve an .rgc file and the web decoder on localhost, and print the page's URL."""

from __future__ import annotations

from pathlib import Path

import click

from .io import errors_about


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="Port on 127.0.0.1 (0: any free one).")
def view(file, port):
    """Serve FILE (.rgc) and the web decoder (web/, after `npm ci` there) on 127.0.0.1 until interrupted;
    open the printed URL in a browser to watch the file decode, iteration by iteration."""
    from ..api import info
    from ..web_server import WebServer

    path = Path(file).resolve()
    with errors_about(file):
        info(path)  # an .rgc file (its header holds), or one line saying why not
        try:
            server = WebServer({path.name: path}, port)
        except OSError as e:
            raise click.ClickException(f"cannot serve on 127.0.0.1:{port}: {e.strerror or e}") from None
    with server:
        click.echo(server.page(path.name))
        server.thread.join()
