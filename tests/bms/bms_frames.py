"""Recorded frames from real devices, with where each came from (the authority for codecs).

Each constant says where it was published. Only bytes that pass their own checksum
are kept here, so a transcription slip shows up as a CrcError, not a wrong reading.
"""

from __future__ import annotations

# --- JK02 over BLE -------------------------------------------------------------------

#: 24-cell layout, 16 cells fitted, at rest at 84 %. Quoted as "6 example responses
#: (128+128+44 = 300 bytes per frame)" in syssi/esphome-jk-bms,
#: components/jk_bms_ble/jk_bms_ble.cpp (first example; also its fake-traffic frame).
JK02_24S_CELL_INFO = bytes.fromhex(
    (
        "55.AA.EB.90.02.8C.FF.0C.01.0D.01.0D.FF.0C.01.0D.01.0D.FF.0C.01.0D.01.0D.01.0D.01.0D.FF.0C.01.0D.01.0D."
        "01.0D.01.0D.00.00.00.00.00.00.00.00.00.00.00.00.00.00.00.00.FF.FF.00.00.00.0D.00.00.00.00.9D.01.96.01."
        "8C.01.87.01.84.01.84.01.83.01.84.01.85.01.81.01.83.01.86.01.82.01.82.01.83.01.85.01.00.00.00.00.00.00."
        "00.00.00.00.00.00.00.00.00.00.00.00.00.00.00.00.03.D0.00.00.00.00.00.00.00.00."
        "00.00.BE.00.BF.00.D2.00.00.00.00.00.00.54.8E.0B.01.00.68.3C.01.00.00.00.00.00.3D.04.00.00.64.00.79.04."
        "CA.03.10.00.01.01.AA.06.00.00.00.00.00.00.00.00.00.00.00.00.07.00.01.00.00.00.D5.02.00.00.00.00.AE.D6."
        "3B.40.00.00.00.00.58.AA.FD.FF.00.00.00.01.00.02.00.00.EC.E6.4F."
    )
    .replace(".", "")
    .ljust(299 * 2, "0")  # the rest of the frame is zeros up to the checksum
    + "cd"
)

#: 32-cell layout (firmware >= 11), 4 cells fitted, at rest at 96 %: a JK-B1A8S10P
#: session captured in hansdrick/BMSMonitor's test data (app/.../bms_adapter/Test.kt),
#: delivered as four notifications of 128 + 22 + 128 + 22 bytes (kept as chunks).
JK02_32S_CHUNKS = [
    bytes.fromhex(
        "55aaeb900238980d520d6c0d8d0d000000000000000000000000000000000000000000000000000000000000"
        "00000000000000000000000000000000000000000000000000000f000000790d4600000179007e0079007700"
        "00000000000000000000000000000000000000000000000000000000000000000000000000000000"
    ),
    bytes.fromhex("00000000000000000000000000000000e50000000000"),
    bytes.fromhex(
        "e33500000000000000000000c500cb000000000000000060db120000881300000000000001000000640000004e"
        "350b0001010000000000000000000000000000070001000000d1030000000046793f4000000000630500000001"
        "0001000300008c05000000000000000000000000000000000000000000000000000000000000"
    ),
    bytes.fromhex("000000000000000000feff7fdc2f0101000000000099"),
]
JK02_32S_CELL_INFO = b"".join(JK02_32S_CHUNKS)

#: 32-cell layout, JK-PB series with all five temperature sensors fitted (byte 214 =
#: 0xFF) and T3-T5 all different from MOS/T1/T2: JK_PB2A16S20P, hardware 15A, firmware
#: 15.38 (its device-info frame sits next to it), 16 cells, charging 31.881 A at 25 %.
#: The "JK02_32S_v15" cell frame in patman15/aiobmsble tests/bms/test_jikong_bms.py;
#: it came over from patman15/BMS_BLE-HA tests/test_jikong_bms.py (commit 8e0dd6d,
#: PR #339 for issue #149, whose reporter attached debug logs from a 15.38 unit).
JK02_PB_CELL_INFO = bytes.fromhex(
    "55aaeb9002ac050dfe0cfe0c010d010dfd0cfb0c010dfc0cfb0cfe0cfb0cf80cfb0cfb0c090d000000000000000000000000"
    "0000000000000000000000000000000000000000ffff0000ff0c10000f0c40003d0040003d0041003f0041003e0041003e00"
    "41003d0040003e0041003f000000000000000000000000000000000000000000000000000000000000000000810000000000"
    "e8cf00004ae41900897c000086008000000000000000001986c00000400d030009000000b15f1c00640000008c4c76010101"
    "0000000000000000000000000000ff0001000000050452000000d44e404000000000ca1400000001010100060000ea670000"
    "00000000cd00c300bf00bd03287f030a1d0000008051010000000100a50202000000000000feff7fdc2f0101b0cf070000bb"
)

