"""Robust downloads: resumable (HTTP Range), retried with backoff, timed out, checksummed, published atomically.

Nothing here logs a secret: URLs are redacted (user info and query values) before they reach a message,
and credentials come from the environment by variable name only. A bearer token goes only to the origin
(scheme, host, port) it was given for: a redirect to another origin — or from https to http — follows
without it, as `requests` does.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from humanvid.disk import DiskFull, named_disk_full, require_free

RETRY_STATUS = {408, 425, 429, 500, 502, 503, 504}


class FetchError(RuntimeError):
    """A download that failed for good; the message names the (redacted) URL and why."""


@dataclass(frozen=True)
class FetchPolicy:
    retries: int = 4
    """Attempts after the first, on connection errors, timeouts, truncation and 408/429/5xx."""
    backoff: float = 1.0
    """Seconds before the first retry, doubled each time."""
    timeout: float = 30.0
    """Seconds a connect or read may stall."""
    chunk: int = 1 << 20
    """Bytes per read."""
    auth_env: str | None = None
    """Name of an environment variable holding a bearer token (its value is never logged)."""


def redact(url: str) -> str:
    """The URL without user info and with query values blanked: safe for logs and reports."""
    parts = urllib.parse.urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    query = "&".join(f"{k}=***" for k, _ in urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the scheme's default port filled in."""
    parts = urllib.parse.urlsplit(url)
    return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())


class _ScopedCredentials(urllib.request.HTTPRedirectHandler):
    """Follows redirects; the Authorization header (kept off urllib's redirect copy) is put back only when the
    new location has the first request's origin."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        token = getattr(req, "humanvid_auth", None)
        if new is not None and token is not None and origin(newurl) == req.humanvid_origin:
            new.add_unredirected_header("Authorization", token)
            new.humanvid_auth, new.humanvid_origin = token, req.humanvid_origin
        return new


_OPENER = urllib.request.build_opener(_ScopedCredentials)


def _open(url: str, start: int, policy: FetchPolicy):
    req = urllib.request.Request(url, headers={"User-Agent": "humanvid"})
    if start:
        req.add_header("Range", f"bytes={start}-")
    if policy.auth_env:
        token = os.environ.get(policy.auth_env)
        if not token:
            raise FetchError(f"{redact(url)}: credentials expected in ${policy.auth_env}, which is unset")
        req.add_unredirected_header("Authorization", f"Bearer {token}")  # urllib copies only the others on a redirect
        req.humanvid_auth, req.humanvid_origin = f"Bearer {token}", origin(url)
    return _OPENER.open(req, timeout=policy.timeout)


def fetch(
    url: str,
    dest: Path,
    sha256: str | None = None,
    size: int | None = None,
    policy: FetchPolicy = FetchPolicy(),
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Download `url` to `dest`; bytes land in `dest.part` and are renamed onto `dest` only once whole
    (and matching `size`/`sha256` when given). A `.part` left by an interrupted run is resumed.
    An existing `dest` that matches `sha256` (or exists, when no checksum is known) is kept as is."""
    dest = Path(dest)
    if dest.is_file() and (sha256 is None or sha256_of(dest) == sha256):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    shown = redact(url)
    delay = policy.backoff
    last_error = "no attempt made"
    for attempt in range(policy.retries + 1):
        if attempt:
            time.sleep(delay)
            delay *= 2
        start = part.stat().st_size if part.exists() else 0
        try:
            with _open(url, start, policy) as resp:
                status = resp.status
                if start and status != 206:  # the server ignored Range: start over
                    start = 0
                length = resp.headers.get("Content-Length")
                total = start + int(length) if length is not None else None
                if total is not None:
                    require_free(part.parent, total - start, dest)
                with named_disk_full(dest, total), open(part, "ab" if start else "wb") as out:
                    while block := resp.read(policy.chunk):
                        out.write(block)
            got = part.stat().st_size
            if total is not None and got < total:
                last_error = f"truncated: {got} of {total} bytes"
                continue  # resume from what arrived
            if size is not None and got != size:
                last_error = f"size {got} bytes, expected {size}"
                part.unlink()
                continue
            if sha256 is not None and (digest := sha256_of(part)) != sha256:
                last_error = f"sha256 {digest}, expected {sha256}"
                part.unlink()
                continue
            os.replace(part, dest)
            if progress:
                progress(f"fetched {shown} ({got} bytes)")
            return dest
        except DiskFull:  # not a network problem: retrying cannot help, and the partial bytes hold the space
            part.unlink(missing_ok=True)
            raise
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and start:  # asked past the end: the .part is stale, start over
                part.unlink(missing_ok=True)
                last_error = "HTTP 416 on resume"
                continue
            last_error = f"HTTP {exc.code} {exc.reason}"
            if exc.code not in RETRY_STATUS:
                break
        except (urllib.error.URLError, http.client.HTTPException, TimeoutError, ConnectionError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            last_error = f"{type(exc).__name__}: {reason}"
        if progress:
            progress(f"{shown}: attempt {attempt + 1} failed ({last_error})")
    raise FetchError(f"{shown}: download failed after {attempt + 1} attempt(s): {last_error}")
