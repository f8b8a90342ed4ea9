"""The delivery-report receiver: an ASGI app that spools iSMS callbacks durably.

Give iSMS ``https://your.host/dlr/<token>`` as the callback URL. Each
``GET /dlr/<token>?msisdn=…&trx_id=…&dn_status=…`` is answered ``200 OK``
only after the event, with its receive time and its raw query string, is
written to an append-only JSON-lines file in the spool folder and fsynced
(requests arriving together share one fsync), whatever its fields look like:
judging them is the importer's job. ``store.import_dlr(spool_folder)`` takes
what is new.

The app is a plain ASGI callable, so any ASGI server can run it
(``uvicorn 'isms_campaigns.receiver:app_from_env' --factory``);
``isms-campaigns receiver`` runs it with uvicorn, plus a header timeout and a
connection cap that stalled clients cannot use up (see ``serve``).

>>> app = Receiver("s3cret-token-123", "/tmp/spool")  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import os
import re
import socket
import tempfile
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from .errors import IsmsError, spelled

try:  # one receiver per spool folder; the lock needs POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

MAX_QUERY = 2048  # bytes; a real callback is under 100
MAX_FILE_BYTES = 64 * 2**20  # a spool file is rotated past this size
MAX_REQUESTS = 1000  # callbacks waiting for their fsync; more are answered 503
HEADER_TIMEOUT = 5.0  # seconds a connection has to send a whole request head
MAX_CONNECTIONS = 2000  # past this, the connections longest without a request are closed
BACKLOG = 2048  # connections the kernel queues before the server accepts them
FIELDS = ("msisdn", "trx_id", "dn_status")
# Why requests or connections were refused, as /health counts them.
REFUSALS = (
    "forbidden",  # 403: wrong token
    "method",  # 405
    "not_found",  # 404: another path
    "body",  # 413
    "query_too_long",  # 414
    "busy",  # 503: over max_requests
    "spool_unwritable",  # 503
    "bad_http",  # 400 from the server: not HTTP, or a request head over 16 KB
    "timed_out",  # closed: no whole request head within the header timeout
    "evicted",  # closed, never having sent a whole request, to make room
)
_TOKEN = re.compile(r"[A-Za-z0-9_-]{12,128}")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class ReceiverError(IsmsError):
    """The receiver cannot start: a bad token, or a spool folder in use."""


class Spool:
    """Append-only JSON-lines files in one folder, written by one process.

    A new file is started at every open and when the current one passes
    ``max_bytes``. A line cut short by a crash was never acknowledged, so
    opening the folder trims it (iSMS got no 200 and sends it again).
    """

    def __init__(self, folder: str | Path, max_bytes: int = MAX_FILE_BYTES) -> None:
        self.folder = Path(folder)
        self.max_bytes = max_bytes
        self.written = 0
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            tempfile.TemporaryFile(dir=self.folder).close()  # it can make its files
            self._lock = (self.folder / ".receiver.lock").open("a")
        except OSError as exc:
            why = "it is a file" if self.folder.is_file() else exc.strerror or str(exc)
            raise ReceiverError(
                f"Cannot spool to {str(self.folder)!r}: {why}. Give a folder "
                f"this user can write to{spelled('', ' with --spool FOLDER')} (made if missing)."
            ) from None
        if fcntl is not None:
            try:
                fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                self._lock.close()
                raise ReceiverError(
                    f"The spool folder {str(self.folder)!r} is in use by another receiver: "
                    f"give each receiver its own {spelled('spool folder', '--spool folder')}."
                ) from None
        for path in self.files():
            _trim_partial_line(path)
        self._file: Any = None
        self._size = 0
        self._guard = threading.Lock()

    def files(self) -> list[Path]:
        return sorted(self.folder.glob("dlr-*.jsonl"))

    def write(self, lines: list[bytes]) -> None:
        """Append whole lines, flush and fsync: when this returns they are on disk."""
        data = b"".join(lines)
        with self._guard:
            if self._file is None or self._size >= self.max_bytes:
                self._rotate()
            self._file.write(data)
            self._file.flush()
            os.fsync(self._file.fileno())
            self._size += len(data)
            self.written += len(lines)

    def _rotate(self) -> None:
        if self._file:
            self._file.close()
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        path = self.folder / f"dlr-{stamp}.jsonl"
        n = 1
        while path.exists():  # two rotations within a microsecond
            path = self.folder / f"dlr-{stamp}-{n}.jsonl"
            n += 1
        self._file = path.open("ab")
        self._size = 0
        _fsync_folder(self.folder)  # the new file's name is durable too

    def close(self) -> None:
        with self._guard:
            if self._file:
                self._file.close()
                self._file = None
        self._lock.close()


def _trim_partial_line(path: Path) -> None:
    with path.open("r+b") as handle:
        size = handle.seek(0, os.SEEK_END)
        if size == 0:
            return
        handle.seek(max(0, size - 4096))
        tail = handle.read()
        if tail.endswith(b"\n"):
            return
        cut = tail.rfind(b"\n")
        if cut < 0 and size > 4096:  # a line longer than any we write: keep it, import reports it
            return
        handle.truncate(size - len(tail) + cut + 1)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not possible on every platform
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class _GroupCommit:
    """Callers wait for their line to be on disk; one fsync serves all who arrived."""

    def __init__(self, spool: Spool) -> None:
        self.spool = spool
        self._pending: list[tuple[bytes, asyncio.Future[None]]] = []
        self._writing = False

    async def append(self, line: bytes) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((line, future))
        if not self._writing:
            self._writing = True
            asyncio.get_running_loop().create_task(self._drain())
        await future

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    await asyncio.to_thread(self.spool.write, [line for line, _ in batch])
                except OSError as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                else:
                    for _, future in batch:
                        if not future.done():
                            future.set_result(None)
        finally:
            self._writing = False


class Receiver:
    """The ASGI app: ``GET /dlr/<token>?…`` spools a delivery report; ``GET /health``.

    With the right token every GET is spooled and answered 200: the fields
    given exactly once as ``msisdn``, ``trx_id``, ``dn_status`` (form-decoded),
    and always the raw ``query``, so a report with odd, missing or repeated
    fields is kept for the importer to judge. Wrong token → 403 (compared in
    constant time); a method other than GET → 405; a query over ``MAX_QUERY``
    bytes → 414; a request body → 413; more than ``max_requests`` callbacks
    waiting for the disk, or the spool unwritable → 503, so iSMS tries again.
    ``/health`` counts what was refused, by reason (``REFUSALS``).
    """

    def __init__(
        self,
        token: str,
        spool: str | Path | Spool,
        *,
        max_file_bytes: int = MAX_FILE_BYTES,
        max_requests: int = MAX_REQUESTS,
    ) -> None:
        if not _TOKEN.fullmatch(token or ""):
            raise ReceiverError(
                "The receiver token must be 12 to 128 letters, digits, '-' or '_' (it is "
                "part of the callback URL). Make one with: python -c 'import secrets; "
                "print(secrets.token_urlsafe(24))'"
            )
        self._token = token.encode()
        self.spool = spool if isinstance(spool, Spool) else Spool(spool, max_file_bytes)
        self._commit = _GroupCommit(self.spool)
        self.max_requests = max_requests
        self._waiting = 0  # callbacks waiting for their fsync
        self.received = 0
        self.refused: Counter[str] = Counter()

    def close(self) -> None:
        """Close the spool (an ASGI server's shutdown does this too)."""
        self.spool.close()

    def __repr__(self) -> str:  # the token is a secret: never shown
        return f"<Receiver spool={str(self.spool.folder)!r} received={self.received}>"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            status, body, headers, refusal = await self._answer(scope)
            if refusal:
                self.refused[refusal] += 1
            await _respond(send, status, body, headers)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def health(self) -> dict[str, Any]:
        """What ``GET /health`` answers: counts only, never the token."""
        return {
            "status": "ok",
            "received": self.received,
            "files": len(self.spool.files()),
            "refused": {reason: self.refused[reason] for reason in REFUSALS},
        }

    async def _answer(self, scope: Scope) -> tuple[int, str, list[tuple[bytes, bytes]], str]:
        """Status, body, headers, and why it was refused ("" when it was not)."""
        path, method = scope["path"], scope["method"]
        if path == "/health":
            if method not in ("GET", "HEAD"):
                return 405, "use GET", [(b"allow", b"GET, HEAD")], "method"
            body = json.dumps(self.health())
            return 200, body, [(b"content-type", b"application/json")], ""
        if not path.startswith("/dlr/"):
            return 404, "not found: the callback URL is /dlr/<token>", [], "not_found"
        if method != "GET":
            return 405, "iSMS delivery reports are GET requests", [(b"allow", b"GET")], "method"
        if not hmac.compare_digest(path[5:].encode("utf-8", "replace"), self._token):
            return 403, "forbidden", [], "forbidden"
        headers = dict(scope.get("headers") or [])
        if headers.get(b"content-length", b"0") != b"0" or b"transfer-encoding" in headers:
            return 413, "a delivery report has no body", [], "body"
        query = scope.get("query_string", b"")
        if len(query) > MAX_QUERY:
            return 414, f"query over {MAX_QUERY} bytes", [], "query_too_long"
        if self._waiting >= self.max_requests:
            return 503, "busy; try again later", [(b"retry-after", b"1")], "busy"
        self._waiting += 1
        try:
            await self._commit.append(_spool_line(query))
        except OSError:
            return 503, "could not write the spool; try again later", [], "spool_unwritable"
        finally:
            self._waiting -= 1
        self.received += 1
        return 200, "OK", [], ""


def _spool_line(query: bytes) -> bytes:
    """One JSON line: the fields given exactly once, the receive time, the raw query."""
    params = parse_qs(query.decode("utf-8", "replace"), keep_blank_values=True, errors="replace")
    event = {name: values[0] for name in FIELDS if len(values := params.get(name, [])) == 1}
    event["received_at"] = datetime.now(UTC).isoformat(timespec="microseconds")
    fields = json.dumps(event, separators=(",", ":"))
    # In the raw copy '&', '?' and ' ' are JSON escapes, so a reader looking for
    # "&trx_id=" in the line finds the named fields above, never the raw copy.
    raw = json.dumps(query.decode("utf-8", "backslashreplace"))
    raw = raw.replace("&", "\\u0026").replace("?", "\\u003f").replace(" ", "\\u0020")
    return f'{fields[:-1]},"query":{raw}}}\n'.encode()


async def _respond(send: Send, status: int, body: str, headers: list[tuple[bytes, bytes]]) -> None:
    data = body.encode()
    if not any(key == b"content-type" for key, _ in headers):
        headers = [(b"content-type", b"text/plain; charset=utf-8"), *headers]
    headers.append((b"content-length", str(len(data)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


def app_from_env() -> Receiver:
    """For ``uvicorn --factory``: token from ISMS_DLR_TOKEN, folder from ISMS_DLR_SPOOL."""
    token = os.environ.get("ISMS_DLR_TOKEN", "")
    folder = os.environ.get("ISMS_DLR_SPOOL", "dlr-spool")
    return Receiver(token, folder)


def _config(app: Receiver, header_timeout: float, max_connections: int | None) -> Any:
    import uvicorn

    from ._guarded_h11 import guarded_h11  # imports uvicorn: only when serving

    cap = max_connections or _connection_cap()
    return uvicorn.Config(
        app,
        http=guarded_h11(app.refused, header_timeout, cap),
        log_level="warning",
        access_log=False,  # the access log would show the token; the spool is the log
        lifespan="on",
        h11_max_incomplete_event_size=16 * 1024,  # bounded request line and headers
        limit_concurrency=None,  # it counts connections; the cap above and max_requests do better
        timeout_keep_alive=int(header_timeout) + 1,  # ours closes idle connections first
    )


def _connection_cap() -> int:
    """MAX_CONNECTIONS, or fewer if the process may not open that many files."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return MAX_CONNECTIONS
    files = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if files == resource.RLIM_INFINITY:
        return MAX_CONNECTIONS
    return max(1, min(MAX_CONNECTIONS, files - 100))  # spool files, lock, imports


def _listen(host: str, port: int) -> socket.socket:
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY only on sockets that
    # say so, and without it every answer waits ~40 ms for a delayed ACK.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        # Listening now, not when uvicorn starts: a client told the URL is queued
        # by the kernel until the server accepts, never refused.
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        raise ReceiverError(f"Cannot listen on {host}:{port}: {exc.strerror}.") from None
    return sock


def serve(
    app: Receiver,
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    announce: bool = True,
    header_timeout: float = HEADER_TIMEOUT,
    max_connections: int | None = None,
) -> None:
    """Serve ``app`` with uvicorn until SIGINT/SIGTERM (which stop it cleanly).

    The URL is printed once the socket listens. A connection must send a
    whole request head within ``header_timeout`` seconds of opening or of its
    last response; past ``max_connections`` (default ``MAX_CONNECTIONS``, or
    fewer if the open-files limit is lower) the connections waiting longest
    for a request are closed.
    """
    import uvicorn

    sock = _listen(host, port)
    if announce:
        real = sock.getsockname()[1]
        print(f"receiving delivery reports on http://{host}:{real}/dlr/<token>", flush=True)
        print(f"spooling to {app.spool.folder}; health at http://{host}:{real}/health", flush=True)
    uvicorn.Server(_config(app, header_timeout, max_connections)).run(sockets=[sock])


@contextlib.contextmanager
def running(
    app: Receiver,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    header_timeout: float = HEADER_TIMEOUT,
    max_connections: int | None = None,
) -> Iterator[str]:
    """Serve ``app`` in a background thread, as ``serve`` does; yields its callback
    URL (token included) once the server has started."""
    import uvicorn

    sock = _listen(host, port)
    server = uvicorn.Server(_config(app, header_timeout, max_connections))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        threading.Event().wait(0.01)
    try:
        if not server.started:
            raise ReceiverError("The receiver did not start; its error is logged above.")
        yield f"http://{host}:{sock.getsockname()[1]}/dlr/{app._token.decode()}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
