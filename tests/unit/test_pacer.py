"""A provider's rate holds however many threads send to it at once."""

from __future__ import annotations

import threading
import time

from tidings.notify.delivery.dispatcher import Pacer


def test_eight_threads_sending_twenty_messages_keep_to_a_rate_of_fifty_per_second() -> None:
    pacer = Pacer(rate_per_s=50)
    stamps: list[float] = []
    lock = threading.Lock()

    def sender() -> None:
        for _ in range(20):
            pacer.wait()
            with lock:
                stamps.append(time.monotonic())

    threads = [threading.Thread(target=sender) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    stamps.sort()
    assert len(stamps) == 160
    # 160 sends at 50/s cannot take less than 159 intervals of 20 ms
    assert stamps[-1] - stamps[0] >= 159 * 0.02 * 0.99
    # and no one-second window holds more than the rate (plus the one at its edge)
    assert max(sum(1 for s in stamps if t <= s < t + 1.0) for t in stamps) <= 51
