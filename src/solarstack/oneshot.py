"""The one-shot CLI commands: query, decode, encode, commands (see cli.py).

Top layer, like cli.py: may use every layer below, prints for people (or JSON with
the MQTT state field names, or Prometheus' text format), and lets typed errors
propagate to cli.main, which turns them into one line and an exit status.

`query` keeps mpp-solar users' habits (docs/cli.md): `QPIGS#QPIRI` lists, the names
`get_status` … (devices/base.py QUERY_NAMES), `--output prometheus` and an atomic
`--output-file` for node_exporter's textfile collector. It must not import what one
output needs on another's path (prometheus_client only for prometheus, tempfile only
for a file): start-up time is benchmarked (bench/bench_query.py).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from solarstack.core.errors import ConfigError
from solarstack.core.fields import Field, FieldTable, Kind, Reading, Value

if TYPE_CHECKING:
    from solarstack.devices.base import Device


def _format_fields(title: str, fields: FieldTable, values: dict[str, Value]) -> str:
    rows = {f.key: f for f in fields}
    lines = [title]
    for key, value in values.items():
        f = rows.get(key) or Field(key, kind=Kind.TEXT)
        unit = f" {f.unit}" if f.unit and value is not None else ""
        lines.append(f"  {f.title:<38} {value}{unit}")
    return "\n".join(lines) + "\n"


def _print_fields(title: str, fields: FieldTable, values: dict[str, Value]) -> None:
    sys.stdout.write(_format_fields(title, fields, values))


def cmd_query(args: argparse.Namespace) -> int:
    """Ask each command once, in order; print as asked (or, with --output-file, write the
    whole answer at the end, only if every command was answered)."""
    from solarstack.core.device_url import parse_device_url
    from solarstack.devices.registry import open_device

    url = parse_device_url(args.url)
    device = open_device(url, timeout=args.timeout)
    into_file: list[str] = []
    emit = into_file.append if args.output_file else sys.stdout.write
    readings: list[Reading] = []
    try:
        for command in expand_commands(args.commands, device):  # ConfigError before any I/O
            reading = device.query(command)
            readings.append(reading)
            if args.output == "text":
                title = f"{command} ({device.id}, {reading.ts:%Y-%m-%d %H:%M:%S}Z)"
                emit(_format_fields(title, reading.fields, reading.values))
                for unit in reading.units:  # the devices behind it, in the same answer (a DTU's inverters)
                    emit(_format_fields(f"{command} ({unit.device})", unit.fields, unit.values))
    finally:
        device.close()
    if args.output == "json":
        merged: dict[str, Any] = {"ts": readings[0].ts.isoformat().replace("+00:00", "Z")}
        for reading in readings:
            merged.update(reading.values)
            for unit in reading.units:  # each unit device's values under its id, as its own state
                merged.setdefault("units", {})[unit.device] = unit.values
        emit(json.dumps(merged, separators=(",", ":")) + "\n")
    elif args.output == "prometheus":
        emit(prometheus_text(readings))
    if args.output_file:
        write_atomically(args.output_file, "".join(into_file))
    return 0


def expand_commands(words: Sequence[str], device: Device) -> list[str]:
    """The commands to ask, in order, each once: mpp-solar's `QPIGS#QPIRI#QMOD` is three
    words; `all` is the device's default commands; QUERY_NAMES (`get_status` …) are the
    device's own groups. A name the device lacks is a ConfigError listing those it has."""
    from solarstack.devices.base import QUERY_NAMES, named_queries

    commands: list[str] = []
    for word in words:
        for piece in word.split("#"):
            name = piece.strip()
            lower = name.lower()
            if not name:
                continue  # `QPIGS#` or `QPIGS##QMOD`: a stray separator asks nothing
            if lower == "all":
                commands.extend(device.default_commands())
            elif lower.startswith("get_"):  # no codec names a command get_…: always a group name
                groups = named_queries(device)
                if lower not in groups:
                    known = ", ".join([*groups, "all"])
                    what = (
                        f"{device.protocol} devices have no {lower}"
                        if lower in QUERY_NAMES
                        else f"unknown query name {name!r}"
                    )
                    raise ConfigError(f"{what}; names {device.protocol} knows: {known} (or any query by name)")
                commands.extend(groups[lower])
            else:
                commands.append(name)
    if not commands:
        raise ConfigError(f"no command in {' '.join(words)!r}; e.g. get_status, all, or a query by name")
    return list(dict.fromkeys(commands))


