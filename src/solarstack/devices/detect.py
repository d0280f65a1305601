"""Devices layer: which PI-family protocol an inverter speaks, found by read-only probes.

`auto+serial:///dev/ttyUSB0` (any transport) and `solarstack detect <transport-url>` use
this. Each family has one probe, its own protocol-id query, built and read by its own codec
(protocols/pi30/, pi18/, pi17/, pi16/):

    family  sent                 a unit of that family answers
    pi30    QPI + CRC + CR       (PI30 + CRC + CR
    pi18    ^P005PI + CRC + CR   ^D00518 + CRC + CR
    pi17    ^P003PI + CR         ^D00517 + plain CRC + CR
    pi16    QPI + CR             (PI16 [+ CRC] + CR

Safety: only these four frames are ever written — read-only queries, no setter, no
argument — each waited for a short time (`PROBE_TIMEOUT`), one at a time.

Order, and why a verdict needs a protocol id: families answer each other's probes. A PI18
unit NAKs `^P003PI` with `^0` and QPI with `^0`; a PI30 unit NAKs `^P005PI` with `(NAK`;
some PI30 firmware answers QPI without a CRC too. So an answer counts only when a codec
reads it as a protocol-id reply with a valid frame (a CRC where the family has one) and
the id it names is one we know: a NAK, an echo, garbage or silence is evidence, never a
verdict. The id settles it even when it answers another family's probe (a PI16 unit that
answers the CRC'd QPI with `(PI16`). PI30 goes first (the most common family, and its
probe has a CRC), then PI18 (CRC'd) before PI17 (same `^` framing, no CRC), then PI16 last
(plain QPI, which some PI30 units also answer — they have said so to the first probe).
Probing stops at the first id.

PI41 (LV5048 class) has no probe of its own: its units answer the PI30 probe (QPI with a
CRC) with `(PI41` + CRC, which the PI30 codec reads and FAMILY_OF_ID names `pi41`
(`SHARED_PROBE`: verifying pi41 asks that same frame). Not settled here: the PI30 variants
(MAX, REVO, MST …) answer QPI with `PI30` like any PI30 unit; a unit naming an id we do not
know (`PI34`, an MPPT charge controller) gets a clear refusal naming that id, not a guess.

The verdict for an `auto+` URL is cached under STATE_DIR, one file per link (`resolve`);
`verify` asks one family's probe on an open link, so a reader can check cheaply on
reconnect that the cached family still answers, and `resolve(…, refresh=True)` probes
again. It must not name a service or print: the CLI renders `Verdict.text()` / `as_dict()`.
"""

from __future__ import annotations

import json
import os
import re
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, NamedTuple

from solarstack.core.device_url import DeviceURL, parse_device_url, slug
from solarstack.core.errors import ConfigError, NakError, ProtocolError, TransportError
from solarstack.devices.pifamily import MAX_FRAME, logger, one_line

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from pathlib import Path

    from solarstack.core.fields import Value
    from solarstack.devices.base import Device
    from solarstack.transports.base import Transport

#: The protocol name of an URL whose family is found by probing.
AUTO = "auto"
#: Seconds each probe waits for its answer unless told (`?timeout=`, `--timeout`): a PI unit
#: answers QPI within ~0.3 s even at 2400 baud; four silent probes then cost 6 s.
PROBE_TIMEOUT = 1.5
#: Folder under STATE_DIR that holds one verdict file per link.
CACHE_DIR = "detect"
#: URL options that say which link it is (a hidraw node found by ids has no address).
LINK_OPTIONS = ("vid", "pid")


class DetectError(ProtocolError):
    """No family could be settled on (silent, unknown or unreadable); retryable."""

    kind = "detect"


class Probe(NamedTuple):
    """One family's protocol-id query and how its answer is read."""

    family: str
    command: str
    request: bytes
    frame_end: Callable[[bytes], int | None]
    decode: Callable[[str, bytes], dict[str, Value]]


