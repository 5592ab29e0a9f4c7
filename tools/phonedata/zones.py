#!/usr/bin/env python3
"""Writes functions/sms-core/src/domain/zones/table.rs from libphonenumber's time-zone prefix map.

The map comes from the PyPI package `phonenumbers` (the Python port of libphonenumber), pinned in
tools/phonedata/requirements.txt. Regenerate after changing the pin:

    python3 -m venv /tmp/phonedata && /tmp/phonedata/bin/pip install -r tools/phonedata/requirements.txt
    /tmp/phonedata/bin/python tools/phonedata/zones.py

The table keeps what a lookup needs and nothing more:
- each distinct set of zones once, in ZONE_SETS; a prefix names its set by index;
- prefixes as integers (the E.164 digits without `+`; a prefix never starts with 0, so its value
  also fixes its length), sorted for binary search;
- no prefix whose zones equal those of its longest shorter prefix in the data: the longest-prefix
  lookup falls back to that one and finds the same set.
The script checks the last claim for every prefix of the data before it writes anything.

It also sets CHRONO_TZ_TIMEZONE_FILTER in .cargo/config.toml to the zones the table names (and
UTC, the zone of a number the data does not place): chrono-tz's `filter-by-regex` feature then
builds only those zones and the zones linked to them, not all of the IANA database, which keeps
the Lambda bootstraps small. The compiler checks the two agree: a table naming a zone the filter
left out does not build.
"""

import bisect
import pathlib
import re
import sys

import phonenumbers
from phonenumbers import tzdata

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "functions/sms-core/src/domain/zones/table.rs"
CARGO_CONFIG = ROOT / ".cargo/config.toml"
FILTER_LINE = re.compile(r"^CHRONO_TZ_TIMEZONE_FILTER = .*$", re.MULTILINE)
PER_LINE = 10


def variant(zone):
    """The chrono_tz::Tz variant of an IANA name, as chrono-tz-build names them. A wrong guess is
    caught by the compiler, not at run time."""
    out = []
    for i, c in enumerate(zone):
        if c == "/":
            out.append("__")
        elif c == "+":
            out.append("Plus")
        elif c == "-":
            nxt = zone[i + 1] if i + 1 < len(zone) else ""
            out.append("Minus" if nxt.isdigit() else "")
        else:
            out.append(c)
    return "".join(out)


def longest_match(prefixes, values, digits):
    """What the Rust lookup does: the longest prefix of `digits` in `prefixes`."""
    for length in range(min(len(digits), tzdata.TIMEZONE_LONGEST_PREFIX), 0, -1):
        key = int(digits[:length])
        i = bisect.bisect_left(prefixes, key)
        if i < len(prefixes) and prefixes[i] == key:
            return values[i]
    return None


def write_filter(zones):
    """Sets the filter line of .cargo/config.toml, keeping whatever else the file holds."""
    names = "|".join(re.escape(z) for z in sorted(set(zones) | {"UTC"}))
    # TOML basic string: a backslash of the regex is written doubled.
    line = 'CHRONO_TZ_TIMEZONE_FILTER = "^(' + names.replace("\\", "\\\\") + ')$"'
    text = CARGO_CONFIG.read_text() if CARGO_CONFIG.exists() else ""
    if FILTER_LINE.search(text):
        text = FILTER_LINE.sub(lambda _: line, text)
    elif "[env]" in text:
        text = text.replace("[env]", "[env]\n" + line, 1)
    else:
        comment = (
            "# chrono-tz builds only the zones of domain/zones/table.rs (and those linked to them);\n"
            "# the line is written by tools/phonedata/zones.py.\n"
        )
        text = text + ("\n" if text else "") + "[env]\n" + comment + line + "\n"
    CARGO_CONFIG.parent.mkdir(parents=True, exist_ok=True)
    CARGO_CONFIG.write_text(text)


