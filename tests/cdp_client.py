"""A minimal Chrome DevTools Protocol client over a standard-library WebSocket.

Used by ``test_browser.py`` to drive headless Chromium without Playwright or Selenium (no
browser download, no extra Python packages): launch Chromium with a DevTools port, open a
page target, send CDP commands and collect the events (console messages, exceptions).
The WebSocket part implements just what CDP needs from RFC 6455: the HTTP upgrade, masked
client text frames, unmasked server frames of any length, fragmentation, ping/pong, close.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

OPCODE_CONTINUATION, OPCODE_TEXT, OPCODE_BINARY, OPCODE_CLOSE, OPCODE_PING, OPCODE_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--window-size=1280,900",
)


def find_chromium() -> str | None:
    """``$CHROMIUM``, else ``chromium``/``chromium-browser`` on PATH, else /usr/bin/chromium."""
    candidates = [os.environ.get("CHROMIUM"), shutil.which("chromium"), shutil.which("chromium-browser"), "/usr/bin/chromium"]
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


def encode_frame(payload: bytes, opcode: int = OPCODE_TEXT, mask_key: bytes | None = None) -> bytes:
    """One final client frame; clients must mask (RFC 6455 §5.3)."""
    mask_key = os.urandom(4) if mask_key is None else mask_key
    header = bytes([0x80 | opcode])
    length = len(payload)
    if length < 126:
        header += bytes([0x80 | length])
    elif length < 1 << 16:
        header += bytes([0x80 | 126]) + struct.pack("!H", length)
    else:
        header += bytes([0x80 | 127]) + struct.pack("!Q", length)
    masked = bytes(b ^ mask_key[i % 4] for i, b in enumerate(payload))
    return header + mask_key + masked


class WebSocket:
    """A blocking WebSocket client connection (``ws://`` only: DevTools listens on localhost)."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        parsed = urlparse(url)
        if parsed.scheme != "ws":
            raise ValueError(f"url must be ws://..., got {url!r}")
        self.sock = socket.create_connection((parsed.hostname, parsed.port or 80), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {parsed.path or '/'} HTTP/1.1\r\nHost: {parsed.hostname}:{parsed.port}\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        )
        self.sock.sendall(request.encode())
        response = b""
        while b"\r\n\r\n" not in response:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("connection closed during the WebSocket handshake")
            response += chunk
        head, self.buffer = response.split(b"\r\n\r\n", 1)
        status = head.split(b"\r\n", 1)[0]
        if b" 101 " not in status + b" ":
            raise ConnectionError(f"WebSocket upgrade refused: {status.decode(errors='replace')}")

    def _read_exact(self, n: int) -> bytes:
        while len(self.buffer) < n:
            chunk = self.sock.recv(max(65536, n - len(self.buffer)))
            if not chunk:
                raise ConnectionError("WebSocket closed by the peer")
            self.buffer += chunk
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def _read_frame(self) -> tuple[bool, int, bytes]:
        first, second = self._read_exact(2)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self._read_exact(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self._read_exact(8))
        mask_key = self._read_exact(4) if second & 0x80 else None
        payload = self._read_exact(length)
        if mask_key:
            payload = bytes(b ^ mask_key[i % 4] for i, b in enumerate(payload))
        return bool(first & 0x80), first & 0x0F, payload

    def send_text(self, text: str) -> None:
        self.sock.sendall(encode_frame(text.encode("utf-8")))

    def receive_text(self) -> str:
        """The next complete text message; answers pings, raises on close."""
        message, message_opcode = b"", None
        while True:
            final, opcode, payload = self._read_frame()
            if opcode == OPCODE_PING:
                self.sock.sendall(encode_frame(payload, OPCODE_PONG))
                continue
            if opcode == OPCODE_PONG:
                continue
            if opcode == OPCODE_CLOSE:
                raise ConnectionError("WebSocket closed by the peer")
            if opcode != OPCODE_CONTINUATION:
                message_opcode = opcode
            message += payload
            if final:
                if message_opcode != OPCODE_TEXT:
                    raise ConnectionError(f"expected a text message, got opcode {message_opcode}")
                return message.decode("utf-8")

    def close(self) -> None:
        try:
            self.sock.sendall(encode_frame(b"", OPCODE_CLOSE))
        except OSError:
            pass
        self.sock.close()


class CDPError(RuntimeError):
    pass


class Page:
    """One browser tab over CDP.

    ``call`` sends a command and returns its result; ``send`` sends one without waiting.
    Events go to ``handlers[method]`` when one is registered, else accumulate in ``events``.
    """

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws
        self.next_id = 0
        self.events: list[dict] = []
        self.handlers: dict[str, Callable[[dict], None]] = {}
        self.send_errors: list[dict] = []

    def send(self, method: str, **params: object) -> int:
        self.next_id += 1
        self.ws.send_text(json.dumps({"id": self.next_id, "method": method, "params": params}))
        return self.next_id

    def _dispatch(self, message: dict) -> None:
        if "method" in message:
            handler = self.handlers.get(message["method"])
            if handler is not None:
                handler(message)
            else:
                self.events.append(message)
        elif "error" in message:
            self.send_errors.append(message)  # the answer to a ``send`` that failed

    def _receive(self, timeout: float | None) -> dict | None:
        """The next message, or None when ``timeout`` seconds pass without one."""
        self.ws.sock.settimeout(max(0.01, timeout) if timeout is not None else None)
        try:
            return json.loads(self.ws.receive_text())
        except socket.timeout:
            return None
        finally:
            self.ws.sock.settimeout(120.0)

    def call(self, method: str, timeout: float = 300.0, **params: object) -> dict:
        message_id = self.send(method, **params)
        deadline = time.monotonic() + timeout
        while True:
            message = self._receive(deadline - time.monotonic())
            if message is None:
                raise TimeoutError(f"{method}: no answer within {timeout} s")
            if message.get("id") == message_id:
                if "error" in message:
                    raise CDPError(f"{method}: {message['error']}")
                return message.get("result", {})
            self._dispatch(message)

    def pump(self, seconds: float) -> None:
        """Handle incoming events for ``seconds``."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            message = self._receive(left)
            if message is not None:
                self._dispatch(message)

    def wait_for_event(self, method: str, timeout: float = 60.0) -> dict:
        """Block until an event named ``method`` arrives (or is already queued); it is consumed."""
        deadline = time.monotonic() + timeout
        while True:
            for index, event in enumerate(self.events):
                if event["method"] == method:
                    return self.events.pop(index)
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {method} within {timeout} s")
            message = self._receive(left)
            if message is not None:
                self._dispatch(message)

    def evaluate(self, expression: str, timeout_ms: int = 30_000) -> object:
        """Evaluate JavaScript (promises awaited) and return its JSON value; page exceptions raise."""
        result = self.call("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True, timeout=timeout_ms)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise CDPError(f"JavaScript error: {details.get('exception', {}).get('description', details)}")
        return result["result"].get("value")

    def navigate(self, url: str, timeout: float = 120.0) -> None:
        self.events = [e for e in self.events if e["method"] != "Page.loadEventFired"]
        result = self.call("Page.navigate", url=url)
        if result.get("errorText"):
            raise CDPError(f"navigating to {url}: {result['errorText']}")
        self.wait_for_event("Page.loadEventFired", timeout)

    def screenshot(self, path: Path, full_page: bool = False) -> None:
        result = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=full_page)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(result["data"]))


class Chromium:
    """Headless Chromium with a DevTools port, in a fresh profile; a context manager."""

    def __init__(self, executable: str, startup_timeout: float = 60.0) -> None:
        self.executable = executable
        self.startup_timeout = startup_timeout

    def __enter__(self) -> Chromium:
        self.profile = tempfile.mkdtemp(prefix="chromium-profile-")
        self.pages: list[Page] = []
        self.process = subprocess.Popen(
            [self.executable, *CHROMIUM_FLAGS, f"--user-data-dir={self.profile}", "--remote-debugging-port=0", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: __exit__ stops the helpers too
        )
        port_file = Path(self.profile) / "DevToolsActivePort"  # Chromium writes its port here
        deadline = time.monotonic() + self.startup_timeout
        while not (port_file.exists() and port_file.read_text().strip()):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise RuntimeError(f"Chromium did not start (exit status {self.process.returncode})")
            time.sleep(0.1)
        self.port = int(port_file.read_text().splitlines()[0])
        return self

    def new_page(self) -> Page:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        connection.request("PUT", "/json/new?about:blank")
        target = json.loads(connection.getresponse().read())
        connection.close()
        page = Page(WebSocket(target["webSocketDebuggerUrl"]))
        self.pages.append(page)
        for domain in ("Page.enable", "Runtime.enable", "Log.enable"):
            page.call(domain)
        page.call("Emulation.setDeviceMetricsOverride", width=1280, height=900, deviceScaleFactor=1, mobile=False)
        return page

    def __exit__(self, *exc: object) -> None:
        for page in self.pages:
            page.ws.close()
        self._signal_group(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._signal_group(signal.SIGKILL)
            self.process.wait()
        # Chromium's helper processes (renderer, crashpad) can still be writing into the
        # profile for a moment after the browser exits: retry, then leave stragglers to /tmp.
        for _ in range(20):
            try:
                shutil.rmtree(self.profile)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.25)
        else:
            shutil.rmtree(self.profile, ignore_errors=True)

    def _signal_group(self, signum: int) -> None:
        try:
            os.killpg(self.process.pid, signum)
        except ProcessLookupError:
            pass
