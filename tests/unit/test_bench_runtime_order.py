"""bench/runtime_order.py: the functions a fork child returns through stay together in the
ordering file it writes, wherever the first of them ran."""
from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))
import runtime_order  # noqa: E402  (bench/ is not a package)

ENTRY = "litebox_fastpath_dispatch"
SHIM = "_ZN13litebox_libos4shim8dispatch17h0123456789abcdefE"
PROCESS = "_ZN13litebox_libos4shim7process8dispatch17hfedcba9876543210E"


def test_fork_return_path_is_moved_next_to_its_first_function() -> None:
    order = ["main", ENTRY, "a", SHIM, "b", "c", PROCESS, "d"]
    got = runtime_order.keep_together(order, runtime_order.FORK_RETURN)
    assert got == ["main", ENTRY, SHIM, PROCESS, "a", "b", "c", "d"]


def test_group_lands_where_its_earliest_member_ran() -> None:
    order = ["main", PROCESS, "a", ENTRY, "b", SHIM]
    got = runtime_order.keep_together(order, runtime_order.FORK_RETURN)
    assert got == ["main", ENTRY, SHIM, PROCESS, "a", "b"]


def test_order_unchanged_when_fewer_than_two_ran() -> None:
    order = ["main", "a", PROCESS, "b"]
    assert runtime_order.keep_together(order, runtime_order.FORK_RETURN) == order


def test_linker_script_lists_the_group_back_to_back() -> None:
    order = runtime_order.keep_together(["x", ENTRY, "y", SHIM, PROCESS], runtime_order.FORK_RETURN)
    lines = [ln for ln in runtime_order.linker_script(order).splitlines() if ln.strip().startswith("*(.text.")]
    names = [ln.split()[0] for ln in lines]
    assert names[1:4] == [f"*(.text.{ENTRY}", "*(.text._ZN13litebox_libos4shim8dispatch17h*",
                          "*(.text._ZN13litebox_libos4shim7process8dispatch17h*"]


def test_fork_tables_follow_the_plain_text_in_the_written_and_the_checked_in_script() -> None:
    # The jump tables and routing table a fork child reads sit in the code window it faults in
    # anyway (issue 17 spawn3): right after `*(.text)`, before any ordered function, in what
    # linker_script writes and in the file the runtime is linked with.
    tables = f"    *({' '.join(runtime_order.FORK_TABLES)})"
    written = runtime_order.linker_script(["x"]).splitlines()
    checked_in = (BENCH.parent / "platform_targets/linux_userland/runtime/startup-order.ld").read_text().splitlines()
    for lines in (written, checked_in):
        at = lines.index("    *(.text)")
        assert lines[at + 1] == tables
