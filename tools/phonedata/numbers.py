#!/usr/bin/env python3
"""Generates functions/sms-core/src/domain/numbering/table.rs from libphonenumber's metadata
(the PyPI package `phonenumbers`, pinned in requirements.txt beside this file).

    python3 tools/phonedata/numbers.py            # rewrite the table
    python3 tools/phonedata/numbers.py --check    # exit 1 if the checked-in table differs

libphonenumber describes each region's numbers by regular expressions over the national
significant number (NSN), one per type (fixed line, mobile, toll free, ...). The service must
not run regexes on 300,000 recipients a request, and cannot carry the `phonenumber` crate
(regex + a serialized database) in a bootstrap with 0.05 MiB left under its 5 MiB budget. So
the expressions are compiled here, once, into what they mean: for each calling code and each
NSN length, the sorted lower bounds of the NSN ranges over which the answer of
libphonenumber's `region_code_for_number` + `number_type` stays the same. At run time a number
is one binary search (domain/numbering/mod.rs).

How: each expression is parsed (Python's own regex parser) into an NFA over the digits 0-9.
For a length L, the digit trie is walked from the root; a node is a leaf as soon as every
completion of it to L digits gets the same answer (computed over the product of the NFAs'
state sets, memoised), and its answer covers the range of NSNs under it. Adjacent ranges
with one answer merge. The script then checks the table against `phonenumbers` itself on
every range's first and last number and on random numbers, and fails if any differ.
"""

import argparse
import random
import sys
from functools import lru_cache
from pathlib import Path
from re import _constants as sre
from re import _parser as sre_parse

import phonenumbers
from phonenumbers import PhoneNumberType
from phonenumbers.phonemetadata import PhoneMetadata

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "functions/sms-core/src/domain/numbering/table.rs"
# Numbers with phonenumbers' answers, for the Rust lookup's test (domain/numbering/mod.rs).
PROBES = ROOT / "functions/sms-core/src/domain/numbering/probes.rs"

# libphonenumber's types, in the order of domain/numbering/mod.rs's `LineType` (index = value
# in the table). UNKNOWN is not a type here: such a number is invalid.
TYPES = [
    ("FixedLine", PhoneNumberType.FIXED_LINE),
    ("Mobile", PhoneNumberType.MOBILE),
    ("FixedLineOrMobile", PhoneNumberType.FIXED_LINE_OR_MOBILE),
    ("TollFree", PhoneNumberType.TOLL_FREE),
    ("PremiumRate", PhoneNumberType.PREMIUM_RATE),
    ("SharedCost", PhoneNumberType.SHARED_COST),
    ("Voip", PhoneNumberType.VOIP),
    ("PersonalNumber", PhoneNumberType.PERSONAL_NUMBER),
    ("Pager", PhoneNumberType.PAGER),
    ("Uan", PhoneNumberType.UAN),
    ("Voicemail", PhoneNumberType.VOICEMAIL),
]
TYPE_INDEX = {t: i for i, (_, t) in enumerate(TYPES)}
# The descs checked before fixed line and mobile, in libphonenumber's order
# (`_number_type_helper`).
OTHER_DESCS = [
    ("premium_rate", PhoneNumberType.PREMIUM_RATE),
    ("toll_free", PhoneNumberType.TOLL_FREE),
    ("shared_cost", PhoneNumberType.SHARED_COST),
    ("voip", PhoneNumberType.VOIP),
    ("personal_number", PhoneNumberType.PERSONAL_NUMBER),
    ("pager", PhoneNumberType.PAGER),
    ("uan", PhoneNumberType.UAN),
    ("voicemail", PhoneNumberType.VOICEMAIL),
]
INVALID = None


