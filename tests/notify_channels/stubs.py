"""Real local servers that play the providers: an HTTP stub in a thread, certificates for TLS."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import socket
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class Received:
    """One request as the stub saw it (raw body bytes, header names lower-cased)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


Handler = Callable[[Received], Reply]


class StubServer:
    """An HTTP server on 127.0.0.1 and a free port, answering with `handler`."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[Received] = []
        stub = self

        class _RequestHandler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                received = Received(
                    method="POST",
                    path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length),
                )
                stub.requests.append(received)
                reply = stub.handler(received)
                if reply.delay_s:
                    threading.Event().wait(reply.delay_s)
                body = b"" if reply.json is None else json.dumps(reply.json).encode()
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    if body:
                        self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out and left; that is the point of some tests

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _RequestHandler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self) -> StubServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@contextmanager
def serve(handler: Handler) -> Iterator[StubServer]:
    with StubServer(handler) as server:
        yield server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost (its own CA), and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path = directory / "cert.pem"
    key_path = directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def aliyun_expected_signature(params: dict[str, str], secret: str) -> str:
    """The stub's own rendering of Aliyun's RPC v1 signature, written from the spec."""

    def enc(text: str) -> str:
        return quote(text, safe="-_.~")

    canonical = "&".join(f"{enc(k)}={enc(params[k])}" for k in sorted(params))
    string_to_sign = "POST&%2F&" + enc(canonical)
    digest = hmac.new((secret + "&").encode(), string_to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


class AliyunStub:
    """Plays Dysmsapi SendSms: checks the signature, refuses reused nonces, and keeps one SMS
    per OutId (a resend of an accepted OutId gets the first BizId back and sends nothing).

    `script` holds replies for the next requests that pass authentication (503, 429…);
    `slow_accept_s` accepts the next message but answers only after that long.
    """

    def __init__(self, *, key_id: str, secret: str, script: list[Reply] | None = None) -> None:
        self.key_id = key_id
        self.secret = secret
        self.script: deque[Reply] = deque(script or [])
        self.slow_accept_s = 0.0
        self.sent: dict[str, dict[str, str]] = {}
        self.biz_ids: dict[str, str] = {}
        self.nonces: set[str] = set()
        self.answers: list[str] = []
        self._lock = threading.Lock()

    def _answer(self, status: int, code: str, **extra: Any) -> Reply:
        self.answers.append(code)
        headers = extra.pop("headers", {})
        body = {"Code": code, "Message": code, "RequestId": uuid.uuid4().hex, **extra}
        return Reply(status=status, json=body, headers=headers)

    def __call__(self, request: Received) -> Reply:
        params = dict(parse_qsl(request.body.decode(), keep_blank_values=True))
        signature = params.pop("Signature", "")
        with self._lock:
            if params.get("AccessKeyId") != self.key_id:
                return self._answer(404, "InvalidAccessKeyId.NotFound")
            expected = aliyun_expected_signature(params, self.secret)
            if not hmac.compare_digest(signature, expected):
                return self._answer(400, "SignatureDoesNotMatch")
            if params["SignatureNonce"] in self.nonces:
                return self._answer(400, "SignatureNonceUsed")
            self.nonces.add(params["SignatureNonce"])
            if self.script:
                reply = self.script.popleft()
                self.answers.append(str(reply.json.get("Code") if reply.json else reply.status))
                return reply
            if not params["PhoneNumbers"].isdigit():
                return self._answer(200, "isv.MOBILE_NUMBER_ILLEGAL")
            out_id = params["OutId"]
            if out_id not in self.sent:
                self.sent[out_id] = params
                self.biz_ids[out_id] = f"biz-{len(self.sent)}"
            reply = self._answer(200, "OK", BizId=self.biz_ids[out_id])
            reply.delay_s, self.slow_accept_s = self.slow_accept_s, 0.0
            return reply


def aliyun_error(status: int, code: str, *, retry_after: str | None = None) -> Reply:
    headers = {} if retry_after is None else {"Retry-After": retry_after}
    return Reply(
        status=status,
        json={"Code": code, "Message": code, "RequestId": uuid.uuid4().hex},
        headers=headers,
    )
