"""The labelling server of `clip-audit inspect --serve`: serves the page, stores posted labels in labels.csv.

Only the page it served can write labels. A request is refused, and nothing is written, unless

- its ``Host`` header is the bound address and port (a DNS-rebinding page sends its own host name),
- its ``Origin``, when present, is the server's own origin (a foreign page's request carries its own),
- it carries the session token (``X-Clip-Audit-Token``), a random string embedded in the served page
  and readable only by pages of the server's origin,
- it is ``Content-Type: application/json`` (a cross-site form or ``text/plain`` POST is not), with a
  ``Content-Length`` no larger than the body limit (413 above it), and
- every posted label names a pair the page was built from, with ``is_duplicate`` 0 or 1 (400 with
  the reason otherwise).

The body is ``{"labels": [{"dataset": ..., "eval_id": ..., "pretraining_id": ..., "is_duplicate": 0|1}, ...]}``.
Accepted labels are merged into ``labels.csv`` (the newest label of a pair wins), written atomically.
Answers are JSON: ``{"saved": n, "labels": total}``, or ``{"error": reason}``.
"""
from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Mapping

import pandas as pd

from clip_core.atomic_files import atomic_write_text
from audit.inspect_page import LABELS_FILE, InspectOptions, build_page
from audit.thresholds import LABEL_COLUMNS, read_labels

SAVE_PATH = "/labels"
PAGE_PATHS = ("/", "/index.html")
TOKEN_HEADER = "X-Clip-Audit-Token"
_DISCARD_LIMIT = 1 << 20  # bytes of a refused body read and dropped before the connection closes
PairKey = tuple[str, str, str]  # dataset, eval_id, pretraining_id


@dataclass(frozen=True)
class ServerConfig:
    """Where the labelling server listens and how large a posted body may be."""

    host: str = "127.0.0.1"
    port: int = 8765  # 0 picks a free port
    max_body_bytes: int = 1 << 20


class RequestRejected(Exception):
    """A request refused with an HTTP status and a reason for the client."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def check_origin(headers: Mapping[str, str], expected_host: str) -> None:
    """Refuse a request whose Host is not the bound host:port or whose Origin is foreign."""
    host = headers.get("Host")
    if host is None or host.strip().lower() != expected_host.lower():
        raise RequestRejected(403, f"Host header {host!r} is not {expected_host!r} (the address this server is bound to)")
    origin = headers.get("Origin")
    if origin is not None and origin.strip().lower() != f"http://{expected_host}".lower():
        raise RequestRejected(403, f"Origin {origin!r} is not this server's origin http://{expected_host}")


def check_post_headers(headers: Mapping[str, str], token: str, max_body_bytes: int) -> int:
    """Check the token, content type and length of a label POST; return the body length."""
    sent = headers.get(TOKEN_HEADER)
    if not sent:
        raise RequestRejected(403, f"missing {TOKEN_HEADER} header: labels are accepted only from the served page")
    if not secrets.compare_digest(sent.encode("utf-8"), token.encode("utf-8")):
        raise RequestRejected(403, f"wrong {TOKEN_HEADER}: reload the page this server serves")
    content_type = (headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
    if content_type != "application/json":
        raise RequestRejected(415, f"Content-Type must be application/json, got {headers.get('Content-Type')!r}")
    if headers.get("Transfer-Encoding"):
        raise RequestRejected(411, "chunked bodies are not accepted; send a Content-Length")
    length_text = headers.get("Content-Length")
    if length_text is None:
        raise RequestRejected(411, "missing Content-Length")
    try:
        length = int(length_text)
    except ValueError as error:
        raise RequestRejected(400, f"Content-Length {length_text!r} is not a number") from error
    if length < 0:
        raise RequestRejected(400, f"Content-Length {length} is negative")
    if length > max_body_bytes:
        raise RequestRejected(413, f"body of {length} bytes is over the limit of {max_body_bytes} bytes")
    return length


def parse_labels_body(body: bytes, known_pairs: frozenset[PairKey]) -> pd.DataFrame:
    """Validate a posted JSON body against the page's pairs; return its labels (dataset, eval_id, pretraining_id, is_duplicate)."""
    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RequestRejected(400, f"body is not valid JSON: {error}") from error
    if not isinstance(document, dict) or set(document) != {"labels"} or not isinstance(document["labels"], list):
        raise RequestRejected(400, 'body must be a JSON object {"labels": [...]}')
    rows = []
    for number, label in enumerate(document["labels"]):
        where = f"labels[{number}]"
        if not isinstance(label, dict) or set(label) != set(LABEL_COLUMNS):
            raise RequestRejected(400, f"{where} must be an object with exactly the keys {LABEL_COLUMNS}")
        dataset, eval_id, pretraining_id, is_duplicate = (label[c] for c in LABEL_COLUMNS)
        for name, value in (("dataset", dataset), ("eval_id", eval_id), ("pretraining_id", pretraining_id)):
            if not isinstance(value, str):
                raise RequestRejected(400, f"{where}.{name} must be a string, got {value!r}")
        if type(is_duplicate) is not int or is_duplicate not in (0, 1):
            raise RequestRejected(400, f"{where}.is_duplicate must be 0 or 1, got {is_duplicate!r}")
        if (dataset, eval_id, pretraining_id) not in known_pairs:
            raise RequestRejected(
                400, f"{where}: pair dataset={dataset!r} eval_id={eval_id!r} pretraining_id={pretraining_id!r} is not on this page"
            )
        rows.append((dataset, eval_id, pretraining_id, is_duplicate))
    return pd.DataFrame(rows, columns=LABEL_COLUMNS)


