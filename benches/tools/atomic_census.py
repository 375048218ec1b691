#!/usr/bin/env python3
"""Where a benchmark's time sits on atomic instructions.

Reads `perf annotate --stdio` output and sums, per function, the samples on
each lock-prefixed instruction or `xchg` with memory (the register-only
`xchg %ax,%ax` is an alignment no-op) and on the instruction after it (where
a sampled stall is usually charged; when two atomics are adjacent, the
second's own samples count for both). Shares are of the annotated samples:
those perf could attribute to a function. Prints the share of all samples
and the heaviest sites by address; `addr2line -i -f -C -e BINARY ADDRESS`
names the source of a site, inlined callers included.

    perf record -o perf.data BINARY --bench FILTER --profile-time 5
    perf annotate -i perf.data --stdio > annotate.txt
    python3 benches/tools/atomic_census.py annotate.txt

Used for the census in docs/PERFORMANCE.md (sixth round).
"""

import collections
import re
import sys


def main(path: str, top: int = 40) -> None:
    total = 0
    atomic_total = 0.0
    per_function = collections.Counter()
    sites = []
    function, samples, pending = None, 0, None
    with open(path, encoding="utf-8", errors="replace") as lines:
        for line in lines:
            header = re.search(r"Disassembly of .* for \S+ \((\d+) samples", line)
            if header:
                samples = int(header.group(1))
                total += samples
                function, pending = None, None
                continue
            # The function's label: `: 5   00000000001234 <name>:` (the
            # column before the address is absent in some perf versions).
            start = re.match(r"\s+:\s+(?:\d+\s+)?[0-9a-f]+ <(.*)>:", line)
            if start and function is None:
                function = start.group(1)
                continue
            row = re.match(r"\s+([0-9]+\.[0-9]+) :\s+([0-9a-f]+):\s+(.*)", line)
            if not row:
                continue
            share = float(row.group(1)) / 100 * samples
            address, instruction = row.group(2), row.group(3)
            if pending is not None:
                if function is None:
                    sys.exit(f"{path}: a sample before any function label; unknown perf format")
                weight = pending[1] + share
                sites.append((weight, pending[0], function, pending[2]))
                per_function[function] += weight
                atomic_total += weight
                pending = None
            if instruction.startswith("lock") or (
                instruction.startswith("xchg") and "(" in instruction
            ):
                pending = (address, share, instruction)
    if total == 0:
        sys.exit(f"{path}: no samples found (is it `perf annotate --stdio` output?)")
    print(f"{100 * atomic_total / total:.1f}% of {total} samples on or just after an atomic instruction")
    print("\nby function:")
    for function, weight in per_function.most_common(top):
        print(f"  {100 * weight / total:5.2f}%  {function}")
    print("\nheaviest sites (address, instruction, function):")
    for weight, address, function, instruction in sorted(sites, reverse=True)[:top]:
        print(f"  {100 * weight / total:5.2f}%  {address}  {instruction[:32]:32}  {function}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