#: 32-cell layout, JK-PB firmware 14 (the issue's label), 16 cells, discharging: the
#: first "Cell info frame (version 3, 300 bytes) received" that the esphome-jk-bms
#: maintainer posted on 2024-01-20 in https://github.com/syssi/esphome-jk-bms/issues/390
#: ("Support for new range of JK BMS (JK-PBx)"). Its T3 reads what MOS reads, as users
#: report for PB boards (mr-manuel/venus-os_dbus-serialbattery#75).
JK02_PB_V14_CELL_INFO = bytes.fromhex(
    "55aaeb90022bc80cca0ccd0ccd0ccf0cd00cd00ccc0cc70ccb0ccb0ccc0ccd0cd10cd10ccf0c000000000000000000000000"
    "0000000000000000000000000000000000000000ffff0000cd0c0a000e0c5b003c003e003b003f003c003f003c0040003d00"
    "40003d0040003e0040003e0000000000000000000000000000000000000000000000000000000000000000007c0000000000"
    "cdcc000038df35002cf3feff710068000000080000000051a4750700c027090002000000376e1700640000007c0e08000101"
    "0000000000000000000000000000ff00010000009d030000ba008e8a4040000000007a140000000101010006000062880600"
    "000000007c0071007400a10377d09c073d0000008051010000000000000000000000000000feff7fdd2f0101b00700000059"
)

# --- JK over RS485 / TTL ("4E 57") ---------------------------------------------------

#: 14 cells, charging 2.08 A at 15 %: the read-all reply quoted in
#: syssi/esphome-jk-bms docs/protocol-design-uart-ttl-gps-port.md.
JKSERIAL_14S = bytes.fromhex(
    "4E57011B0000000006000179 2A010EED020EFA030EF7040EEC050EF8060EFA070EF1080EF8090EE30A0EFA"
    "0B0EF10C0EFB0D0EFB0E0EF2 80001D 81001E 82001C 8314EF 8480D0 850F 8602 870004 8900000000"
    "8A000E 8B0000 8C0007 8E1626 8F10AE 900FD2 910FA0 920005 930BEA 940C1C 950005 96012C"
    "970007 980003 990005 9A0005 9B0CE4 9C0008 9D01 9E005A 9F0046 A00064 A10064 A20014"
    "A30046 A40046 A5FFEC A6FFF6 A7FFEC A8FFF6 A90E AA0000000E AB01 AC01 AD0411 AE01 AF01"
    "B0000A B114 B2313233343536 00000000 B300 B4496E707574205573 B532313031 B60000E200"
    "B748362E585F5F53362E312E33535F5F B800 B900000000"
    "BA425433303732303230313230303030323030353231303031 C001 00000000 68 000054D1".replace(" ", "")
)
#: 7 cells, idle at 90 %, firmware 11.XA: the reply quoted in Kenura-R-Gunarathna/jkbms-esp32 README.md.
JKSERIAL_7S = bytes.fromhex(
    "4E 57 01 06 00 00 00 00 06 00 01 79 15 01 0E D2 02 0E D2 03 0E D2 04 0E D2 05 0E DB 06 0E DB 07 0E DB "
    "80 00 1C 81 00 1C 82 00 1C 83 0A 62 84 00 00 85 5A 86 02 87 00 00 89 00 00 00 05 8A 00 07 8B 00 00 "
    "8C 00 03 8E 0B 7C 8F 07 B6 90 10 68 91 10 54 92 00 03 93 0B 04 94 0B 22 95 00 03 96 01 2C 97 00 C8 "
    "98 01 2C 99 00 19 9A 00 1E 9B 0B B8 9C 00 0A 9D 01 9E 00 64 9F 00 50 A0 00 46 A1 00 3C A2 00 14 "
    "A3 00 46 A4 00 46 A5 FF EC A6 FF F6 A7 FF EC A8 FF F6 A9 07 AA 00 00 00 75 AB 01 AC 01 AD 03 CC "
    "AE 01 AF 01 B0 00 0A B1 14 B2 31 32 33 34 35 36 00 00 00 00 B3 00 B4 49 6E 70 75 74 20 55 73 "
    "B5 32 34 30 37 B6 00 00 08 19 B7 31 31 2E 58 41 5F 53 31 31 2E 35 31 5F 5F 5F B8 00 B9 00 00 00 75 "
    "BA 49 6E 70 75 74 20 55 73 65 72 64 61 4A 4B 5F 42 31 41 38 53 32 30 50 00 C0 01 "
    "00 00 00 00 68 00 00 4D 89"
)

