# Telemetry over MQTT (firmware/mqtt.py): what the controller tells monitoring, under
# ups/ID/ (ID: mqtt.id).
#
#   ups/ID/availability  "online" (retained, QoS 1) at every connect; the broker's last
#                        will says "offline" when the board drops off
#   ups/ID/state         the `status json` document (retained), every mqtt.status_s and at
#                        once when the load changes source or the active alarms change
#   ups/ID/event         every event of the controller's event ring, in order, as JSON
#                        {"event": NAME, "arg": N}
#   ups/ID/alarm/NAME    "ON" when raised, "OFF" when cleared (retained, QoS 1). An alarm
#                        that changes again within mqtt.alert_hold_s of its last message
#                        waits for the hold to end and is then published as it stands, so
#                        flapping mains sends one message a minute rather than a flood, and
#                        the last word is always the true state
#   homeassistant/...    discovery (retained) at every connect: the board appears in Home
#                        Assistant with its sensors and binary sensors, nothing to configure
#   ups/ID/command       with mqtt.commands (only with broker credentials set): an operator
#                        command line, answered on ups/ID/reply; its own PIN lock, as a
#                        second console would have; `maint` only on the serial console
#
# The connection never holds up the control loop (mqtt.py never waits); discovery and the
# alarm states are queued a few at a time, as the queue empties, so that a connect does not
# push out the events waiting in it. Runs in Controller.service(), between blocks.
import json

from firmware import VERSION, alarms, events
from firmware import console, mqtt

SERVICE_MS = 10  # how often the controller serves MQTT (its SERIAL_MS while MQTT is on)
_LINES_MAX = 4  # command messages kept between two services
# Home Assistant sensors read from the state document: (key, name, unit, device class,
# whether the value may be null: the runtime on mains, the room or the output with no
# sensor fitted).
# A null makes the entity unavailable rather than a measurement of nothing.
_SENSORS = (
    ("mains_v", "Mains voltage", "V", "voltage", False),
    ("mains_hz", "Mains frequency", "Hz", "frequency", False),
    ("battery_v", "Battery voltage", "V", "voltage", False),
    ("soc_pct", "Battery charge", "%", "battery", False),
    ("runtime_s", "Battery runtime", "s", "duration", True),
    ("source", "Load source", None, None, False),
    ("generator", "Generator", None, None, False),
    ("mode", "Mode", None, None, False),
    ("room_c", "Battery room temperature", "\u00b0C", "temperature", True),
    ("output_w", "Output power", "W", "power", True),
)
# binary sensors: (object id, name, device class or None, template). "On battery" has no
# class: Home Assistant's classes would call it charging, or a power supply that is on.
_BINARY = (
    ("mains", "Mains power", "power", "{{ 'ON' if value_json.mains_ok else 'OFF' }}"),
    ("on_battery", "On battery", None, "{{ 'ON' if value_json.source == 'battery' else 'OFF' }}"),
    ("battery_low", "Battery low", "battery", "{{ 'ON' if value_json.battery_low else 'OFF' }}"),
    ("alarm", "Alarm", "problem", "{{ 'ON' if value_json.alarms else 'OFF' }}"),
)


_DISCOVERY = len(_SENSORS) + len(_BINARY)  # Home Assistant entities


