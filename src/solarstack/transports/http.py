"""Transports layer: HTTP GET for web APIs (Open-Meteo), over `urllib3`.

A request/answer link, so it does not pretend to be a byte stream (transports/base.py):
`get(path, params) -> bytes` with a bounded timeout, one kept-alive connection pool.
Whatever goes wrong leaves as a typed, retryable error the poller counts by kind: no
answer in time → DeviceTimeout (`timeout`); refused, reset, DNS → TransportError
(`disconnect`); an HTTP error status → HttpError (`http`, with the status; 429 carries
Retry-After). What the body means is the protocol's business: must not import protocols/.

Why urllib3 and not requests (which is built on it): a reader's budget is 40 MB, and
importing requests costs 5.6 MB of it (charset detection, cookies, IDNA tables), urllib3
1.5 MB; a GET with query parameters, a timeout and a pool is all we need of either. Retries
are the poller's (its backoff and circuit breaker), so urllib3's own are off.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from solarstack.core.errors import DeviceTimeout, TransportError

if TYPE_CHECKING:
    import urllib3

#: Longest body we read: an Open-Meteo answer for 3 days and a few variables is ~20 kB.
MAX_BODY = 2_000_000


class HttpError(TransportError):
    """The server answered with an error status."""

    kind = "http"

    def __init__(self, message: str, status: int, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class HttpTransport:
    def __init__(self, base_url: str, *, timeout: float = 10.0, user_agent: str = "solarstack") -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.user_agent = user_agent
        self._pool: urllib3.PoolManager | None = None

    def get(self, path: str, params: dict[str, str]) -> bytes:
        import urllib3  # on first use: `solarstack decode` and the tests of the codec never need it

        if self._pool is None:
            self._pool = urllib3.PoolManager(
                num_pools=1,
                headers={"User-Agent": self.user_agent},
                timeout=urllib3.Timeout(total=self.timeout),
                retries=False,
            )
        url = self.base_url + path
        try:
            resp = self._pool.request("GET", url, fields=params, preload_content=False)
            try:
                body = resp.read(MAX_BODY + 1, decode_content=True)
                status = resp.status
                retry_after = resp.headers.get("Retry-After")
            finally:
                resp.release_conn()
        except (urllib3.exceptions.TimeoutError, TimeoutError):
            self.close()
            raise DeviceTimeout(f"{self.base_url}: no answer within {self.timeout:g} s") from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            self.close()
            raise TransportError(f"{self.base_url}: {_reason(exc)}") from None
        if len(body) > MAX_BODY:
            raise TransportError(f"{self.base_url}: answer longer than {MAX_BODY} bytes")
        if status >= 400:
            wait = float(retry_after) if retry_after and retry_after.isdigit() else None
            reason = body[:120].decode("utf-8", "replace").strip()
            raise HttpError(f"{self.base_url}: HTTP {status}" + (f": {reason}" if reason else ""), status, wait)
        return bytes(body)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.clear()
            self._pool = None


def _reason(exc: BaseException) -> str:
    """The innermost cause urllib3 wrapped (a refused connection, not 'Max retries exceeded')."""
    inner = getattr(exc, "reason", None) or exc
    return f"{type(inner).__name__}: {str(inner)[:160]}"
