"""`mlgov audit`'s progress bar: on a terminal only, one line rewritten in place, ended once."""

from __future__ import annotations

import io

from mlgov.commands.lineage_audit import AuditProgress
from mlgov_runtime.core.pool import bounded_map


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_one_bar_rewritten_in_place_and_ended_once() -> None:
    stream = Terminal()
    progress = AuditProgress(3, stream)
    bounded_map(lambda name: name.upper(), ["a", "b", "c"], 2, done=progress.done)
    text = stream.getvalue()
    assert text.count("\r") == 3 and text.endswith("audited 3/3 endpoints\n") and text.count("\n") == 1


def test_a_pipe_or_file_gets_nothing() -> None:
    stream = io.StringIO()
    progress = AuditProgress(3, stream)
    bounded_map(lambda name: name, ["a", "b", "c"], 2, done=progress.done)
    assert stream.getvalue() == ""


def test_the_worker_keeps_item_order_and_its_bound() -> None:
    import threading

    running, peak, lock = [0], [0], threading.Lock()
    gate = threading.Barrier(3, timeout=10)

    def work(i: int) -> int:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        if i < 3:
            gate.wait()  # the first three meet: three run at once
        with lock:
            running[0] -= 1
        return i * 10

    assert bounded_map(work, range(9), 3) == [i * 10 for i in range(9)]
    assert peak[0] == 3