class Nfa:
    """A Thompson NFA over the digits, from one of libphonenumber's expressions."""

    def __init__(self, pattern, prefix_match=False):
        self.eps = []
        self.moves = []  # per state: list of (digit bitmask, target)
        self.start = self._new()
        self.accept = self._compile(sre_parse.parse(pattern), self.start)
        if prefix_match:
            # re.match: a match of any prefix is a match; the accept state eats the rest.
            self.moves[self.accept].append((0x3FF, self.accept))
        self.initial = self.closure({self.start})

    def _new(self):
        self.eps.append([])
        self.moves.append([])
        return len(self.eps) - 1

    def _digits(self, items):
        mask = 0
        for op, av in items:
            if op == sre.LITERAL:
                mask |= self._digit_bit(av)
            elif op == sre.RANGE:
                for c in range(av[0], av[1] + 1):
                    mask |= self._digit_bit(c)
            elif op == sre.CATEGORY and av == sre.CATEGORY_DIGIT:
                mask |= 0x3FF
            else:
                raise ValueError(f"unsupported class item {op} {av}")
        return mask

    @staticmethod
    def _digit_bit(c):
        d = c - ord("0")
        # A non-digit in a class can never match a digit string.
        return 1 << d if 0 <= d <= 9 else 0

    def _compile(self, items, start):
        cur = start
        for op, av in items:
            cur = self._compile_one(op, av, cur)
        return cur

    def _compile_one(self, op, av, cur):
        if op == sre.LITERAL:
            end = self._new()
            self.moves[cur].append((self._digit_bit(av), end))
            return end
        if op == sre.IN:
            end = self._new()
            self.moves[cur].append((self._digits(av), end))
            return end
        if op == sre.BRANCH:
            end = self._new()
            for branch in av[1]:
                s = self._new()
                self.eps[cur].append(s)
                self.eps[self._compile(branch, s)].append(end)
            return end
        if op == sre.SUBPATTERN:
            return self._compile(av[3], cur)
        if op in (sre.MAX_REPEAT, sre.MIN_REPEAT):
            lo, hi, body = av
            for _ in range(lo):
                cur = self._compile(body, cur)
            if hi == sre.MAXREPEAT:
                loop = self._new()
                self.eps[cur].append(loop)
                self.eps[self._compile(body, loop)].append(loop)
                return loop
            end = self._new()
            for _ in range(hi - lo):
                self.eps[cur].append(end)
                cur = self._compile(body, cur)
            self.eps[cur].append(end)
            return end
        raise ValueError(f"unsupported regex construct {op} {av}")

    def closure(self, states):
        stack, seen = list(states), set(states)
        while stack:
            for t in self.eps[stack.pop()]:
                if t not in seen:
                    seen.add(t)
                    stack.append(t)
        return frozenset(seen)

    def step(self, states, digit):
        bit = 1 << digit
        return self.closure({t for s in states for mask, t in self.moves[s] if mask & bit})


class Desc:
    """One number description: its NFA and the lengths it allows."""

    def __init__(self, desc):
        self.nfa = Nfa(desc.national_number_pattern)
        self.lengths = set(desc.possible_length or ())


class Region:
    def __init__(self, code, region):
        m = PhoneMetadata.metadata_for_region_or_calling_code(code, region)
        self.region = region
        self.metadata = m

        def desc(name):
            d = getattr(m, name)
            return Desc(d) if d is not None and d.national_number_pattern else None

        self.general = desc("general_desc")
        self.others = [(desc(name), t) for name, t in OTHER_DESCS]
        self.fixed = desc("fixed_line")
        self.mobile = desc("mobile")
        self.same_mobile_and_fixed = bool(m.same_mobile_and_fixed_line_pattern)
        self.leading = Nfa(m.leading_digits, prefix_match=True) if m.leading_digits else None

    def automata(self):
        """Every NFA this region's answer depends on, in a fixed order."""
        out = [self.general.nfa if self.general else None]
        out += [d.nfa if d else None for d, _ in self.others]
        out += [self.fixed.nfa if self.fixed else None, self.mobile.nfa if self.mobile else None]
        out.append(self.leading)
        return out

    def number_type(self, accepted, length):
        """libphonenumber's `_number_type_helper`, on which NFAs accept the whole NSN."""

        def matches(desc, i):
            if desc is None or not accepted[i]:
                return False
            return not desc.lengths or length in desc.lengths

        if not matches(self.general, 0):
            return None
        for i, (desc, t) in enumerate(self.others, start=1):
            if matches(desc, i):
                return t
        fixed_i = 1 + len(self.others)
        if matches(self.fixed, fixed_i):
            if self.same_mobile_and_fixed or matches(self.mobile, fixed_i + 1):
                return PhoneNumberType.FIXED_LINE_OR_MOBILE
            return PhoneNumberType.FIXED_LINE
        if not self.same_mobile_and_fixed and matches(self.mobile, fixed_i + 1):
            return PhoneNumberType.MOBILE
        return None


