# Battery monitor: charge left and runtime at the present load, from the bank's terminal
# voltage and current, in integers (it runs inside the control loop).
#
# Two estimates of the state of charge are kept and the lower one is believed:
#   coulomb  charge counted from the current, high currents weighted by Peukert's law
#   voltage  the open-circuit voltage recovered from the terminal voltage (V + I*R) on a
#            lead-acid curve, 1.93 V/cell empty to 2.15 V/cell full. R is measured at
#            every large load step (the voltage change over the current change); until
#            the first step, battery.r_mohm from the settings is used.
# A tired battery sags more under load than its rating says, so the voltage estimate
# falls faster than the coulomb count and keeps the runtime honest. During a steady
# discharge the capacity is also measured: charge drawn per per-mille of voltage-estimated
# charge lost. When that is below the rating, the runtime uses it (a weak battery must
# never be the reason the generator comes too late).
# Until a discharge has measured it, the controller cannot know how much of the rating a
# bank has kept: a worn one looks new until about 2 % of its charge has gone. So the
# runtime battery low and the generator's hurry count on (sure_s) is what a bank at
# battery.min_health_pct, in the coldest room allowed when no sensor reads it, would have
# left once that measurement is in; a good bank loses nothing by the wait, and a worn one
# raises battery low before the measurement could come too late.
#
# Every product is kept below 2^30 (a small int on the boards) for banks up to 480 V and
# 1000 Ah and currents up to 500 A.
# Runtime counts only the charge above the point where the terminal voltage under this
# load would reach the inverter's cut-out (cutoff_mv_per_cell).
#
# A reading no battery can give (below 1.0 or above 2.8 V per cell, or a current beyond
# 5C) is the sensor, or a bank that is no longer connected: sensor_fault is set and the
# readings are not used. The runtime is then reckoned blind: the charge at the last good
# reading, drawn at the UPS's full rating (ups.rating_w) for as long as the load is on
# battery, so battery low comes no later than it could be needed.
from array import array

from micropython import const

_EMPTY_MV = const(1930)  # per cell, open circuit
_SPAN_MV = const(220)  # full (2150) minus empty
_PERIOD_MS = const(1000)  # the estimate is refreshed once a second
_REST_MS = const(60000)  # at rest this long: trust the voltage fully
_SETTLE_MS = const(2000)  # into a discharge before capacity is measured
_LEARN_P10 = const(
    200
)  # voltage-estimated charge lost (0.1 per mille) before capacity is believed
_MIN_MV = const(1000)  # per cell: a plausible reading lies in between
_MAX_MV = const(2800)
_MAX_RATED_MA = const(500000)
_DEAD_MS = const(300)  # on battery with no current this long: it cannot carry the load
_LEARN_WAIT_S = const(3)  # the settling before a measurement starts, and its refresh
NO_RUNTIME_LIMIT = const(999999)


