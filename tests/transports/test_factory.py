"""open_transport: the URL picks the transport and its options; bad options are one-line ConfigErrors."""

from __future__ import annotations

from pathlib import Path

import pytest

from solarstack.core.device_url import parse_device_url
from solarstack.core.errors import ConfigError
from solarstack.transports.base import Transport
from solarstack.transports.factory import open_transport
from solarstack.transports.hidraw import HidrawTransport
from solarstack.transports.serial import SerialTransport
from solarstack.transports.tcp import TcpTransport


def build(url: str, **kw: object) -> Transport:
    return open_transport(parse_device_url(url), **kw)  # type: ignore[arg-type]


def test_serial_defaults_and_options() -> None:
    t = build("pi30+serial:///dev/ttyUSB0?name=inv1")
    assert isinstance(t, SerialTransport) and isinstance(t, Transport)
    assert (t.port, t.baudrate, t.bytesize, t.parity, t.stopbits) == ("/dev/ttyUSB0", 2400, 8, "N", 1.0)
    assert not t.is_open  # opened on first use by the device
    t = build("daly+serial:///dev/ttyUSB2?baud=19200&parity=e&stopbits=2&bytesize=7")
    assert isinstance(t, SerialTransport)
    assert (t.baudrate, t.bytesize, t.parity, t.stopbits) == (19200, 7, "E", 2.0)
    t = build("daly+serial:///dev/ttyUSB2", default_baud=9600)
    assert isinstance(t, SerialTransport) and t.baudrate == 9600


def test_hidraw_by_path_and_by_ids(tmp_path: Path) -> None:
    t = build("pi30+hidraw:///dev/hidraw0")
    assert isinstance(t, HidrawTransport) and t.path == Path("/dev/hidraw0")
    t = build("pi30+hidraw://?vid=0665&pid=5161", sysfs=tmp_path)
    assert isinstance(t, HidrawTransport) and (t.vid, t.pid, t.path, t.sysfs) == (0x0665, 0x5161, None, tmp_path)


def test_tcp() -> None:
    t = build("pi30+tcp://192.168.1.50:8899?connect_timeout=2.5")
    assert isinstance(t, TcpTransport)
    assert (t.host, t.port, t.connect_timeout) == ("192.168.1.50", 8899, 2.5)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("pi30+usb:///dev/x", "unknown transport 'usb'"),
        ("pi30+serial://", "give the port"),
        ("pi30+serial:///dev/ttyUSB0?baud=fast", "baud='fast' is not a whole number"),
        ("pi30+serial:///dev/ttyUSB0?baud=0", "baud=0 must be positive"),
        ("pi30+serial:///dev/ttyUSB0?parity=X", "parity must be one of"),
        ("pi30+serial:///dev/ttyUSB0?bytesize=9", "bytesize=9"),
        ("pi30+serial:///dev/ttyUSB0?stopbits=3", "stopbits must be"),
        ("pi30+hidraw://?vid=0665", "give both vid and pid"),
        ("pi30+hidraw://?vid=zz&pid=5161", "vid='zz' is not a whole number"),
        ("pi30+hidraw://?vid=10000&pid=5161", "4 hex digits"),
        ("pi30+hidraw://", "give a node"),
        ("pi30+tcp://192.168.1.50", "give host:port"),
        ("pi30+tcp://192.168.1.50:http", "is not a number"),
        ("pi30+tcp://192.168.1.50:8899?connect_timeout=-1", "connect_timeout must be positive"),
    ],
)
def test_bad_urls_fail_with_one_line(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        build(url)
    assert "\n" not in str(info.value)