class Evidence(NamedTuple):
    """One probe: what was sent, what came back and how it was read."""

    family: str  # whose probe it was
    command: str
    sent: bytes
    received: bytes
    read: str  # how it was read, for people
    names: str | None = None  # the protocol id an answer named ("PI30", "18", "PI41")
    found: str | None = None  # the family that id means, if we know it
    answered: bool = False  # any byte came back
    link_failed: bool = False  # the link, not the device, failed (cannot connect, reset)
    written: bool = True  # the probe reached the link (False: it could not be opened or written)

    def as_dict(self) -> dict[str, object]:
        return {
            "probe": self.family,
            "command": self.command,
            "sent": self.sent.hex(" "),
            "received": self.received.hex(" "),
            "read": self.read,
            "protocol_id": self.names,
            "family": self.found,
        }


class Verdict(NamedTuple):
    """The family found (None: none) and why, with every probe's evidence."""

    family: str | None
    reason: str
    evidence: tuple[Evidence, ...]

    def as_dict(self) -> dict[str, object]:
        return {"family": self.family, "reason": self.reason, "evidence": [e.as_dict() for e in self.evidence]}

    def text(self) -> str:
        lines = []
        for e in self.evidence:
            lines.append(f"probe {e.family} {e.command}")
            lines.append(f"  sent     {e.sent.hex(' ')}  {shown_bytes(e.sent)}")
            lines.append(f"  received {e.received.hex(' ') or '-'}  {shown_bytes(e.received) if e.received else ''}")
            lines.append(f"  read     {e.read}")
        lines.append(f"verdict: {self.family or 'none'} ({self.reason})")
        return "\n".join(lines)


def shown_bytes(data: bytes) -> str:
    """Bytes as text a person can read: printable ASCII as is, the rest as \\xNN, \\r."""
    return repr(data)[2:-1]


def probes() -> tuple[Probe, ...]:
    """The four probes in the order they are sent (see the module doc for why)."""
    from solarstack.protocols import pi16, pi17, pi18, pi30

    return (
        Probe("pi30", "QPI", pi30.encode("QPI"), pi30.frame_end, pi30.decode),
        Probe("pi18", "PI", pi18.encode("PI"), pi18.frame_end, pi18.decode),
        Probe("pi17", "PI", pi17.encode("PI"), pi17.frame_end, pi17.decode),
        Probe("pi16", "QPI", pi16.encode("QPI"), pi16.frame_end, pi16.decode),
    )


#: Protocol id (as each codec's id query decodes it) -> the family it names.
FAMILY_OF_ID: Mapping[str, str] = {"PI30": "pi30", "18": "pi18", "17": "pi17", "PI16": "pi16", "PI41": "pi41"}
#: Families without a probe of their own -> the family whose probe they answer with their id.
SHARED_PROBE: Mapping[str, str] = {"pi41": "pi30"}
FAMILIES = tuple(sorted(set(FAMILY_OF_ID.values())))
#: What a protocol id looks like (`PI30`, `PI41`; `18` in `^D` framing). PI16's codec reads
#: any `(`-frame whose last two bytes are printable as text (its CRC is optional): a damaged
#: `(NAK` reads as `OAKss`, which is no id at all, known or not.
ID_SHAPE = re.compile(r"(?:PI)?[0-9]{2}")


def read_answer(frame: bytes, own: Probe, all_probes: tuple[Probe, ...]) -> tuple[str, str | None]:
    """(how `frame` was read, the protocol id it names or None).

    The probe's own codec reads it first; failing that, each other family's codec, so a
    unit answering another family's probe with its own id is still recognised (the frame
    must pass that codec's checks, CRC included).
    """
    own_error = ""
    nak_as: list[str] = []
    for p in (own, *(p for p in all_probes if p is not own)):
        try:
            values = p.decode(p.command, frame)
        except NakError:
            nak_as.append(p.family)
            continue
        except ProtocolError as exc:
            if p is own:
                own_error = one_line(exc)
            continue
        if p is own and not own_error:
            own_error = f"{p.family} reads it as {values}"
        named = values.get("protocol_id")
        if isinstance(named, str) and ID_SHAPE.fullmatch(named):
            return f"read as a {p.family} {p.command} reply: protocol id {named!r}", named
    if nak_as:
        return f"refused: NAK (in {'/'.join(nak_as)} framing)", None
    return f"not a protocol id: {own_error}", None


