"""The flight control (app.flight): more frames in flight only where they buy rate, fewer where latency suffers."""

from __future__ import annotations

from reenact.app.flight import FlightConfig, FlightControl


class Machine:
    """A pipeline whose rate and latency depend on the frames in flight, beside other programs using `others`
    cores: it delivers frames to the control and keeps its CPU clock."""

    def __init__(self, rate: dict[int, float], latency: dict[int, float], others: float) -> None:
        self.rate, self.latency, self.others = rate, latency, others
        self.now = self.busy = self.own = 0.0

    def clock(self) -> tuple[float, float]:
        return self.busy, self.own

    def run(self, control: FlightControl, frames: int) -> list[int]:
        """Limits in force, frame by frame."""
        limits = []
        for _ in range(frames):
            k = control.limit
            dt = 1.0 / self.rate[k]
            self.now += dt
            self.own += 0.9 * dt
            self.busy += 0.9 * dt + self.others * dt
            limits.append(control.observe(self.latency[k], self.now))
        return limits


def test_an_idle_machine_keeps_the_frames_in_flight_that_raise_the_rate() -> None:
    machine = Machine(rate={1: 35.0, 2: 52.0, 3: 53.0}, latency={1: 30.0, 2: 48.0, 3: 60.0}, others=0.0)
    control = FlightControl(FlightConfig(window=10), clock=machine.clock)
    limits = machine.run(control, 400)
    assert limits[-1] == 2  # 3 barely raised the rate: taken back
    tried_three = [w for w in control.windows if w.limit == 3]
    assert tried_three and len(tried_three) < 6  # retried, each time after twice as long
    assert sum(1 for k in limits if k == 2) > 0.8 * len(limits)


def test_a_shared_machine_keeps_the_latency_in_budget() -> None:
    machine = Machine(rate={1: 40.0, 2: 44.0, 3: 45.0}, latency={1: 31.0, 2: 58.0, 3: 80.0}, others=1.0)
    control = FlightControl(FlightConfig(window=10), clock=machine.clock)
    limits = machine.run(control, 300)
    assert set(limits) == {1}  # 31 ms doubled would not fit 50: no trial costs a window of late frames
    assert all(w.others > 0.9 for w in control.windows)


def test_load_that_arrives_takes_frames_out_of_flight() -> None:
    machine = Machine(rate={1: 35.0, 2: 52.0, 3: 58.0}, latency={1: 30.0, 2: 45.0, 3: 49.0}, others=0.0)
    control = FlightControl(FlightConfig(window=10), clock=machine.clock)
    assert machine.run(control, 200)[-1] == 3
    machine.latency = {1: 31.0, 2: 58.0, 3: 85.0}  # a call starts beside it
    machine.rate = {1: 40.0, 2: 44.0, 3: 45.0}
    machine.others = 1.0
    limits = machine.run(control, 200)
    assert limits[-1] == 1 and limits.index(1) <= 25  # one window per step down