class BatteryMonitor:
    def __init__(self, cfg, ticks_diff):
        self._diff = ticks_diff
        self._peukert = array("H", [1024] * 256)
        self.configure(cfg)
        self.charge_uah = -1  # unknown until the first reading
        self.runtime_s = NO_RUNTIME_LIMIT
        self.sure_s = NO_RUNTIME_LIMIT  # the runtime a decision may count on (see above)
        self.soc_pm = 1000  # state of charge, per mille
        self.voltage_mv = 0
        self.current_ma = 0  # discharge positive
        self._t = 0
        self._t_rest = 0
        self.r_measured = 0  # internal resistance from the last load step, mOhm
        self._v_prev = 0
        self._i_prev = 0
        self.learned_mah = 0  # lowest capacity measured in a discharge since boot, 0 if none
        self._learned0 = 0  # that, before the present discharge
        self._dis_t = 0
        self._dis_i = 0
        self._drawn_uah = 0
        self._soc0 = -1
        self.sensor_fault = False
        self._blind_uah = 0
        self.temp_pm = 1000  # capacity at the room's temperature (environment.py)
        self.worst_temp_pm = 1000  # the same, at the coldest the room may be when unread
        self.dead = False  # carrying the load, it gave out (watch())
        self._t_alive = 0

    def configure(self, cfg):
        self.cells = max(1, cfg.get("battery.nominal_v") // 2)
        cap_ah = cfg.get("battery.capacity_ah")
        self.cap_mah = cap_ah * cfg.get("battery.health_pct") * 10
        self._worst_mah = cap_ah * cfg.get("battery.min_health_pct") * 10
        self._i20 = max(1, cap_ah * 1000 // 20)
        self._r = cfg.get("battery.r_mohm")
        self._cutoff_cell = cfg.get("battery.cutoff_mv_per_cell")
        self._max_ma = cap_ah * 5000
        rated = cfg.get("ups.rating_w") * 1000 // cfg.get("battery.nominal_v")
        self._rated_ma = rated if rated < _MAX_RATED_MA else _MAX_RATED_MA
        k = cfg.get("battery.peukert") - 1.0
        # Peukert weight x1024 for a current of i/4 times the 20-hour current.
        for i in range(256):
            ratio = i / 4.0
            self._peukert[i] = int(1024 * (ratio**k if ratio > 1.0 else 1.0))

    def _resistance(self):
        return self.r_measured if self.r_measured else self._r

    def _measure_r(self, v_mv, i_ma):
        # A step of a quarter of the 20-hour current is enough: the transfer of a small
        # load onto a big bank must measure it too, or battery.r_mohm (sized for some
        # other bank) is believed all through the discharge, and I x its error in the
        # open-circuit voltage is a share of the charge that is not there.
        di = i_ma - self._i_prev
        step = self._i20 >> 2
        if di > step or -di > step:
            r = (self._v_prev - v_mv) * 1000 // di
            if 0 < r <= 5000:
                self.r_measured = r
        self._v_prev = v_mv
        self._i_prev = i_ma

    def _soc_from_voltage(self, v_mv, i_ma):
        # In tenths of a per mille, on the bank's voltage rather than per cell: a millivolt
        # per cell is 4.5 per mille, and the capacity measurement divides by a loss of 2 %.
        ocv = v_mv + i_ma // 10 * self._resistance() // 100
        return self._share10(ocv - _EMPTY_MV * self.cells)

    def _share10(self, mv):
        # mV above empty on the bank's curve, in tenths of a per mille of the span
        span = _SPAN_MV * self.cells
        if mv <= 0:
            return 0
        return 10000 if mv >= span else mv * 10000 // span

    def _weighted(self, i_ma):
        # Peukert weight interpolated between the quarter steps of the 20-hour current (the
        # step below would count up to 4 % too little between 1 and 2 times that current).
        q = i_ma * 4
        i20 = self._i20
        idx = q // i20
        p = self._peukert
        if idx >= 255:
            w = p[255]
        else:
            w = p[idx] + (p[idx + 1] - p[idx]) * (q - idx * i20) // i20
        # i * w >> 10 in two parts, each below 2^30 at 500 A whatever the exponent
        return i_ma * (w >> 10) + (i_ma * (w & 1023) >> 10)

    def watch(self, now, v_mv, i_ma, carrying):
        # Called at every supervisor step with fresh readings; carrying: the load has been
        # switched to the battery's side and the relay has landed. A bank that cannot carry
        # the load (worn out, a cell open, a breaker tripped) lets the inverter cut out:
        # the current stops, or the voltage sits at the cut-out. Seen for _DEAD_MS, the
        # battery is dead and its runtime 0 until the load leaves it. The estimates above
        # cannot tell: they are refreshed once a second, and with no current they see a
        # battery at rest, with all the time in the world.
        if not carrying:
            self._t_alive = now
            self.dead = False
            return False
        gone = (i_ma <= self._i20 // 20 or v_mv <= self._cutoff_cell * self.cells) and not (
            self.sensor_fault or v_mv < self.cells * _MIN_MV
        )
        if not gone:
            self._t_alive = now
        elif not self.dead and self._diff(now, self._t_alive) >= _DEAD_MS:
            self.dead = True
            self.runtime_s = self.sure_s = 0
        return self.dead

    def update(self, now, v_mv, i_ma, on_batt):
        # Called every block; does its work once a second.
        if self.charge_uah >= 0 and self._diff(now, self._t) < _PERIOD_MS:
            return
        if not (
            self.cells * _MIN_MV <= v_mv <= self.cells * _MAX_MV
            and -self._max_ma <= i_ma <= self._max_ma
        ):
            self._blind(now, on_batt)
            return
        if self.sensor_fault:
            # readings again: what was drawn blind is not in the coulomb count
            self.sensor_fault = False
            if self._blind_uah < self.charge_uah:
                self.charge_uah = self._blind_uah
        self.voltage_mv = v_mv
        self.current_ma = i_ma
        if self.charge_uah >= 0:
            self._measure_r(v_mv, i_ma)
        else:
            self._v_prev = v_mv
            self._i_prev = i_ma
        soc10 = self._soc_from_voltage(v_mv, i_ma)
        soc_v = soc10 // 10
        cap_uah = self.cap_mah * 1000
        if self.charge_uah < 0:
            self.charge_uah = cap_uah // 1000 * soc_v
            self._t = now
            self._t_rest = now
        else:
            dt = self._diff(now, self._t)
            self._t = now
            if dt > 2 * _PERIOD_MS:
                dt = 2 * _PERIOD_MS
            # mA x ms / 3600 = uAh, divided in two steps to stay a small int
            if i_ma > 0:
                drawn = self._weighted(i_ma) // 10 * dt // 360
                self.charge_uah -= drawn
                self._learn(now, i_ma, drawn, soc10)
            else:
                self._dis_i = 0
                self.charge_uah += (-i_ma) * 85 // 1000 * dt // 360
            rest = -self._i20 // 10 < i_ma < self._i20 // 10
            if not rest:
                self._t_rest = now
            elif self._diff(now, self._t_rest) >= _REST_MS:
                # long at rest: the voltage is the better estimate, follow it
                target = cap_uah // 1000 * soc_v
                self.charge_uah += (target - self.charge_uah) >> 3
        if self.charge_uah < 0:
            self.charge_uah = 0
        elif self.charge_uah > cap_uah:
            self.charge_uah = cap_uah
        soc_c = self.charge_uah // self.cap_mah
        self.soc_pm = soc_c if soc_c < soc_v else soc_v
        if self.dead:
            self.runtime_s = self.sure_s = 0
        else:
            self._runtime(v_mv, i_ma, soc10)

    def _blind(self, now, on_batt):
        if not self.sensor_fault:
            self.sensor_fault = True
            self._blind_uah = self.charge_uah if self.charge_uah > 0 else 0
            self._t = now
            self._dis_i = 0
        dt = self._diff(now, self._t)
        self._t = now
        if dt > 2 * _PERIOD_MS:
            dt = 2 * _PERIOD_MS
        ma = self._rated_ma
        if on_batt:
            self._blind_uah -= ma * dt // 3600
            if self._blind_uah < 0:
                self._blind_uah = 0
        # uAh / mA is 3.6 s
        self.runtime_s = (self._blind_uah // ma * 36 // 10) if on_batt else NO_RUNTIME_LIMIT
        self.sure_s = self.runtime_s

    def _learn(self, now, i_ma, drawn, soc10):
        # Measure the capacity over a steady discharge (the load within 10 % of where it
        # started, so that the sag does not move the voltage estimate). The figure is the
        # latest of this discharge (it sharpens as more charge is seen to go) or what an
        # earlier one measured, if less.
        i0 = self._dis_i
        if i0 == 0 or i_ma * 10 < i0 * 9 or i_ma * 10 > i0 * 11:
            self._dis_i = i_ma
            self._dis_t = now
            self._drawn_uah = 0
            self._soc0 = -1
            self._learned0 = self.learned_mah
            return
        self._drawn_uah += drawn
        if self._soc0 < 0:
            if self._diff(now, self._dis_t) >= _SETTLE_MS:
                self._soc0 = soc10
                self._drawn_uah = 0
            return
        lost = self._soc0 - soc10
        if lost >= _LEARN_P10:
            mah = self._drawn_uah // lost * 10  # uAh per per-mille is mAh
            prev = self._learned0
            self.learned_mah = mah if prev == 0 or mah < prev else prev

    def capacity_mah(self):
        # The rating at the room's temperature, or what a discharge measured if less (that
        # was measured at whatever temperature the room had: no correction on top).
        cap = self.cap_mah // 100 * self.temp_pm // 10  # stays below 2^30 at 1000 Ah
        if 0 < self.learned_mah < cap:
            return self.learned_mah
        return cap

    def _runtime(self, v_mv, i_ma, soc10):
        # Sets runtime_s and sure_s.
        self.runtime_s = self.sure_s = NO_RUNTIME_LIMIT
        if i_ma <= self._i20 // 20:
            return
        self.runtime_s = self.sure_s = 0
        cutoff = self._cutoff_cell * self.cells
        if v_mv <= cutoff:
            return
        # The inverter draws constant power: as the voltage falls to the cut-out the
        # current rises by v/cutoff. Reckon with that current, sag and Peukert both.
        i_ma = i_ma * (v_mv * 1024 // cutoff) >> 10
        # in tenths of a per mille: near empty a per mille is a tenth of what is left
        sag = i_ma // 10 * self._resistance() // 100  # mV over the bank
        floor = self._share10((self._cutoff_cell - _EMPTY_MV) * self.cells + sag)
        share = self.soc_pm * 10 - floor
        if share <= 0:
            return
        per = (self._weighted(i_ma) >> 4) or 1
        cap = self.capacity_mah()
        s = _seconds(cap, share, per)
        self.runtime_s = self.sure_s = s
        if self.learned_mah:
            return
        worst = self._worst_mah // 100 * self.worst_temp_pm // 10
        if worst >= cap:
            return
        # what is still to go before the capacity is measured (see _learn)
        left = _LEARN_P10 - (self._soc0 - soc10 if self._soc0 >= 0 else 0)
        if left < 0:
            left = 0
        sure = _seconds(worst, share, per) - _seconds(worst, left, per) - _LEARN_WAIT_S
        if sure < s:
            self.sure_s = sure if sure > 0 else 0


def _seconds(mah, share, per):
    # How long mah x share (tenths of a per mille) lasts at per (the Peukert-weighted
    # current / 16): mAh x 3600 / mA as x 225 / (mA / 16), capacity as /16 x share / 625,
    # each below 2^30 at 1000 Ah.
    s = (mah >> 4) * share // 625 * 225 // per
    return s if s < NO_RUNTIME_LIMIT else NO_RUNTIME_LIMIT
