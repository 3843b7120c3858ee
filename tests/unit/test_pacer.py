"""A provider's rate holds however many threads send to it at once (no wall-clock timing:
the pacer's clock and sleep are replaced, so the test says what slots it hands out)."""

from __future__ import annotations

import threading

from tidings.notify.delivery.send import Pacer


class FrozenClock:
    """Every thread asks at the same moment; each records when its send may go."""

    def __init__(self) -> None:
        self.now = 100.0
        self.send_times: list[float] = []
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.send_times.append(self.now + seconds)


def test_eight_threads_sending_twenty_messages_are_spaced_to_fifty_per_second() -> None:
    clock = FrozenClock()
    pacer = Pacer(rate_per_s=50, monotonic=clock.monotonic, sleep=clock.sleep)

    def sender() -> None:
        for _ in range(20):
            pacer.wait()

    threads = [threading.Thread(target=sender) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # The first send goes at once (no sleep); the other 159 each get a slot of their own,
    # 20 ms after the one before: no two threads share a slot, none is skipped.
    slots = sorted(round((t - clock.now) * 1000) for t in clock.send_times)
    assert slots == [20 * n for n in range(1, 160)]


def test_a_send_after_a_quiet_spell_goes_at_once() -> None:
    clock = FrozenClock()
    pacer = Pacer(rate_per_s=10, monotonic=clock.monotonic, sleep=clock.sleep)
    pacer.wait()
    pacer.wait()
    clock.now += 5.0
    pacer.wait()
    assert [round(t - 100.0, 3) for t in clock.send_times] == [0.1]