class CallingCode:
    def __init__(self, code, regions):
        self.code = code
        self.regions = [Region(code, r) for r in regions]
        self.nfas = [nfa for r in self.regions for nfa in r.automata()]
        # Every NSN length some region of the code uses that fits E.164 (15 digits with the
        # code) and the service's shortest number (8): PhoneNumber holds no other.
        digits = len(str(code))
        self.lengths = sorted(
            length
            for r in self.regions
            for length in (r.metadata.general_desc.possible_length or ())
            if 8 <= digits + length <= 15
        )
        self.lengths = sorted(set(self.lengths))
        self._steps = {}

    def initial(self):
        return tuple(n.initial if n else frozenset() for n in self.nfas)

    def step(self, state, digit):
        key = (state, digit)
        out = self._steps.get(key)
        if out is None:
            out = tuple(
                n.step(s, digit) if n and s else frozenset() for n, s in zip(self.nfas, state)
            )
            self._steps[key] = out
        return out

    def answer(self, state, length):
        """(region index, type index) as `region_code_for_number` + `number_type` give it, or
        INVALID. `state` is after the whole NSN."""
        accepted = [bool(n and n.accept in s) for n, s in zip(self.nfas, state)]
        per_region = 1 + len(OTHER_DESCS) + 2 + 1
        if len(self.regions) == 1:
            # libphonenumber names a calling code's only region whatever its leading digits.
            t = self.regions[0].number_type(accepted, length)
            return INVALID if t is None else (0, TYPE_INDEX[t])
        for i, region in enumerate(self.regions):
            flags = accepted[i * per_region : (i + 1) * per_region]
            t = region.number_type(flags, length)
            if region.leading is not None:
                if flags[-1]:
                    # The leading digits name the region; the number must be valid there.
                    return INVALID if t is None else (i, TYPE_INDEX[t])
            elif t is not None:
                return (i, TYPE_INDEX[t])
        return INVALID

    def ranges(self, length):
        """[(lower bound, answer)] over NSNs of `length` digits, merged, from 0."""

        @lru_cache(maxsize=None)
        def answers(state, left):
            if left == 0:
                return frozenset([self.answer(state, length)])
            out = set()
            for d in range(10):
                out |= answers(self.step(state, d), left - 1)
            return frozenset(out)

        out = []

        def walk(state, value, left):
            found = answers(state, left)
            if len(found) == 1:
                (a,) = found
                lower = value * 10**left
                if not out or out[-1][1] != a:
                    out.append((lower, a))
                return
            for d in range(10):
                walk(self.step(state, d), value * 10 + d, left - 1)

        walk(self.initial(), 0, length)
        return out


def expected(code, nsn):
    """What phonenumbers itself says of the E.164 number +<code><nsn>."""
    number = phonenumbers.PhoneNumber(country_code=code, national_number=int(nsn))
    # libphonenumber keeps an NSN's leading zeros (Italy's 06...) as a count beside its value;
    # str(0) is "0", so an NSN of zeros only has one fewer.
    zeros = len(nsn) - len(nsn.lstrip("0")) - (1 if int(nsn) == 0 else 0)
    if zeros:
        number.italian_leading_zero = True
        number.number_of_leading_zeros = zeros
    if not phonenumbers.is_valid_number(number):
        return INVALID
    return (phonenumbers.region_code_for_number(number), phonenumbers.number_type(number))


def lookup(codes, code, nsn):
    """The table's answer, as the Rust lookup computes it."""
    cc = codes[code]
    ranges = cc["ranges"].get(len(nsn))
    if not ranges:
        return INVALID
    value = int(nsn)
    lo, hi = 0, len(ranges)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ranges[mid][0] <= value:
            lo = mid
        else:
            hi = mid
    a = ranges[lo][1]
    if a is INVALID:
        return INVALID
    return (cc["regions"][a[0]], TYPES[a[1]][1])