def main():
    data = {prefix: tuple(sorted(zones)) for prefix, zones in tzdata.TIMEZONE_DATA.items()}
    if any(not p.isdigit() or p.startswith("0") for p in data):
        sys.exit("zones.py: a prefix is not digits without a leading 0; the integer keys would clash")

    def parent_zones(prefix):
        for length in range(len(prefix) - 1, 0, -1):
            if prefix[:length] in data:
                return data[prefix[:length]]
        return None

    kept = {p: z for p, z in data.items() if parent_zones(p) != z}

    # Sets ordered by first use in prefix order, so a regenerated table with the same data is
    # byte-for-byte the same.
    prefixes = sorted(kept, key=int)
    sets, set_index = [], {}
    for p in prefixes:
        if kept[p] not in set_index:
            set_index[kept[p]] = len(sets)
            sets.append(kept[p])
    keys = [int(p) for p in prefixes]
    values = [kept[p] for p in prefixes]

    all_prefixes = sorted(data, key=int)
    all_keys = [int(p) for p in all_prefixes]
    all_values = [data[p] for p in all_prefixes]
    for prefix in data:
        # Every prefix of the data, and every digit string one longer, must find what the full
        # data finds.
        for probe in [prefix] + [prefix + d for d in "0123456789"]:
            want = longest_match(all_keys, all_values, probe)
            got = longest_match(keys, values, probe)
            if want != got:
                sys.exit(f"zones.py: pruning changed the zones of {probe}: {want} -> {got}")
    if len(sets) > 0xFFFF:
        sys.exit("zones.py: more zone sets than a u16 index holds")

    zones_used = sorted({z for zs in sets for z in zs})
    lines = [
        "// @generated by tools/phonedata/zones.py: do not edit by hand.",
        f"// Data: libphonenumber's time-zone prefix map, as shipped in the PyPI package phonenumbers {phonenumbers.__version__}",
        "// (pinned in tools/phonedata/requirements.txt). To regenerate, see docs/operations.md,",
        '// "Time-zone data", or the docstring of the script.',
        "//",
        f"// {len(data)} prefixes in the data, {len(keys)} kept, {len(sets)} distinct zone sets, {len(zones_used)} zones.",
        "",
        "use chrono_tz::Tz;",
        "",
        "/// The libphonenumber release whose data this table holds.",
        f'pub const DATA_VERSION: &str = "libphonenumber {phonenumbers.__version__}";',
        "",
        "/// The most digits of a prefix in the data: a lookup tries no longer prefix.",
        f"pub(super) const LONGEST_PREFIX: usize = {tzdata.TIMEZONE_LONGEST_PREFIX};",
        "",
        "/// Each distinct set of zones, sorted by name; `PREFIX_SETS` holds indexes into it.",
        "#[rustfmt::skip]",
        f"pub(super) static ZONE_SETS: [&[Tz]; {len(sets)}] = [",
    ]
    for zs in sets:
        lines.append("    &[" + ", ".join(f"Tz::{variant(z)}" for z in zs) + "],")
    lines += [
        "];",
        "",
        "/// Number prefixes (E.164 digits without `+`, as integers), ascending.",
        "#[rustfmt::skip]",
        f"pub(super) static PREFIXES: [u32; {len(keys)}] = [",
    ]
    for i in range(0, len(keys), PER_LINE):
        lines.append("    " + " ".join(f"{k}," for k in keys[i : i + PER_LINE]))
    lines += [
        "];",
        "",
        "/// For each entry of `PREFIXES`, the index of its set in `ZONE_SETS`.",
        "#[rustfmt::skip]",
        f"pub(super) static PREFIX_SETS: [u16; {len(keys)}] = [",
    ]
    indexes = [set_index[v] for v in values]
    for i in range(0, len(indexes), PER_LINE * 2):
        lines.append("    " + " ".join(f"{k}," for k in indexes[i : i + PER_LINE * 2]))
    lines += ["];", ""]

    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(lines))
    write_filter(zones_used)
    print(
        f"wrote {OUT.relative_to(ROOT)}: {len(keys)} of {len(data)} prefixes, {len(sets)} zone sets, "
        f"{len(zones_used)} zones (phonenumbers {phonenumbers.__version__})"
    )


if __name__ == "__main__":
    main()