def ask(transport: Transport, probe: Probe, all_probes: tuple[Probe, ...], timeout: float) -> Evidence:
    """Send one probe and read its answer up to the family's own end of frame.

    Not PiDevice.exchange: evidence needs the bytes that came back whatever happened (a
    part of a frame at the deadline, an overlong run of noise), not only a good frame.
    """

    def evidence(
        received: bytes, read: str, names: str | None = None, *, link_failed: bool = False, written: bool = True
    ) -> Evidence:
        found = FAMILY_OF_ID.get(names) if names else None
        return Evidence(
            probe.family,
            probe.command,
            probe.request,
            received,
            read,
            names,
            found,
            bool(received),
            link_failed,
            written,
        )

    try:
        transport.open()
        transport.reset_input()  # a late answer to anything earlier is not this one's
        transport.write(probe.request)
    except TransportError as exc:
        transport.close()
        return evidence(b"", one_line(exc), link_failed=True, written=False)
    deadline = time.monotonic() + timeout
    buf = b""
    while (end := probe.frame_end(buf)) is None:
        left = deadline - time.monotonic()
        if len(buf) > MAX_FRAME or left <= 0:
            # Closed, so an answer that comes late is never read as the next probe's.
            transport.close()
            if len(buf) > MAX_FRAME:
                return evidence(buf, f"garbage: {len(buf)} bytes and no end of frame")
            if buf:
                return evidence(buf, f"no end of frame within {timeout:g} s ({len(buf)} bytes)")
            return evidence(b"", f"no answer within {timeout:g} s")
        try:
            # USB-HID zero padding before a frame is not frame (as in PiDevice.exchange).
            buf = (buf + transport.read(left)).lstrip(b"\x00")
        except TransportError as exc:
            transport.close()
            return evidence(buf, f"link failed: {one_line(exc)}", link_failed=True)
    read, names = read_answer(buf[:end], probe, all_probes)
    return evidence(buf[:end], read, names)


def probe_link(transport: Transport, *, timeout: float = PROBE_TIMEOUT) -> Verdict:
    """Run the probes in order on `transport` until one answer names a family (see module doc).

    Never raises for what the device does: the verdict says why nothing was settled.
    """
    log = logger(__name__)
    all_probes = probes()
    seen: list[Evidence] = []
    for p in all_probes:
        e = ask(transport, p, all_probes, timeout)
        seen.append(e)
        log.info("detect %s: sent %r, got %r: %s", p.family, e.sent, e.received, e.read)
        if e.found is not None:
            why = f"answered the {p.family} probe {p.command} with protocol id {e.names!r}"
            log.info("detect: %s: %s", e.found, why)
            return Verdict(e.found, why, tuple(seen))
        if e.names is not None:
            why = (
                f"the device names protocol {e.names!r}, which detection does not settle on"
                f" (it knows {', '.join(FAMILIES)}); give the protocol in the URL if solarstack supports it"
            )
            log.warning("detect: %s", why)
            return Verdict(None, why, tuple(seen))
        if not e.written:  # the link cannot be opened: the next probes would only wait for it too
            break
    verdict = Verdict(None, _no_family(seen, timeout), tuple(seen))
    log.warning("detect: %s", verdict.reason)
    return verdict


def _no_family(seen: list[Evidence], timeout: float) -> str:
    if not any(e.answered for e in seen):
        if all(e.link_failed for e in seen):
            return f"cannot reach the device: {seen[0].read}"
        return (
            f"the device is silent: no byte came back to any of {len(seen)} read-only probes within"
            f" {timeout:g} s each; check the cable, the port, the baud rate (PI inverters: 2400)"
            " and that the inverter is on"
        )
    answered = sum(e.answered for e in seen)
    return (
        f"unknown device: {answered} of {len(seen)} probes answered, none with a protocol id"
        f" of {', '.join(FAMILIES)} (first: {next(e.read for e in seen if e.answered)})"
    )


