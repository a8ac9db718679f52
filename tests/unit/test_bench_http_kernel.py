"""bench/http_kernel.py: perf stat's CSV read by event name, and perf script's samples split into
app / runtime / kernel, the kernel's by the syscall they ran under and its interrupt re-enables
by caller."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))
import http_kernel  # noqa: E402  (bench/ is not a package)

# `perf script -G -F ip`: every sample's address (two user-space ones, one in the runtime).
IPS = "  53a91b\n  7e0000012345\n ffffffff81e946f5\n ffffffff81000200\n ffffffff81000300\n"
# `perf script -F ip,sym` with kernel call chains: the user-space samples' chains are empty.
CHAINS = """


\tffffffff81e946f5 _raw_spin_unlock_irqrestore+0x15
\tffffffff81e94000 sock_def_readable+0x40
\tffffffff82067c30 tcp_data_queue+0x100
\tffffffff82067f3f tcp_rcv_established+0x10
\tffffffff816d8d79 __x64_sys_sendto+0x20
\tffffffff8223c951 do_syscall_64+0x80
\tffffffff81000130 entry_SYSCALL_64_after_hwframe+0x76

\tffffffff81000200 __seccomp_filter+0x10
\tffffffff81000210 syscall_trace_enter+0x30
\tffffffff8223c951 do_syscall_64+0x80
\tffffffff81000130 entry_SYSCALL_64_after_hwframe+0x76

\tffffffff81000300 handle_softirqs+0x10
\tffffffff81000310 asm_sysvec_apic_timer_interrupt+0x1a
"""


def test_samples_are_split_by_class_syscall_and_wake_site(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_run(argv: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(argv, 0, IPS if "-G" in argv else CHAINS, "")

    monkeypatch.setattr(http_kernel.subprocess, "run", fake_run)
    cls, by_call, wake = http_kernel.samples(Path("x.data"), (0x7E0000000000, 0x7E0000100000))
    assert dict(cls) == {"app": 1, "runtime": 1, "kernel": 3}
    assert dict(by_call) == {"sendto": 1, "entry": 1, "interrupt": 1}
    assert dict(wake) == {"sock_def_readable < tcp_data_queue < tcp_rcv_established": 1}


def test_the_runtime_code_is_found_in_the_maps(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    art = tmp_path / "srv-linux-userland"
    maps = (f"7f1200000000-7f1200010000 r--p 00000000 00:10 5 {art}\n"
            f"7f1200010000-7f12000c0000 r-xp 00010000 00:10 5 {art}\n"
            f"7f1300000000-7f1300100000 r-xp 00400000 00:10 5 {art}\n"
            "7f1400000000-7f1400001000 r-xp 00000000 00:10 6 /lib/libc.so.6\n")
    real = http_kernel.Path

    class FakePath(type(real())):  # type: ignore[misc]
        def read_text(self, *a: Any, **k: Any) -> str:
            return maps if str(self).startswith("/proc/") else real(self).read_text(*a, **k)

    monkeypatch.setattr(http_kernel, "Path", FakePath)
    assert http_kernel.runtime_code(42, str(art)) == (0x7F1200010000, 0x7F12000C0000)
    assert http_kernel.runtime_code(42, "/usr/bin/python3") == http_kernel.NO_RUNTIME


def test_perf_stat_csv_is_read_by_event_name(tmp_path: Path) -> None:
    stat = tmp_path / "s.txt"
    stat.write_text("# started on Sun Dec  6 06:49:19 2026\n\n"
                    "3066.12,msec,task-clock,3066120000,100.00,1.0,CPUs utilized\n"
                    "27341,,ipi:ipi_send_cpu,3066120000,100.00,,\n"
                    "<not counted>,,irq_vectors:reschedule_entry,0,100.00,,\n")
    assert http_kernel.counts(stat) == {"task-clock": 3066.12, "ipi:ipi_send_cpu": 27341.0}
