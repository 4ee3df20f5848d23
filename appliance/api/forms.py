"""The parameters of the form-style doors (Kannel's sendsms, playSMS's webservices): the raw
query string, and a POST body that is a form, as `name=value&...` bytes.

Knows: the two form media types and how a multipart/form-data body becomes one query-style
string. Must not know: how a door decodes or merges the pairs (first or last occurrence
winning, charsets): that is each adapter's own (compat.kannel_request, compat.playsms_ws).
"""

from __future__ import annotations

from sanic import Request

FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"


class UnreadableForm(ValueError):
    """A POST body of another media type, or a multipart one without a boundary."""


def query(request: Request) -> bytes:
    """The raw query string (the bytes the client sent, nothing decoded)."""
    return request.raw_url.partition(b"?")[2].partition(b"#")[0]


def sources(request: Request) -> tuple[bytes, ...]:
    """(the query string,) or (the query string, the form body as a query string), in that
    order. Raises UnreadableForm for a body neither form type carries."""
    body = request.body or b""
    if request.method != "POST" or not body:
        return (query(request),)
    content_type = request.headers.get("content-type", "")
    media = content_type.split(";", 1)[0].strip().lower()
    if media in ("", FORM):
        return query(request), body
    if media == MULTIPART:
        return query(request), multipart_as_query(body, content_type)
    raise UnreadableForm(f"a body of type {media!r} is not a form")


def multipart_as_query(body: bytes, content_type: str) -> bytes:
    """A multipart/form-data body as `name=value&...` with every value percent-encoded, so the
    one parser reads it; values stay the bytes the client sent."""
    boundary = b""
    for piece in content_type.split(";")[1:]:
        key, _, value = piece.strip().partition("=")
        if key.lower() == "boundary":
            boundary = value.strip('"').encode("latin-1")
    if not boundary:
        raise UnreadableForm("a multipart body without a boundary")
    pairs = []
    for part in body.split(b"--" + boundary)[1:]:
        if part.startswith(b"--"):
            break
        head, _, value = part.lstrip(b"\r\n").partition(b"\r\n\r\n")
        name = b""
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-disposition:"):
                for item in line.split(b";"):
                    key, _, raw = item.strip().partition(b"=")
                    if key.lower() == b"name":
                        name = raw.strip(b'"')
        if name:
            value = value[:-2] if value.endswith(b"\r\n") else value
            pairs.append(name + b"=" + b"".join(b"%%%02X" % c for c in value))
    return b"&".join(pairs)
