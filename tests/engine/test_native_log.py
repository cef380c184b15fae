"""What native code writes to file descriptor 2 while a library starts becomes INFO log lines, not terminal noise."""

from __future__ import annotations

import logging
import os
import threading

import pytest

from reenact.engine.native_log import native_stderr_to_log

log = logging.getLogger("reenact.test.native")


def test_writes_to_fd_2_become_info_records(capfd: pytest.CaptureFixture, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger=log.name), native_stderr_to_log(log):
        os.write(2, b"W0000 inference_feedback_manager.cc:114] Feedback manager ...\nINFO: Created delegate\n")
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.INFO, "W0000 inference_feedback_manager.cc:114] Feedback manager ..."),
        (logging.INFO, "INFO: Created delegate")]


def test_overlapping_captures_in_two_threads_restore_fd_2(capfd: pytest.CaptureFixture,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    inside, leave = threading.Event(), threading.Event()

    def other() -> None:
        with native_stderr_to_log(log):
            os.write(2, b"from the other thread\n")
            inside.set()
            leave.wait(5)

    thread = threading.Thread(target=other)
    with caplog.at_level(logging.INFO, logger=log.name):
        thread.start()
        inside.wait(5)
        with native_stderr_to_log(log):
            os.write(2, b"from this thread\n")
        leave.set()  # this block ended first; the other thread's is still open
        thread.join(5)
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"
    assert sorted(r.getMessage() for r in caplog.records) == ["from the other thread", "from this thread"]