class Telemetry:
    def __init__(self, ctrl, open_stream):
        self._ctrl = ctrl
        self.client = mqtt.Client(open_stream, ctrl.board.ticks_diff)
        # (the client's callbacks are None until set: pyright takes None for their type)
        self.client.on_connect = self._on_connect  # pyright: ignore[reportAttributeAccessIssue]
        self.enabled = False
        self._base = ""
        self._seen = 0  # events of the ring already published
        self._t_state = 0
        self._source = ""
        self._alarm_bits = -1  # the active alarms the last state showed
        self._pub = 0  # alarm bits as last published
        self._t_pub = {}  # code -> when it was last published
        self._hold_ms = 0
        self._status_ms = 0
        # After a connect: discovery, then every alarm's standing state, made one at a time
        # as the queue has room (all at once they would take some 10 KB of heap)
        self._alarm_list = tuple(sorted(alarms.NAMES.items()))
        self._todo = self._after_connect = _DISCOVERY + len(self._alarm_list)
        self._wanted = None  # the settings the connection was started with
        self._id = ""
        self._lines = []  # command lines received, run in service()
        self._commands = None
        self.commands_ignored = 0  # retained commands not run
        self.events_dropped = 0  # lost from the ring before the broker could have them
        self.commands_dropped = 0  # more than _LINES_MAX between two services
        self._busy = 0  # of those, not yet told on the reply topic

    def configure(self, cfg, now):
        on = cfg.get("mqtt.enabled") and cfg.get("mqtt.host") != ""
        self._hold_ms = cfg.get("mqtt.alert_hold_s") * 1000
        self._status_ms = cfg.get("mqtt.status_s") * 1000
        ident = cfg.get("mqtt.id")
        wanted = (
            on,
            cfg.get("mqtt.host"),
            cfg.get("mqtt.port"),
            ident,
            cfg.get("mqtt.user"),
            cfg.get("mqtt.password"),
            cfg.get("mqtt.keepalive_s"),
            cfg.get("mqtt.commands"),
        )
        if on and wanted != self._wanted:
            self._base = "ups/" + ident
            self._id = ident
            self.client.start(
                now,
                cfg.get("mqtt.host"),
                cfg.get("mqtt.port"),
                ident,
                cfg.get("mqtt.keepalive_s"),
                self._base + "/availability",
                b"offline",
                cfg.get("mqtt.user") or None,
                cfg.get("mqtt.password") or None,
            )
            if cfg.get("mqtt.commands"):
                if self._commands is None:
                    from firmware.commands import Commands

                    self._commands = Commands(self._ctrl, per_line=True)
                self.client.subscribe(self._base + "/command")
                self.client.on_message = self._received  # pyright: ignore[reportAttributeAccessIssue]
            else:
                self.client.on_message = None
        elif not on:
            self.client.stop()
        self._wanted = wanted
        self.enabled = on

    def service(self, now):
        if not self.enabled:
            return
        c = self.client
        c.poll(now)
        self._run_commands()
        self._events()
        self._alarms(now)
        self._state(now)
        self._feed_backlog()
        c.poll(now)

    def _received(self, topic, payload, retained):
        # A retained command is an old one the broker kept: it would run again at every
        # connect. More than _LINES_MAX between two services are dropped; both counted.
        # An empty message is what clears a retained one: nothing to run or answer.
        if retained:
            self.commands_ignored += 1
        elif payload == b"":
            return
        elif len(self._lines) < _LINES_MAX:
            self._lines.append(payload)
        else:
            self.commands_dropped += 1
            self._busy += 1

    def _run_commands(self):
        if self._busy:
            self.client.publish(
                self._base + "/reply",
                "ERR busy: %d commands dropped, at most "
                "%d every %d ms" % (self._busy, _LINES_MAX, SERVICE_MS),
                qos=1,
            )
            self._busy = 0
        while self._lines:
            raw = self._lines.pop(0)
            if raw is None:
                reply = "ERR command too long; allowed %d bytes" % console.MAX_LINE
            elif len(raw) > console.MAX_LINE:
                reply = "ERR command too long (%d bytes); allowed %d" % (
                    len(raw),
                    console.MAX_LINE,
                )
            else:
                try:
                    line = raw.decode()
                except UnicodeError:
                    line = None
                if line is None:
                    reply = "ERR not text"
                else:
                    reply = self._ctrl.command(line, self._commands)
            self.client.publish(self._base + "/reply", reply or "OK", qos=1)

    def _on_connect(self, now):
        c = self.client
        c.publish(self._base + "/availability", "online", qos=1, retain=True, first=True)
        # discovery and every alarm's standing state follow (the broker may have missed
        # changes)
        self._todo = 0
        self._pub = self._ctrl.alarms.active
        self._alarm_bits = -1  # and the state at once

    def backlog(self):
        # Messages of the last connect not yet queued.
        return self._after_connect - self._todo

    def _feed_backlog(self):
        c = self.client
        while self.backlog() and c.queued_bytes() < c.queue_bytes // 2:
            k = self._todo
            self._todo += 1
            if k < _DISCOVERY:
                topic, payload = self._discovery(k)
                c.publish(topic, payload, 0, True)
            else:
                code, name = self._alarm_list[k - _DISCOVERY]
                c.publish(
                    self._base + "/alarm/" + name,
                    "ON" if self._ctrl.alarms.is_active(code) else "OFF",
                    1,
                    True,
                )

    def _events(self):
        # The events the broker does not have yet, oldest first, at QoS 1, while connected
        # and as the queue has room: until then they wait in the controller's ring
        # (log.size), the oldest lost beyond that (counted in events_dropped).
        log = self._ctrl.log
        new = log.count - self._seen
        if new > log.size:
            self.events_dropped += new - log.size
            self._seen = log.count - log.size
            new = log.size
        c = self.client
        if new <= 0 or c.state != mqtt.UP:
            return
        for _, code, arg in log.recent(new):
            if c.queued_bytes() >= c.queue_bytes // 2:
                return
            c.publish(
                self._base + "/event",
                json.dumps({"event": events.NAMES.get(code, str(code)), "arg": arg}),
                qos=1,
            )
            self._seen += 1

    def counts(self):
        # What was lost or refused, for the state document and `status json`.
        c = self.client
        return {
            "state": mqtt.STATE_NAMES[c.state],
            "connects": c.connects,
            "events_dropped": self.events_dropped,
            "messages_dropped": c.dropped,
            "commands_too_long": c.too_long,
            "commands_retained": self.commands_ignored,
            "commands_dropped": self.commands_dropped,
        }

    def _alarms(self, now):
        # Only while connected: each connect publishes every alarm's state anyway.
        active = self._ctrl.alarms.active
        changed = active ^ self._pub
        if not changed or self.client.state != mqtt.UP:
            return
        diff = self._ctrl.board.ticks_diff
        for code, name in sorted(alarms.NAMES.items()):
            bit = 1 << code
            if not changed & bit:
                continue
            last = self._t_pub.get(code)
            if last is not None and diff(now, last) < self._hold_ms:
                continue  # flapping: wait for the hold to end
            self._t_pub[code] = now
            self._pub ^= bit
            self.client.publish(
                self._base + "/alarm/" + name, "ON" if active & bit else "OFF", qos=1, retain=True
            )

    def _state(self, now):
        ctrl = self._ctrl
        source = ctrl.commands.source()
        bits = ctrl.alarms.active
        if (
            source == self._source
            and bits == self._alarm_bits
            and ctrl.board.ticks_diff(now, self._t_state) < self._status_ms
        ):
            return
        c = self.client
        if c.state != mqtt.UP or c.queued_bytes() >= c.queue_bytes // 2:
            return  # the next one, at the connect or with room
        self._source = source
        self._alarm_bits = bits
        self._t_state = now
        self.client.publish(self._base + "/state", ctrl.commands.status_json(), retain=True)

    def _discovery(self, k):
        # Home Assistant's discovery message k: (topic, payload); sensors, then binary ones.
        ident = self._id
        device = {
            "identifiers": [ident],
            "name": "UPS " + ident,
            "sw_version": VERSION,
            "model": "UPS and generator controller",
        }
        state = self._base + "/state"
        if k < len(_SENSORS):
            key, name, unit, cls, nullable = _SENSORS[k]
            doc = {
                "name": name,
                "unique_id": ident + "_" + key,
                "state_topic": state,
                "value_template": "{{ value_json.%s }}" % key,
                "device": device,
            }
            if nullable:
                doc["availability"] = [
                    {"topic": self._base + "/availability"},
                    {
                        "topic": state,
                        "value_template": "{{ 'online' if value_json.%s is number"
                        " else 'offline' }}" % key,
                    },
                ]
                doc["availability_mode"] = "all"
            else:
                doc["availability_topic"] = self._base + "/availability"
            if unit:
                doc["unit_of_measurement"] = unit
                doc["state_class"] = "measurement"
            if cls:
                doc["device_class"] = cls
            return "homeassistant/sensor/%s/%s/config" % (ident, key), json.dumps(doc)
        key, name, cls, template = _BINARY[k - len(_SENSORS)]
        doc = {
            "name": name,
            "unique_id": ident + "_" + key,
            "state_topic": state,
            "value_template": template,
            "availability_topic": self._base + "/availability",
            "device": device,
        }
        if cls:
            doc["device_class"] = cls
        else:
            doc["icon"] = "mdi:battery-arrow-down"
        return "homeassistant/binary_sensor/%s/%s/config" % (ident, key), json.dumps(doc)
