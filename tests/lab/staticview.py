"""A helper that lies, for the lab: serves fixed view bytes with a fixed signature at GET /v1/view, as a control
vantage signing with another key than the one the probe trusts would. Run inside the server namespace:

    python staticview.py ADDRESS PORT VIEW_FILE SIGNATURE_FILE     (prints "ready" once listening)
"""

from __future__ import annotations

import base64
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def main() -> None:
    address, port, view, signature = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4])
    body = view.read_bytes()
    header = base64.b64encode(signature.read_bytes()).decode("ascii")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/v1/view":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Helper-Signature", header)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((address, port), Handler)
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