def verify(transport: Transport, family: str, *, timeout: float = PROBE_TIMEOUT) -> bool:
    """Does `family`'s own probe (pi41: the PI30 probe, SHARED_PROBE) still get its protocol
    id on this link? One short exchange: what a reader asks on reconnect before trusting a
    cached verdict."""
    asked = SHARED_PROBE.get(family, family)
    own = next((p for p in probes() if p.family == asked), None)
    if own is None or family not in FAMILIES:
        raise ConfigError(f"cannot verify protocol {family!r}: detection knows {', '.join(FAMILIES)}")
    e = ask(transport, own, probes(), timeout)
    logger(__name__).info("detect: verify %s: got %r: %s", family, e.received, e.read)
    return e.found == family


# -- URLs ----------------------------------------------------------------------------------


def transport_url(text: str) -> DeviceURL:
    """`serial:///dev/ttyUSB0`, `tcp://host:port` or `auto+…` as an `auto+` device URL."""
    raw = text.strip()
    scheme = raw.partition("://")[0]
    if "://" in raw and "+" not in scheme:
        raw = f"{AUTO}+{raw}"
    url = parse_device_url(raw)
    if url.protocol != AUTO:
        raise ConfigError(f"{text!r}: give a transport URL such as serial:///dev/ttyUSB0 or tcp://host:port")
    return url


def concrete(url: DeviceURL, family: str) -> DeviceURL:
    """`auto+tcp://h:p?x=1` -> `pi18+tcp://h:p?x=1&name=<the auto URL's name>`: the device id
    stays the same whichever family answers (its MQTT topics and HA entities with it)."""
    options = dict(url.options)
    options.setdefault("name", url.name)
    raw = family + url.raw[len(url.protocol) :] if url.raw.lower().startswith(url.protocol) else url.raw
    if "name" not in url.options:
        raw += ("&" if "?" in raw else "?") + f"name={options['name']}"
    return url._replace(protocol=family, options=options, raw=raw)


def link_key(url: DeviceURL) -> str:
    """The cache file's name for a link: transport, address and the ids that find it."""
    ids = "_".join(f"{k}{url.options[k]}" for k in LINK_OPTIONS if k in url.options)
    return slug(f"{url.transport}_{url.address}_{ids}") or url.transport


def cache_path(state_dir: Path, url: DeviceURL) -> Path:
    return state_dir / CACHE_DIR / f"{link_key(url)}.json"


def cached(state_dir: Path, url: DeviceURL) -> str | None:
    """The family cached for this link, or None (none, unreadable, or for another link)."""
    path = cache_path(state_dir, url)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        logger(__name__).warning("detect: ignoring %s (%s); probing again", path, exc)
        return None
    family = data.get("family") if isinstance(data, dict) else None
    if family not in FAMILIES or data.get("link") != link_key(url):
        logger(__name__).warning("detect: ignoring %s (no family for this link); probing again", path)
        return None
    return str(family)


