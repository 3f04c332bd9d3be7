# Alarms: active and latched bits, so that raising one in the control loop never allocates.
#
# Classes, as on generator controllers: a warning only informs; a shutdown stops the engine
# and latches; an electrical trip takes the generator off the load and latches. A latched
# alarm stays active after its cause is gone until an operator acknowledges it.
from micropython import const

from firmware import events

WARNING = const(0)
SHUTDOWN = const(1)
TRIP = const(2)
CLASS_NAMES = ("warning", "shutdown", "electrical_trip")

AL_TRANSFER_CHATTER = const(1)  # too many transfers in a minute: held on battery
AL_GEN_FAIL_TO_START = const(2)
AL_GEN_OUT_OF_LIMITS = const(3)
AL_GEN_OVERSPEED = const(4)
AL_GEN_FAIL_TO_STOP = const(5)
AL_BATTERY_LOW = const(6)
AL_BATTERY_FAILED = const(7)  # a self-test failed: the battery needs attention
AL_STATE_LOST = const(8)  # the saved counters and schedule were unreadable or unwritable
AL_ENGINE_SERVICE = const(9)  # engine running hours reached the service interval
AL_RELAY_SERVICE = const(10)  # relay and contactor operations reached the inspection interval
AL_BATTERY_AGE = const(11)  # the battery reached its replacement age
AL_CONFIG_LOST = const(12)  # the saved configuration was unreadable: running on defaults
# A relay or contactor whose feedback disagrees with its command (contacts.py).
AL_XFER_RELAY_FAULT = const(13)
AL_MAINS_CONTACTOR_FAULT = const(14)
AL_GEN_CONTACTOR_FAULT = const(15)
AL_MAINS_SENSOR = const(16)  # the mains reading is not mains at all: not used
AL_BATTERY_SENSOR = const(17)  # battery readings out of range: runtime reckoned blind
AL_EMERGENCY_STOP = const(18)  # the emergency stop chain opened: engine stopped
AL_LOW_FUEL = const(19)  # the fuel tank's low-level switch
AL_ROOM_HOT = const(20)  # the battery room above env.temp_high_c: the battery ages fast
AL_ROOM_COLD = const(21)  # below env.temp_low_c: the battery holds less
AL_ROOM_SENSOR = const(22)  # env.sensor on, and no reading from it
AL_BATTERY_DEAD = const(23)  # on battery, the inverter cut out: the bank cannot carry the load

# code: (name, class)
TABLE = {
    AL_TRANSFER_CHATTER: ("transfer_chatter", WARNING),
    AL_GEN_FAIL_TO_START: ("generator_fail_to_start", SHUTDOWN),
    AL_GEN_OUT_OF_LIMITS: ("generator_out_of_limits", TRIP),
    AL_GEN_OVERSPEED: ("generator_overspeed", SHUTDOWN),
    AL_GEN_FAIL_TO_STOP: ("generator_fail_to_stop", WARNING),
    AL_BATTERY_LOW: ("battery_low", WARNING),
    AL_BATTERY_FAILED: ("battery_failed", WARNING),
    AL_STATE_LOST: ("stored_state_lost", WARNING),
    AL_ENGINE_SERVICE: ("engine_service_due", WARNING),
    AL_RELAY_SERVICE: ("relay_service_due", WARNING),
    AL_BATTERY_AGE: ("battery_replacement_due", WARNING),
    AL_CONFIG_LOST: ("config_lost", WARNING),
    AL_XFER_RELAY_FAULT: ("transfer_relay_fault", WARNING),
    AL_MAINS_CONTACTOR_FAULT: ("mains_contactor_fault", WARNING),
    AL_GEN_CONTACTOR_FAULT: ("generator_contactor_fault", WARNING),
    AL_MAINS_SENSOR: ("mains_sensor_fault", WARNING),
    AL_BATTERY_SENSOR: ("battery_sensor_fault", WARNING),
    AL_EMERGENCY_STOP: ("emergency_stop", SHUTDOWN),
    AL_LOW_FUEL: ("low_fuel", WARNING),
    AL_ROOM_HOT: ("battery_room_hot", WARNING),
    AL_ROOM_COLD: ("battery_room_cold", WARNING),
    AL_ROOM_SENSOR: ("room_sensor_fault", WARNING),
    AL_BATTERY_DEAD: ("battery_dead", WARNING),
}
# Warnings that still wait for acknowledgement. The maintenance-due warnings clear when the
# counter is reset (`counters reset ...`), not by themselves.
_LATCHING_WARNINGS = (
    AL_BATTERY_FAILED,
    AL_BATTERY_DEAD,
    AL_STATE_LOST,
    AL_CONFIG_LOST,
    AL_XFER_RELAY_FAULT,
    AL_MAINS_CONTACTOR_FAULT,
    AL_GEN_CONTACTOR_FAULT,
    AL_MAINS_SENSOR,
    AL_BATTERY_SENSOR,
)
NAMES = {code: row[0] for code, row in TABLE.items()}


class Alarms:
    def __init__(self, log):
        self._log = log
        self.active = 0
        self._latching = 0
        for code, row in TABLE.items():
            if row[1] != WARNING or code in _LATCHING_WARNINGS:
                self._latching |= 1 << code

    def raise_(self, now_ms, code):
        bit = 1 << code
        if not self.active & bit:
            self.active |= bit
            self._log.add(now_ms, events.EV_ALARM, code)

    def clear(self, now_ms, code):
        # The cause is gone; a latching alarm waits for acknowledgement.
        bit = 1 << code
        if self.active & bit and not self._latching & bit:
            self.active &= ~bit
            self._log.add(now_ms, events.EV_ALARM_CLEARED, code)

    def ack(self, now_ms, code):
        bit = 1 << code
        if self.active & bit:
            self.active &= ~bit
            self._log.add(now_ms, events.EV_ALARM_CLEARED, code)

    def latched(self):
        # The active alarms that wait for acknowledgement (bits by code).
        return self.active & self._latching

    def latching(self):
        # The alarms that latch (bits by code).
        return self._latching

    def restore(self, bits):
        # At boot: latched alarms from before the restart stand until acknowledged.
        self.active |= bits & self._latching

    def is_active(self, code):
        return bool(self.active & (1 << code))

    def latched_shutdown(self):
        for code, row in TABLE.items():
            if row[1] == SHUTDOWN and self.active & (1 << code):
                return True
        return False
