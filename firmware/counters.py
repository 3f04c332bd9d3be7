# Maintenance counters: engine running time, starts, relay and contactor operations and
# battery age, kept in the persistent record (store.py), with warnings when a service is
# due that stay until the service is recorded (`counters reset engine|relays|battery`).
#
# The machines count what they do since boot (Generator.fired and .starts, Ats.operations,
# Transfer.transfers); once a second, between blocks, update() adds what is new to the
# lifetime totals. Nothing here runs inside a control block.
from firmware import alarms, clock, events, store as record

RESETS = ("engine", "relays", "battery")


class Counters:
    def __init__(self, cfg, store, alarm_set, log, diff):
        self._store = store
        self._alarms = alarm_set
        self._log = log
        self._diff = diff
        self.configure(cfg)
        self._seen = None  # the machines' own counts at the last update
        self._t = None
        self._run_ms = 0
        self._warned = 0  # due alarms raised since boot or the last reset

    def configure(self, cfg):
        self._engine_s = cfg.get("maint.engine_h") * 3600
        self._relay_ops = cfg.get("maint.relay_ops")
        self._battery_s = cfg.get("maint.battery_d") * clock.DAY_S

    def relay_ops(self):
        v = self._store.values
        return v["xfer_ops"] + v["mains_ops"] + v["gen_ops"]

    def update(self, now, rtc, gen, ats, xfer):
        store = self._store
        v = store.values
        seen = (gen.fired, gen.starts, xfer.transfers, ats.mains_ops, ats.gen_ops)
        if self._seen is not None:
            keys = ("starts", "cranks", "xfer_ops", "mains_ops", "gen_ops")
            for i in range(5):
                if seen[i] != self._seen[i]:
                    v[keys[i]] += seen[i] - self._seen[i]
                    store.changed(record.SOON)
        self._seen = seen
        if self._t is not None and gen.running():
            self._run_ms += self._diff(now, self._t)
            if self._run_ms >= 1000:
                v["engine_s"] += self._run_ms // 1000
                self._run_ms %= 1000
                store.changed()
        self._t = now
        if v["battery_since"] == 0 and rtc >= clock.VALID_FROM_S:
            v["battery_since"] = rtc
            store.changed(record.SOON)
        self._due(
            now,
            alarms.AL_ENGINE_SERVICE,
            self._engine_s and v["engine_s"] - v["engine_svc_s"] >= self._engine_s,
        )
        self._due(
            now,
            alarms.AL_RELAY_SERVICE,
            self._relay_ops and self.relay_ops() - v["relay_svc"] >= self._relay_ops,
        )
        self._due(
            now,
            alarms.AL_BATTERY_AGE,
            self._battery_s and v["battery_since"] and rtc - v["battery_since"] >= self._battery_s,
        )

    def _due(self, now, code, due):
        bit = 1 << code
        if due and not self._warned & bit:
            self._warned |= bit
            self._alarms.raise_(now, code)

    def reset(self, now, rtc, what):
        # A service was done. Returns None, or why not.
        v = self._store.values
        if what == "engine":
            v["engine_svc_s"] = v["engine_s"]
            code = alarms.AL_ENGINE_SERVICE
        elif what == "relays":
            v["relay_svc"] = self.relay_ops()
            code = alarms.AL_RELAY_SERVICE
        elif what == "battery":
            if rtc < clock.VALID_FROM_S:
                return "the board clock is not set"
            v["battery_since"] = rtc
            code = alarms.AL_BATTERY_AGE
        else:
            return "allowed: %s" % ", ".join(RESETS)
        self._warned &= ~(1 << code)
        self._alarms.ack(now, code)
        self._log.add(now, events.EV_COUNTER_RESET, RESETS.index(what) + 1)
        self._store.changed(record.NOW)
        return None

    def text(self, rtc):
        v = self._store.values
        since = v["engine_s"] - v["engine_svc_s"]
        age = "unknown (clock not set)"
        if v["battery_since"]:
            age = "%d d (fitted %s)" % (
                (rtc - v["battery_since"]) // clock.DAY_S,
                clock.text(v["battery_since"]),
            )
        return (
            "engine %d.%d h (%d.%d h since service), starts %d, cranks %d, "
            "relay operations: changeover %d, mains contactor %d, generator contactor %d "
            "(%d since inspection), battery age %s"
        ) % (
            v["engine_s"] // 3600,
            v["engine_s"] % 3600 // 360,
            since // 3600,
            since % 3600 // 360,
            v["starts"],
            v["cranks"],
            v["xfer_ops"],
            v["mains_ops"],
            v["gen_ops"],
            self.relay_ops() - v["relay_svc"],
            age,
        )