def verify(codes, samples_per_length, seed):
    """Checks the table against phonenumbers: both ends of every range, and random NSNs."""
    rng = random.Random(seed)
    checked = 0
    for code, cc in codes.items():
        for length, ranges in cc["ranges"].items():
            probes = set()
            for i, (lower, _) in enumerate(ranges):
                upper = ranges[i + 1][0] - 1 if i + 1 < len(ranges) else 10**length - 1
                probes.update([lower, upper])
            probes.update(rng.randrange(10**length) for _ in range(samples_per_length))
            for value in probes:
                nsn = str(value).zfill(length)
                want = expected(code, nsn)
                got = lookup(codes, code, nsn)
                if want != got:
                    sys.exit(f"numbers.py: +{code} {nsn}: table says {got}, phonenumbers {want}")
                checked += 1
    return checked


def build():
    codes = {}
    for code in sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE):
        regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE[code]
        cc = CallingCode(code, regions)
        ranges = {length: cc.ranges(length) for length in cc.lengths}
        # A length no valid number has is left out, so a number of it is reported as of the
        # wrong length rather than of no range (`+1 555 0100`: 7 digits, where +1 has 10).
        ranges = {k: v for k, v in ranges.items() if v != [(0, INVALID)]}
        codes[code] = {"regions": regions, "lengths": sorted(ranges), "ranges": ranges}
    return codes


def encode(ranges, digits):
    """One length's ranges as the bytes domain/numbering/mod.rs decodes.

    Each lower bound is written as its digits (NSN zero-padded to `digits`) without trailing
    zeros, front-coded against the previous one: a byte of (digits shared with the previous
    << 4 | new digits), the new digits two to a byte (high nibble first), then the answer as
    one byte, or two when it is 128 or more (low 7 bits | 0x80, then the rest). Front coding
    keeps the table a quarter of its fixed-width size (about 112 KB, 26 KB deflated): the
    budget of send-bulk's zipped bootstrap had 0.05 MiB left.
    """
    out = bytearray()
    prev = ""
    for lower, answer in ranges:
        text = str(lower).zfill(digits).rstrip("0")
        shared = 0
        while shared < min(len(text), len(prev)) and text[shared] == prev[shared]:
            shared += 1
        new = text[shared:]
        assert shared < 16 and len(new) < 16
        out.append(shared << 4 | len(new))
        nibbles = [int(c) for c in new] + ([0] if len(new) % 2 else [])
        out.extend(nibbles[i] << 4 | nibbles[i + 1] for i in range(0, len(nibbles), 2))
        out.extend([answer] if answer < 128 else [answer & 0x7F | 0x80, answer >> 7])
        prev = text
    return out


