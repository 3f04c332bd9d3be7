# The battery room: its temperature from the board (a DS18B20, env.sensor), alarms when it
# is too hot or too cold, and the capacity factor the battery monitor reckons with.
#
# Once a second (Controller.service). A level must hold for _QUAL_S before its alarm is
# raised, and the alarm clears _HYST_C10 inside the limit, so a reading hovering at the limit
# does not flap. With env.sensor on and no reading for _QUAL_S, room_sensor_fault (the runtime
# then reckons at 25 C, and the room alarms stand as they were).
#
# Lead-acid capacity falls with temperature, about 0.8 % per degree below 25 C (80 % at
# 0 C), and rises a little above it: capacity_pm() follows that (IEEE 485's correction
# factors, straightened), clamped to 50..110 %. Heat shortens the battery's life instead:
# its service life halves for about every 8-10 C above 25 C, hence the hot alarm.
from micropython import const

from firmware import alarms, hal

_QUAL_S = const(60)
_HYST_C10 = const(20)


def capacity_pm(temp_c10):
    pm = 1000 + 8 * (temp_c10 - 250) // 10
    return 500 if pm < 500 else (1100 if pm > 1100 else pm)


class Environment:
    def __init__(self, cfg, alarm_set):
        self._alarms = alarm_set
        self.temp_c10 = hal.NO_READING  # the last good reading
        self._hot_s = self._cold_s = self._missing_s = 0
        self.configure(cfg)

    def configure(self, cfg):
        self.fitted = cfg.get("env.sensor")
        self._high = cfg.get("env.temp_high_c") * 10
        self._low = cfg.get("env.temp_low_c") * 10

    def capacity_pm(self):
        # What the battery holds at this room temperature, per mille of its 25 C rating.
        return 1000 if self.temp_c10 == hal.NO_READING else capacity_pm(self.temp_c10)

    def worst_capacity_pm(self):
        # The same for a decision that must hold whatever the room: with no reading, the
        # room may be as cold as env.temp_low_c lets it be without an alarm.
        return capacity_pm(self._low if self.temp_c10 == hal.NO_READING else self.temp_c10)

    def update(self, now, reading):
        # Once a second: reading in 0.1 C, or hal.NO_READING.
        a = self._alarms
        if not self.fitted:
            self.temp_c10 = hal.NO_READING
            return
        if reading == hal.NO_READING:
            self._missing_s += 1
            if self._missing_s >= _QUAL_S:
                self.temp_c10 = hal.NO_READING
                a.raise_(now, alarms.AL_ROOM_SENSOR)
            return
        self._missing_s = 0
        a.clear(now, alarms.AL_ROOM_SENSOR)
        self.temp_c10 = reading
        self._hot_s = self._level(
            now,
            reading > self._high,
            reading <= self._high - _HYST_C10,
            self._hot_s,
            alarms.AL_ROOM_HOT,
        )
        self._cold_s = self._level(
            now,
            reading < self._low,
            reading >= self._low + _HYST_C10,
            self._cold_s,
            alarms.AL_ROOM_COLD,
        )

    def _level(self, now, beyond, back, held_s, code):
        if beyond:
            held_s += 1
            if held_s >= _QUAL_S:
                self._alarms.raise_(now, code)
            return held_s
        if back:
            self._alarms.clear(now, code)
        return 0
