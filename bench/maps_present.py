#!/usr/bin/env python3
"""Present pages per mapping of a running process, from /proc/PID/maps and /proc/PID/pagemap.

    python3 bench/maps_present.py PID

One line per mapping: range, permissions, file offset, present pages, name; then the total and
the number of mappings. A fork copies the page-table entries of the present pages of every
private mapping that has been written (it has an `anon_vma`), and the number of mappings
prices each fork's and exit's per-mapping work (issue 17, bench/RESULTS-issue17-spawn10.md).
Needs root (pagemap's present bit is readable by the owner; the PFNs are not needed). Mappings
larger than 4 GiB are counted by walking only their first 4 GiB (a heap reservation's tail is
never touched).
"""

import struct
import sys

PAGE = 4096
WALK_LIMIT = 4 << 30
CHUNK = 1 << 15  # pages per pagemap read


def present_pages(pid: int, start: int, end: int) -> int:
    """Present pages of [start, end) (at most WALK_LIMIT bytes walked) of process pid."""
    end = min(end, start + WALK_LIMIT)
    count = 0
    with open(f"/proc/{pid}/pagemap", "rb") as pm:
        first, npages = start // PAGE, (end - start) // PAGE
        for i in range(0, npages, CHUNK):
            k = min(CHUNK, npages - i)
            pm.seek((first + i) * 8)
            data = pm.read(k * 8)
            count += sum(1 for (e,) in struct.iter_unpack("<Q", data) if e >> 63)
    return count


def main() -> None:
    """Prints the table for the PID given as the only argument."""
    pid = int(sys.argv[1])
    total = mappings = 0
    with open(f"/proc/{pid}/maps") as maps:
        lines = maps.read().splitlines()
    for line in lines:
        f = line.split()
        start, end = (int(x, 16) for x in f[0].split("-"))
        if start >= 0xFFFFFFFFFF600000:  # [vsyscall]: not a mapping of the process's tree
            continue
        n = present_pages(pid, start, end)
        total += n
        mappings += 1
        name = " ".join(f[5:])
        print(f"{f[0]:34s} {f[1]} {f[2]:>8s} {n:5d} {name[-48:]}")
    print(f"total present {total}, mappings {mappings}")


if __name__ == "__main__":
    main()
