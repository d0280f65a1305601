"""`solarstack …`: the command line (DESIGN.md, CLI contract).

Top of the import graph: it may import any layer, but only lazily inside each
sub-command, because `solarstack query` start-up time is benchmarked against the
mpp-solar CLI — importing pydantic, paho or prometheus here would cost 100+ ms.

Exit status: 0 success, 1 device or protocol failure, 2 bad usage or configuration.
Every failure prints one line on stderr that says what went wrong.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from solarstack.services.registry import SERVICES, SIMULATORS


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="solarstack",
        description="Monitoring and control for solar homes: inverter, BMS, house sensors, weather over MQTT.",
        epilog="Device URLs look like pi30+serial:///dev/ttyUSB0, pi30+hidraw://?vid=0665&pid=5161, "
        "pi30+tcp://192.168.1.50:8899, daly+serial:///dev/ttyUSB2, jk02+ble://C8:47:8C:12:34:56.",
    )
    sub = p.add_subparsers(dest="cmd", metavar="<command>", required=True)

    q = sub.add_parser("query", help="ask a device once and print the decoded answer")
    q.add_argument("url", help="device URL, e.g. pi30+serial:///dev/ttyUSB0")
    q.add_argument(
        "commands",
        nargs="*",
        default=["all"],
        metavar="COMMAND",
        help="e.g. QPIGS QPIRI QMOD, or QPIGS#QPIRI#QMOD; `all` (the default: the device's own set);"
        " get_status, get_settings, get_device_id, get_version",
    )
    shape = q.add_mutually_exclusive_group()
    shape.add_argument("--json", dest="output", action="store_const", const="json", help="same as --output json")
    shape.add_argument(
        "--output",
        choices=("text", "json", "prometheus"),
        help="text (default); json: one object with the MQTT state field names; "
        "prometheus: the text exposition format, as a reader's /metrics names it",
    )
    q.set_defaults(output="text")
    q.add_argument(
        "--output-file",
        metavar="FILE",
        help="write FILE (replaced atomically) instead of printing, e.g. for node_exporter's textfile collector",
    )
    q.add_argument("--timeout", type=float, default=None, help="seconds to wait for each answer")

    det = sub.add_parser("detect", help="which inverter protocol family answers, by read-only probes")
    det.add_argument("url", help="transport URL, e.g. serial:///dev/ttyUSB0 or tcp://192.168.1.50:8899")
    det.add_argument("--json", action="store_true", help="print one JSON object: family, reason, evidence")
    det.add_argument("--timeout", type=float, default=None, help="seconds to wait for each probe's answer")

    d = sub.add_parser("decode", help="decode a frame given as hex or text (no I/O)")
    d.add_argument(
        "--protocol",
        required=True,
        help="pi30, pi18, pi17, pi16, pi41, jk02, jkserial, daly, vedirect; pi30:<variant> (pi30:revo)",
    )
    d.add_argument("--variant", help=_VARIANT_HELP)
    d.add_argument("--command", help="the command the frame answers, where the frame does not name itself")
    src = d.add_mutually_exclusive_group(required=True)
    src.add_argument("--hex", help="frame bytes as hex (spaces allowed)")
    src.add_argument("--raw", help=r"frame as text; \r \n \t and \xNN escapes are understood")
    d.add_argument("--json", action="store_true", help="print JSON")

    e = sub.add_parser("encode", help="print the exact request frame for a command, as hex")
    e.add_argument("--protocol", required=True)
    e.add_argument("--variant", help=_VARIANT_HELP)
    e.add_argument("command", metavar="COMMAND")

    c = sub.add_parser("commands", help="list a protocol's queries and settings")
    c.add_argument("--protocol", required=True)
    c.add_argument("--variant", help=_VARIANT_HELP)

    r = sub.add_parser("run", help="run a service (what the containers run)")
    r.add_argument("service", choices=[s.name for s in SERVICES])
    r.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)

    s = sub.add_parser("sim", help="run a simulator; prints its pty path or tcp URL first")
    s.add_argument("simulator", choices=[s.name for s in SIMULATORS])
    s.add_argument("args", nargs=argparse.REMAINDER, help="simulator options (try: solarstack sim inverter --help)")

    dev = sub.add_parser("dev", help="run the whole stack locally with simulated devices (no Docker)")
    dev.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)

    i = sub.add_parser(
        "init",
        help="write .env from .env.example with a random value for every secret (never overwrites .env)",
    )
    i.add_argument("--directory", default=".", help="where .env.example is and .env goes (default: here)")

    ic = sub.add_parser(
        "import-config", help="turn an mpp-solar daemon config into solarstack's YAML file (or .env lines)"
    )
    ic.add_argument("source", metavar="mpp-solar.conf", help="the mpp-solar daemon config (INI)")
    ic.add_argument("-o", "--output", metavar="FILE", help="write FILE (never overwritten); default: stdout")
    ic.add_argument("--format", choices=("yaml", "env"), help="yaml (default; env if FILE ends in .env) or env")
    return p


#: `--variant revo` is `--protocol pi30:revo` (protocols/catalog.py reads the latter).
_VARIANT_HELP = "PI30 firmware variant: revo, mst, m044, m045 (same as --protocol pi30:<variant>)"


def _delegate(module: str, what: str, argv: list[str]) -> int:
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        hint = "pip install 'solarstack[all]'"
        print(f"solarstack: {what} needs the Python package {exc.name!r}: {hint}", file=sys.stderr)
        return 2
    result: int = mod.main(argv) if hasattr(mod, "main") else mod.run(argv)
    return result


def _detect(args: argparse.Namespace) -> int:
    """`solarstack detect`: the probes are devices/detect.py's; this prints the verdict."""
    import json

    from solarstack.devices import detect

    verdict = detect.detect(detect.transport_url(args.url), timeout=args.timeout)
    print(json.dumps(verdict.as_dict()) if args.json else verdict.text())
    if verdict.family is None:
        print(f"solarstack detect: {verdict.reason}", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["dev"]:  # argparse's REMAINDER would drop options that come first
        return _delegate("solarstack.dev", "solarstack dev", argv[1:])
    args = _parser().parse_args(argv)
    from solarstack.core.errors import ConfigError, SolarstackError

    try:
        if args.cmd == "run":
            row = next(s for s in SERVICES if s.name == args.service)
            return _delegate(row.module, f"service {args.service!r}", args.args)
        if args.cmd == "sim":
            sim = next(s for s in SIMULATORS if s.name == args.simulator)
            return _delegate(sim.module, f"simulator {args.simulator!r}", args.args)
        if args.cmd == "dev":
            return _delegate("solarstack.dev", "solarstack dev", args.args)
        if args.cmd == "init":
            from solarstack import envfile

            return envfile.init(args.directory)
        if args.cmd == "import-config":
            from solarstack import importconfig

            return importconfig.run(args.source, args.output, args.format)
        if args.cmd == "detect":
            return _detect(args)
        from solarstack import oneshot

        if getattr(args, "variant", None):
            args.protocol = f"{args.protocol}:{args.variant}"
        handler = getattr(oneshot, f"cmd_{args.cmd}")
        result: int = handler(args)
        return result
    except ConfigError as exc:
        print(f"solarstack: {exc}", file=sys.stderr)
        return 2
    except SolarstackError as exc:
        print(f"solarstack: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `solarstack commands … | head`: the reader left, not an error
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