# --- Daly A5 -------------------------------------------------------------------------

#: 4S LiFePO4 at rest (13.3 V, 48.4 %): replies from the BLE snoop log of
#: fl4p/batmon-ha issue #416, as quoted in that project's tests.
DALY_416_90 = bytes.fromhex("a501900800850000753001e44d")
DALY_416_94 = bytes.fromhex("a501940804020000000000438b")
#: Daly's protocol document, "Example Return" for 0x90 (76.4 V, raw current 30113).
DALY_DOC_90 = bytes.fromhex("A5 01 90 08 02 FC 00 00 75 A1 00 00 52")
#: An 8S pack: the replies an ESP32 Daly reader (CircuitPython, "DalyBMS" demo-mode
#: payloads, published with the reader) recorded for each command 0x90..0x98.
DALY_8S = {
    0x90: "a501900800f80000753001815d",
    0x91: "a50191080c52050b6b0101819b",
    0x92: "a50192083d013d016b010181aa",
    0x93: "a50193080001002500009de9ed",
    0x94: "a501940808010000000001327e",
    0x95: "a5019508010b6b0c420c433289a5019508020c3c0c520c43326ca5019508030c000c480c433227",
    0x96: "a5019608013d000000000032b4",
    0x97: "a50197089000000000000000d5",
    0x98: "a5019808000000000000100056",
}

# --- Victron VE.Direct ----------------------------------------------------------------
# karioja/vedirect test/*.dump are live recordings. The stored copies lost their \r and
# show the checksum byte as a Latin-1 character; putting \r\n back, every block below
# sums to 0 mod 256 again, which confirms the reconstruction byte for byte.


def _block(lines: list[str], checksum_char: str) -> bytes:
    return ("".join("\r\n" + line for line in lines) + "\r\nChecksum\t" + checksum_char).encode("latin-1")


#: BMV-700 (test/bvm702.dump): first block, then its history block.
VE_BMV_MAIN = _block(
    ["PID\t0x203", "V\t12065", "I\t-7625", "P\t-92", "CE\t-65473", "SOC\t839", "TTG\t942",
     "Alarm\tOFF", "Relay\tOFF", "AR\t0", "BMV\t700", "FW\t0308"],
    "q",
)  # fmt: skip
VE_BMV_HISTORY = _block(
    ["H1\t-149322", "H2\t-82854", "H3\t0", "H4\t0", "H5\t0", "H6\t-5526294", "H7\t11733", "H8\t16161",
     "H9\t368003", "H10\t26", "H11\t0", "H12\t0", "H17\t6843", "H18\t8527"],
    "\u00bc",
)  # fmt: skip
#: SmartSolar MPPT, firmware 1.39 (test/smartsolar_1.39.dump), first block.
VE_SMARTSOLAR = _block(
    ["PID\t0xA05F", "FW\t139", "SER#\tHQ18486U2B4", "V\t12810", "I\t-10", "VPV\t10", "PPV\t0", "CS\t0",
     "MPPT\t0", "ERR\t0", "LOAD\tON", "IL\t0", "H19\t0", "H20\t0", "H21\t0", "H22\t0", "H23\t0", "HSDS\t0"],
    "\u00e4",
)  # fmt: skip
