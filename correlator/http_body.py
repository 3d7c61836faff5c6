"""Request bodies, read whole and decoded from their content coding here rather than by aiohttp.

aiohttp inflates a gzip or deflate body as its bytes arrive, before any size limit applies: 40
posts of 1 MiB of gzip that inflate to 1 GiB each took 1.4 GiB of memory and held the event loop
for 45 s (bench/edge.py), whatever `server.max_body_size` and `server.max_body_memory` said. So
the app turns aiohttp's decoding off (`handler_args`), and a coded body is inflated once read, in
a worker thread, never past the limit."""

from __future__ import annotations

import asyncio
import zlib

from aiohttp import web
from aiohttp.http_exceptions import ContentEncodingError

from correlator.http_errors import MAX_BODY, content_coding

_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
HANDLER_ARGS = {"auto_decompress": False}


async def read_body(request: web.Request) -> bytes:
    """The body as sent (at most the app's client_max_size), decoded; 413 (HTTPRequestEntityTooLarge)
    once the decoded body passes that limit too, RequestPayloadError when it cannot be decoded."""
    body = await request.read()
    coding = content_coding(request)
    if coding == "identity":
        return body
    return await asyncio.to_thread(inflate, body, coding, request.app[MAX_BODY])


def inflate(body: bytes, coding: str, limit: int) -> bytes:
    """`body` decoded from gzip (every member) or deflate (zlib, or raw as some clients send it)."""
    wbits = _WBITS[coding]
    if coding == "deflate" and body and body[0] & 0x0F != 8:  # no zlib header (RFC 1950): raw deflate
        wbits = -zlib.MAX_WBITS
    parts, size, rest = [], 0, body
    try:
        while rest:
            decoder = zlib.decompressobj(wbits)
            while rest and not decoder.eof:
                part = decoder.decompress(rest, limit - size + 1)
                size += len(part)
                if size > limit:
                    raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=size)
                parts.append(part)
                rest = decoder.unconsumed_tail
            if not decoder.eof:
                raise zlib.error("the stream ends early")
            rest = decoder.unused_data if coding == "gzip" else b""  # gzip: a next member
    except zlib.error as error:
        raise web.RequestPayloadError(str(error)) from ContentEncodingError(coding)
    return b"".join(parts)