def save(state_dir: Path, url: DeviceURL, verdict: Verdict) -> Path | None:
    """Write the verdict for this link atomically (temp file, fsync, rename); None (and a
    warning) if STATE_DIR will not take it."""
    path = cache_path(state_dir, url)
    body = {
        "link": link_key(url),
        "family": verdict.family,
        "reason": verdict.reason,
        "detected": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "evidence": [e.as_dict() for e in verdict.evidence],
    }
    tmp = path.with_suffix(".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tmp.open("w") as f:
            json.dump(body, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:  # the verdict stands for this run; the next start probes again
        logger(__name__).warning("detect: cannot keep the verdict in %s (%s)", path, exc)
        return None
    return path


def detect(url: DeviceURL, *, timeout: float | None = None) -> Verdict:
    """Probe the link `url` names (any transport; its protocol is ignored), then close it."""
    from solarstack.transports.factory import open_transport

    if timeout is not None and not timeout > 0:
        raise ConfigError(f"timeout {timeout:g} s: give a positive number of seconds, e.g. 1.5")
    transport = open_transport(url)  # ConfigError for a bad transport URL, before any I/O
    try:
        return probe_link(transport, timeout=timeout or url.float_option("timeout", PROBE_TIMEOUT))
    finally:
        transport.close()


def resolve(
    url: DeviceURL, state_dir: Path | None, *, timeout: float | None = None, refresh: bool = False
) -> DeviceURL:
    """The concrete device URL for an `auto+` URL (any other URL is returned as is).

    With a `state_dir`, a cached verdict for the link is used and a new one is written;
    `refresh` probes again whatever is cached. DetectError (one line) if nothing settles.
    """
    if url.protocol != AUTO:
        return url
    if state_dir is not None and not refresh:
        family = cached(state_dir, url)
        if family is not None:
            logger(__name__).info("detect: %s is %s (cached in %s)", url.raw, family, cache_path(state_dir, url))
            return concrete(url, family)
    verdict = detect(url, timeout=timeout)
    if verdict.family is None:
        raise DetectError(f"device URL {url.raw!r}: {verdict.reason}")
    if state_dir is not None:
        save(state_dir, url, verdict)
    return concrete(url, verdict.family)


def recheck(
    url: DeviceURL, state_dir: Path, transport: Transport, family: str, *, timeout: float = PROBE_TIMEOUT
) -> str:
    """On reconnect: the family on this link now. `verify` first (one exchange); only if the
    cached family no longer names itself, every probe again on the same link, and the cache
    rewritten. DetectError if nothing settles (the cache is left as it was)."""
    if verify(transport, family, timeout=timeout):
        return family
    verdict = probe_link(transport, timeout=timeout)
    if verdict.family is None:
        raise DetectError(f"device URL {url.raw!r}: {family} stopped answering and {verdict.reason}")
    save(state_dir, url, verdict)
    if verdict.family != family:
        logger(__name__).warning("detect: %s was %s, now answers as %s", url.raw, family, verdict.family)
    return verdict.family


def check(url: DeviceURL) -> None:
    """ConfigError (one line) for an `auto+` URL that cannot work — no I/O, nothing probed:
    what a settings validator asks instead of opening the device."""
    from solarstack.transports.factory import open_transport

    url.float_option("timeout", PROBE_TIMEOUT)
    open_transport(url).close()


def open_device(
    url: DeviceURL, *, timeout: float | None = None, allow_destructive: bool = False, state_dir: Path | None = None
) -> Device:
    """The device of the family found on the link (the registry's signature, plus the
    STATE_DIR a reader caches verdicts in; without one every call probes). With a STATE_DIR
    the link re-checks the verdict on every reconnect (`Rechecked`)."""
    from solarstack.devices import registry
    from solarstack.devices.pifamily import PiDevice

    concrete_url = resolve(url, state_dir, timeout=timeout)
    device = registry.open_device(concrete_url, timeout=timeout, allow_destructive=allow_destructive)
    if state_dir is not None and isinstance(device, PiDevice):
        device.transport = Rechecked(device.transport, url, state_dir, device.protocol, timeout or PROBE_TIMEOUT)
    return device


class Rechecked:
    """The link of an `auto+` device in a reader. The first open trusts the verdict just made
    or read from the cache; every reopen after a lost link (a replugged adapter, a swapped
    unit, a restarted bridge) first runs `recheck` on it:

    - the same family answers: the device goes on;
    - another family answers: ConfigError, which ends the reader (one line); its restart
      reads the rewritten cache and publishes the new family's catalogue;
    - nothing settles: DetectError (retryable) and the link is closed, so the next poll's
      open checks again.
    """

    def __init__(self, inner: Transport, url: DeviceURL, state_dir: Path, family: str, timeout: float) -> None:
        self.inner = inner
        self.url = url
        self.state_dir = state_dir
        self.family = family
        self.timeout = timeout
        self._opened = False

    @property
    def is_open(self) -> bool:
        return self.inner.is_open

    def open(self) -> None:
        if self.inner.is_open:
            return
        self.inner.open()
        if not self._opened:
            self._opened = True
            return
        try:
            found = recheck(self.url, self.state_dir, self.inner, self.family, timeout=self.timeout)
        except BaseException:
            self.inner.close()
            raise
        if found != self.family:
            self.inner.close()
            raise ConfigError(
                f"device URL {self.url.raw!r}: the unit on this link now answers as {found}, not {self.family};"
                " the verdict is updated: restart the reader to read it as " + found
            )

    def write(self, data: bytes) -> None:
        self.inner.write(data)

    def read(self, timeout: float) -> bytes:
        return self.inner.read(timeout)

    def reset_input(self) -> None:
        self.inner.reset_input()

    def close(self) -> None:
        self.inner.close()