def merge_labels(path: Path, posted: pd.DataFrame) -> pd.DataFrame:
    """Merge labels into the labels file (the newest label of a pair wins) and write it atomically."""
    path = Path(path)
    frames = [read_labels(path)] if path.is_file() else []
    merged = pd.concat(frames + [posted[LABEL_COLUMNS]], ignore_index=True)
    merged["is_duplicate"] = merged["is_duplicate"].astype(int)
    merged = merged.drop_duplicates(["dataset", "eval_id", "pretraining_id"], keep="last")
    atomic_write_text(path, merged.to_csv(index=False))
    return merged


class LabelServer(ThreadingHTTPServer):
    """A threaded HTTP server holding one page, its session token and the pairs it may label."""

    daemon_threads = True

    def __init__(self, page: str, token: str, pairs: frozenset[PairKey], labels_path: Path, config: ServerConfig) -> None:
        super().__init__((config.host, config.port), _LabelHandler)
        self.page = page.encode("utf-8")
        self.token = token
        self.pairs = pairs
        self.labels_path = labels_path
        self.config = config
        self.write_lock = threading.Lock()

    @property
    def url(self) -> str:
        """The address of the page."""
        return f"http://{self.expected_host}/"

    @property
    def expected_host(self) -> str:
        """The Host header a request must carry: the bound address and port."""
        host, port = self.server_address[:2]
        return f"{host}:{port}"


class _LabelHandler(BaseHTTPRequestHandler):
    """Serves the page on GET and stores labels on POST /labels; every refusal is a JSON error."""

    server: LabelServer

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        try:
            check_origin(self.headers, self.server.expected_host)
            if self.path not in PAGE_PATHS:
                raise RequestRejected(404, f"no page at {self.path}")
        except RequestRejected as rejected:
            self._reply_error(rejected)
            return
        self._reply(200, self.server.page, "text/html; charset=utf-8")

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        server = self.server
        length = None
        try:
            check_origin(self.headers, server.expected_host)
            if self.path != SAVE_PATH:
                raise RequestRejected(404, f"labels are posted to {SAVE_PATH}, not {self.path}")
            length = check_post_headers(self.headers, server.token, server.config.max_body_bytes)
            posted = parse_labels_body(self.rfile.read(length), server.pairs)
            with server.write_lock:
                try:
                    merged = merge_labels(server.labels_path, posted)
                except ValueError as error:
                    raise RequestRejected(500, f"labels on disk are unreadable, nothing written: {error}") from error
        except RequestRejected as rejected:
            if length is None:
                self._discard_body()
            self._reply_error(rejected)
            return
        self._reply(200, json.dumps({"saved": len(posted), "labels": len(merged)}).encode("utf-8"), "application/json")

    def _discard_body(self) -> None:
        """Read and drop (up to a bound) a refused request's body, so closing does not reset the connection."""
        try:
            remaining = min(int(self.headers.get("Content-Length", "0")), _DISCARD_LIMIT)
            self.connection.settimeout(1.0)
            while remaining > 0:
                chunk = self.rfile.read1(min(remaining, 65536))
                if not chunk:
                    break
                remaining -= len(chunk)
        except (ValueError, OSError):
            return

    def _reply_error(self, rejected: RequestRejected) -> None:
        """Answer a refused request with its status and reason; the connection closes."""
        self.close_connection = True
        self._reply(rejected.status, json.dumps({"error": rejected.reason}).encode("utf-8"), "application/json")

    def _reply(self, status: int, body: bytes, content_type: str) -> None:
        """Send a complete response with headers that keep it out of caches and frames."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy", "frame-ancestors 'none'")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - signature of the base class
        return


def make_server(overlap_dir: Path, options: InspectOptions, config: ServerConfig = ServerConfig()) -> LabelServer:
    """A labelling server bound to config.host:config.port with a fresh session token embedded in its page."""
    overlap_dir = Path(overlap_dir)
    token = secrets.token_urlsafe(32)
    page = build_page(overlap_dir, options, save_url=SAVE_PATH, token=token)
    pairs = frozenset(
        (page.dataset, str(e), str(p)) for e, p in zip(page.pairs["eval_id"], page.pairs["pretraining_id"])
    )
    return LabelServer(page.html, token, pairs, overlap_dir / LABELS_FILE, config)
