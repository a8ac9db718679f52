"""A minimal HTTP service: GET / answers a fixed greeting, GET /health a JSON status, anything
else 404. Usage: server.py [PORT] (default 8080); binds 127.0.0.1 only."""
import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

GREETING = b"hello from litebox\n"


class Handler(BaseHTTPRequestHandler):
    server_version = "litebox-example/1"

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        if self.path == "/":
            self._send(200, "text/plain; charset=utf-8", GREETING)
        elif self.path == "/health":
            self._send(200, "application/json", json.dumps({"status": "ok"}).encode() + b"\n")
        else:
            self._send(404, "text/plain; charset=utf-8", b"not found\n")

    def _send(self, code: int, ctype: str, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        sys.stderr.write(f"{self.command} {self.path}\n")


def main() -> int:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8080
    server = HTTPServer(("127.0.0.1", port), Handler)
    print(f"listening on 127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
