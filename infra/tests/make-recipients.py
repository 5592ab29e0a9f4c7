#!/usr/bin/env python3
"""Writes a recipient CSV for tests and benchmarks: `make-recipients.py ROWS [OUT]`.

Columns `phone,first_name,order`: distinct valid numbers (+1415, then 7 digits from 2000001:
exchanges from 200, valid by the numbering plans the intake checks), first names
from a list of 500 (so a `{{first_name}}` job has 500 distinct texts), an order number per
row. Every 100th row has a malformed number and every 250th repeats the row before's number,
so a plan of it has rejects and duplicates at known rows. Deterministic: the same ROWS give
the same file.
"""
import sys

NAMES = [f"{a}{b}" for a in ("Ana", "Bo", "Cy", "Di", "Ed", "Flo", "Gus", "Hal", "Ivy", "Jo")
         for b in ("", "la", "ra", "na", "ta", "ko", "mi", "ri", "sa", "li", "do", "ne", "ka", "vi", "pe",
                   "zo", "bu", "ge", "fi", "mo", "lu", "xa", "yo", "we", "qi", "ha", "ju", "ce", "te",
                   "ro", "su", "ni", "ma", "le", "ki", "di", "pa", "go", "fe", "ba", "tu", "hi", "co",
                   "ve", "wu", "ye", "zu", "xi", "du", "no")][:500]


def main() -> None:
    rows = int(sys.argv[1])
    out = open(sys.argv[2], "w", newline="") if len(sys.argv) > 2 else sys.stdout
    out.write("phone,first_name,order\n")
    for i in range(1, rows + 1):
        if i % 100 == 0:
            phone = f"415555{i:07d}"  # no '+': rejected
        elif i % 250 == 0:
            phone = f"+1415{2_000_000 + i - 1:07d}"  # the row before's number: a duplicate
        else:
            phone = f"+1415{2_000_000 + i:07d}"
        out.write(f"{phone},{NAMES[i % len(NAMES)]},{100000 + i}\n")


if __name__ == "__main__":
    main()