def prometheus_text(readings: Sequence[Reading]) -> str:
    """The readings in Prometheus' text exposition format, named and typed exactly as a
    reader's /metrics names them (core/metrics.py), without timestamps: node_exporter's
    textfile collector refuses samples that carry one."""
    from prometheus_client import CollectorRegistry, generate_latest

    # The reader's own collector, so a file and a scrape can never name a value two ways.
    from solarstack.core.metrics import ReadingCollector

    collector = ReadingCollector()
    for reading in readings:
        collector.update(reading)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return generate_latest(registry).decode()


def write_atomically(target: str, text: str) -> None:
    """Replace `target` with `text` in one rename: a reader (node_exporter's textfile
    collector, every scrape) sees the old file or the new one, never a half-written one.

    The temporary file sits in the same directory (a rename does not cross file systems)
    and its name ends `.tmp`, not `.prom`, so the textfile collector never picks it up.
    The new file keeps the old one's mode, or gets the umask's: mkstemp's 0600 would
    lock out a node_exporter running as its own user.
    """
    import contextlib
    import os
    import tempfile

    path = os.path.realpath(target)  # a symlinked FILE stays a link to the new content
    try:
        mode = os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)  # the only way to read it; set straight back
        os.umask(umask)
        mode = 0o666 & ~umask
    except OSError as exc:
        raise ConfigError(f"--output-file {target}: {exc.strerror}") from None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=os.path.dirname(path))
    except OSError as exc:
        raise ConfigError(f"--output-file {target}: cannot write there ({exc.strerror})") from None
    try:
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())  # after a power cut the name points at the whole file
            os.chmod(tmp, mode)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)  # never leave a stray temporary beside the target
            raise
    except OSError as exc:  # a full disk, a directory where the file should be
        raise ConfigError(f"--output-file {target}: {exc.strerror or exc}") from None


_ESCAPE = re.compile(r"\\(r|n|t|x[0-9a-fA-F]{2}|\\)")


def _unescape(text: str) -> bytes:
    def sub(m: re.Match[str]) -> str:
        e = m.group(1)
        return {"r": "\r", "n": "\n", "t": "\t", "\\": "\\"}.get(e) or chr(int(e[1:], 16))

    return _ESCAPE.sub(sub, text).encode("latin-1")


def _frame(args: argparse.Namespace) -> bytes:
    if args.hex is not None:
        try:
            return bytes.fromhex(args.hex.replace(":", " ").replace("0x", ""))
        except ValueError:
            raise ConfigError(f"--hex {args.hex[:40]!r} is not hexadecimal bytes") from None
    return _unescape(args.raw)


def cmd_decode(args: argparse.Namespace) -> int:
    from solarstack.protocols.catalog import codec

    c = codec(args.protocol)
    values, fields = c.decode(_frame(args), args.command)
    if args.json:
        json.dump(values, sys.stdout, separators=(",", ":"))
        sys.stdout.write("\n")
    else:
        _print_fields(f"{args.protocol} {args.command or ''}".strip(), fields, values)
    return 0


def cmd_encode(args: argparse.Namespace) -> int:
    from solarstack.protocols.catalog import codec

    print(codec(args.protocol).encode(args.command).hex(" ").upper())
    return 0


def cmd_commands(args: argparse.Namespace) -> int:
    from solarstack.protocols.catalog import codec

    for kind, name, description in codec(args.protocol).describe():
        print(f"{kind:<8} {name:<32} {description}")
    return 0