def rust(codes):
    version = phonenumbers.__version__
    data = bytearray()
    lengths_out = []  # (digits, first byte, end byte, ranges)
    codes_out = []
    region_names = []
    ranges_total = 0
    for code, cc in codes.items():
        first_region = len(region_names)
        region_names.extend(cc["regions"])
        first_len = len(lengths_out)
        for length in cc["lengths"]:
            ranges = [
                (lower, 0 if a is INVALID else 1 + a[0] * 16 + a[1])
                for lower, a in cc["ranges"][length]
            ]
            start = len(data)
            data += encode(ranges, length)
            lengths_out.append((length, start, len(data), len(ranges)))
            ranges_total += len(ranges)
        codes_out.append((code, first_region, len(cc["regions"]), first_len, len(lengths_out)))
    assert len(region_names) < 2**16 and max(len(r) for r in region_names) <= 3
    lines = [
        "// @generated by tools/phonedata/numbers.py from libphonenumber's metadata",
        f"// (PyPI phonenumbers=={version}). Do not edit: change the script and run it",
        "// (docs/operations.md, \"Updating the numbering data\").",
        "//",
        f"// {len(codes_out)} calling codes, {len(region_names)} regions, {ranges_total} ranges"
        f" in {len(data)} bytes.",
        "",
        "use super::{CodeEntry, LengthEntry};",
        "",
        "/// The libphonenumber metadata release the table was generated from.",
        f'pub const DATA_VERSION: &str = "{version}";',
        "",
        "/// Ranges in the whole table.",
        f"pub const RANGES: usize = {ranges_total};",
        "",
        "/// Regions (ISO 3166 codes; `001` for a non-geographic service), by calling code, each",
        "/// code's main region first.",
        f"pub static REGIONS: [&str; {len(region_names)}] = [",
    ]
    for i in range(0, len(region_names), 12):
        lines.append("    " + " ".join(f'"{r}",' for r in region_names[i : i + 12]))
    lines += [
        "];",
        "",
        "/// Calling codes in ascending order.",
        f"pub static CODES: [CodeEntry; {len(codes_out)}] = [",
    ]
    for code, fr, nr, fl, el in codes_out:
        lines.append(
            f"    CodeEntry {{ code: {code}, regions: ({fr}, {fr + nr}), lengths: ({fl}, {el}) }},"
        )
    lines += [
        "];",
        "",
        "/// The NSN lengths each calling code's numbers may have, each with its ranges' bytes.",
        f"pub static LENGTHS: [LengthEntry; {len(lengths_out)}] = [",
    ]
    for length, s, e, n in lengths_out:
        lines.append(f"    LengthEntry {{ digits: {length}, bytes: ({s}, {e}), ranges: {n} }},")
    lines += [
        "];",
        "",
        "/// The ranges, front-coded (see `tools/phonedata/numbers.py`, `encode`).",
        f"pub static DATA: [u8; {len(data)}] = [",
    ]
    for i in range(0, len(data), 24):
        lines.append("    " + " ".join(f"{b}," for b in data[i : i + 24]))
    lines += ["];", ""]
    return "\n".join(lines)


def probes(codes):
    """For every calling code and length: the first number of its first, middle and last
    ranges and of up to 3 more, with what phonenumbers says of each."""
    rows = []
    for code, cc in codes.items():
        for length in cc["lengths"]:
            ranges = cc["ranges"][length]
            picks = sorted({0, len(ranges) // 2, len(ranges) - 1, 1, len(ranges) // 3, 2 * len(ranges) // 3})
            for i in picks:
                if i < len(ranges):
                    nsn = str(ranges[i][0]).zfill(length)
                    rows.append((f"+{code}{nsn}", expected(code, nsn)))
    lines = [
        "// @generated by tools/phonedata/numbers.py: numbers with libphonenumber's answers",
        f"// (phonenumbers=={phonenumbers.__version__}), for domain/numbering/mod.rs's tests.",
        "",
        "/// (E.164 number, (region, `LineType` index) or None when invalid).",
        f"pub static PROBES: [(&str, Option<(&str, usize)>); {len(rows)}] = [",
    ]
    for number, answer in rows:
        if answer is INVALID:
            lines.append(f'    ("{number}", None),')
        else:
            lines.append(f'    ("{number}", Some(("{answer[0]}", {TYPE_INDEX[answer[1]]}))),')
    lines += ["];", ""]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    parser.add_argument("--samples", type=int, default=200, help="random NSNs per length")
    args = parser.parse_args()
    if phonenumbers.__version__ != pinned():
        sys.exit(f"numbers.py: phonenumbers {phonenumbers.__version__} is installed, {pinned()} pinned")
    codes = build()
    checked = verify(codes, args.samples, seed=12)
    files = {OUT: rust(codes), PROBES: probes(codes)}
    if args.check:
        stale = [p for p, text in files.items() if not p.exists() or p.read_text() != text]
        for path in stale:
            print(f"numbers.py: {path.relative_to(ROOT)} is not what the script generates", file=sys.stderr)
        if stale:
            sys.exit("numbers.py: run python3 tools/phonedata/numbers.py and commit the result")
        print(f"numbers.py: the numbering table is up to date ({checked} numbers checked)")
        return
    OUT.parent.mkdir(parents=True, exist_ok=True)
    for path, text in files.items():
        path.write_text(text)
        print(f"numbers.py: wrote {path.relative_to(ROOT)}")
    print(f"numbers.py: {checked} numbers checked against phonenumbers")


def pinned():
    line = (Path(__file__).parent / "requirements.txt").read_text().strip()
    return line.split("==")[1]


if __name__ == "__main__":
    main()
