"""Transports layer: HTTP GET for web APIs (Open-Meteo), over `requests`.

A request/answer link, so it does not pretend to be a byte stream (transports/base.py):
`get(path, params) -> bytes` with a bounded timeout, one kept-alive session. Whatever goes
wrong leaves as a typed, retryable error the poller counts by kind: no answer in time
→ DeviceTimeout (`timeout`); refused, reset, DNS → TransportError (`disconnect`); an HTTP
error status → HttpError (`http`, with the status; 429 carries Retry-After). What the
body means is the protocol's business: must not import protocols/.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from solarstack.core.errors import DeviceTimeout, TransportError

if TYPE_CHECKING:
    import requests

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
        self._session: requests.Session | None = None

    def get(self, path: str, params: dict[str, str]) -> bytes:
        import requests

        if self._session is None:
            self._session = requests.Session()
            self._session.headers["User-Agent"] = self.user_agent
        url = self.base_url + path
        try:
            with self._session.get(url, params=params, timeout=self.timeout, stream=True) as resp:
                body = resp.raw.read(MAX_BODY + 1, decode_content=True)
                status = resp.status_code
                retry_after = resp.headers.get("Retry-After")
        except requests.Timeout:
            self.close()
            raise DeviceTimeout(f"{self.base_url}: no answer within {self.timeout:g} s") from None
        except (requests.RequestException, OSError) as exc:
            self.close()
            raise TransportError(f"{self.base_url}: {type(exc).__name__}: {str(exc)[:160]}") from None
        if len(body) > MAX_BODY:
            raise TransportError(f"{self.base_url}: answer longer than {MAX_BODY} bytes")
        if status >= 400:
            wait = float(retry_after) if retry_after and retry_after.isdigit() else None
            reason = body[:120].decode("utf-8", "replace").strip()
            raise HttpError(f"{self.base_url}: HTTP {status}" + (f": {reason}" if reason else ""), status, wait)
        return bytes(body)

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None
