"""VirtualClock: the local clock of one simulated machine, drifting and jumping.

The simulator keeps one global time in microseconds. Each machine reads its own clock, a
piecewise-linear function of global time (TigerBeetle's ``TimeSim`` offset models)::

    local_us(g) = anchor_local_us + (g - anchor_global_us) * (1_000_000 + drift_ppm) // 1_000_000

``drift_ppm`` models a crystal running fast or slow (a few hundred ppm is realistic; the
scenarios use far more to stress the protocol). ``jump`` moves the local clock by a step, forward
(a stalled VM or process, a suspend) or backward (the protocol must never rely on monotonicity
for safety). Integer arithmetic only, so runs are reproducible bit for bit.

The simulator asks the inverse question to schedule a node's timer: at what global time does
the local clock first reach ``deadline_ms``?
"""

from __future__ import annotations

_PPM = 1_000_000


class VirtualClock:
    def __init__(self, drift_ppm: int = 0, offset_us: int = 0):
        if drift_ppm <= -_PPM:
            raise ValueError("drift_ppm must keep the clock moving forward")
        self.drift_ppm = drift_ppm
        self._anchor_global_us = 0
        self._anchor_local_us = offset_us
        self.jumps = 0

    def local_us(self, global_us: int) -> int:
        elapsed = global_us - self._anchor_global_us
        return self._anchor_local_us + elapsed * (_PPM + self.drift_ppm) // _PPM

    def local_ms(self, global_us: int) -> int:
        return self.local_us(global_us) // 1000

    def jump(self, global_us: int, delta_us: int) -> None:
        """Step the local clock by ``delta_us`` at ``global_us`` (negative: backwards)."""
        self._reanchor(global_us)
        self._anchor_local_us += delta_us
        self.jumps += 1

    def set_drift(self, global_us: int, drift_ppm: int) -> None:
        if drift_ppm <= -_PPM:
            raise ValueError("drift_ppm must keep the clock moving forward")
        self._reanchor(global_us)
        self.drift_ppm = drift_ppm

    def global_us_when(self, local_ms: int, not_before_us: int) -> int:
        """Earliest global time >= ``not_before_us`` at which ``local_ms(g) >= local_ms``."""
        target_local_us = local_ms * 1000
        if self.local_us(not_before_us) >= target_local_us:
            return not_before_us
        rate = _PPM + self.drift_ppm
        needed_us = target_local_us - self._anchor_local_us
        global_us = self._anchor_global_us + -(-needed_us * _PPM // rate)  # ceiling division
        while self.local_us(global_us) < target_local_us:  # absorb floor rounding
            global_us += 1
        while global_us - 1 >= not_before_us and self.local_us(global_us - 1) >= target_local_us:
            global_us -= 1
        return max(global_us, not_before_us)

    def _reanchor(self, global_us: int) -> None:
        self._anchor_local_us = self.local_us(global_us)
        self._anchor_global_us = global_us
