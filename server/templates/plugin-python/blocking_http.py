"""A small blocking HTTP client over wasi:http, for the msghub plugin host.

Plain calls that wait for the answer: a plugin sends one or two requests per call, so it
needs no event loop (asyncio would add to the component's size and start-up time).
Failures come back as `HttpError`, whose `kind` says whether the host's sandbox refused
the request, it timed out, or the network failed.
"""

from dataclasses import dataclass
from urllib.parse import urlsplit

from componentize_py_types import Err
from wit_world.imports import outgoing_handler, types
from wit_world.imports.streams import StreamError_Closed
from wit_world.imports.types import (
    ErrorCode_ConnectionReadTimeout,
    ErrorCode_ConnectionTimeout,
    ErrorCode_DestinationIpProhibited,
    ErrorCode_HttpRequestDenied,
    ErrorCode_HttpResponseBodySize,
    ErrorCode_HttpResponseTimeout,
    ErrorCode_InternalError,
    Fields,
    OutgoingBody,
    OutgoingRequest,
)

# The most `blocking-write-and-flush` accepts in one call, and one read's size.
WRITE_CHUNK = 4096
READ_CHUNK = 64 * 1024


class HttpError(Exception):
    """A request that got no answer. `kind` is "denied" (the host's sandbox refused it),
    "timeout", "invalid" (a malformed URL or header) or "transport" (anything else)."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


@dataclass
class Response:
    """An answer: the status, the headers (names in lowercase) and the whole body."""

    status: int
    headers: list[tuple[str, bytes]]
    body: bytes

    def header(self, name: str) -> str | None:
        """The first value of header `name`, as text."""
        for key, value in self.headers:
            if key == name.lower():
                return value.decode("utf-8", "replace")
        return None


def post(url: str, body: bytes, headers: dict[str, str]) -> Response:
    """POSTs `body` to `url` and waits for the whole answer."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise HttpError("invalid", f"invalid URL '{url}': it must start with https:// or http://")
    entries = [(name.lower(), value.encode()) for name, value in headers.items()]
    # Say the length: many webhook endpoints refuse chunked requests.
    entries.append(("content-length", str(len(body)).encode()))
    try:
        request = OutgoingRequest(Fields.from_list(entries))
        request.set_method(types.Method_Post())
        request.set_scheme(types.Scheme_Https() if parts.scheme == "https" else types.Scheme_Http())
        request.set_authority(parts.netloc)
        request.set_path_with_query((parts.path or "/") + (f"?{parts.query}" if parts.query else ""))
    except Err as e:
        raise HttpError("invalid", f"invalid request to '{url}': {e.value}") from None
    outgoing = request.body()
    try:
        future = outgoing_handler.handle(request, None)
    except Err as e:
        raise _error_from_code(e.value) from None
    # Write the body after handing the request over: when the host refuses it, the write
    # fails and the real reason arrives on the response future.
    _write_all(outgoing, body)
    future.subscribe().block()
    answer = future.get()
    if answer is None or isinstance(answer, Err) or isinstance(answer.value, Err):
        code = answer.value.value if answer is not None and not isinstance(answer, Err) else None
        raise _error_from_code(code) from None
    response = answer.value.value
    status, response_headers = response.status(), response.headers().entries()
    return Response(status, response_headers, _read_all(response.consume()))


def _write_all(outgoing: OutgoingBody, body: bytes) -> None:
    stream = outgoing.write()
    try:
        for start in range(0, len(body), WRITE_CHUNK):
            stream.blocking_write_and_flush(body[start : start + WRITE_CHUNK])
    except Err:
        return  # the request failed; the response future says why
    finally:
        stream.__exit__(None, None, None)
    try:
        OutgoingBody.finish(outgoing, None)
    except Err:
        pass


def _read_all(incoming) -> bytes:
    stream = incoming.stream()
    chunks = []
    while True:
        try:
            chunks.append(stream.blocking_read(READ_CHUNK))
        except Err as e:
            if isinstance(e.value, StreamError_Closed):
                break
            raise HttpError("transport", "reading the answer failed") from None
    stream.__exit__(None, None, None)
    return b"".join(chunks)


def _error_from_code(code) -> HttpError:
    if isinstance(code, ErrorCode_HttpRequestDenied):
        return HttpError(
            "denied",
            "the host refused the request: the target is not a declared host, or its address "
            "is not allowed (loopback and private ranges need the operator's MSGHUB_ALLOW_NETWORKS)",
        )
    if isinstance(code, ErrorCode_DestinationIpProhibited):
        return HttpError("denied", "the host refused the target's address")
    if isinstance(code, (ErrorCode_ConnectionTimeout, ErrorCode_ConnectionReadTimeout, ErrorCode_HttpResponseTimeout)):
        return HttpError("timeout", "the target did not answer in time")
    if isinstance(code, ErrorCode_HttpResponseBodySize):
        return HttpError("denied", "the answer's body exceeds the host's cap")
    if isinstance(code, ErrorCode_InternalError) and code.value:
        return HttpError("transport", f"the host failed: {code.value}")
    name = type(code).__name__.removeprefix("ErrorCode_") if code is not None else "no answer"
    return HttpError("transport", f"the request failed: {name}")
