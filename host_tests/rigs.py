# Real processes for the tests: a virtual board on a pseudo-terminal (tools/vboard.py),
# a NUT server (Debian's nutdrv_qx, upsd, upsmon, upsc, upscmd) watching it, and an MQTT
# broker (Debian's mosquitto) with a paho-mqtt subscriber.
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
import tty

import paho.mqtt.client as paho

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NUT_LIB = "/lib/nut"


class VirtualBoard:
    """tools/vboard.py on a scenario; talk to it through its pseudo-terminal."""

    def __init__(self, tmp_path, scenario, fs=True, speed=1):
        self.dir = tmp_path
        path = tmp_path / "scenario.json"
        path.write_text(json.dumps(scenario))
        self.link = str(tmp_path / "ttyVB")
        cmd = [
            sys.executable,
            os.path.join(ROOT, "tools", "vboard.py"),
            "--scenario",
            str(path),
            "--link",
            self.link,
        ]
        if fs:
            cmd += ["--fs", str(tmp_path / "fs")]
        if speed != 1:
            cmd += ["--speed", str(speed)]
        self.proc = subprocess.Popen(cmd, stderr=subprocess.PIPE)
        self.fd = None
        self.t0 = time.monotonic()
        deadline = time.monotonic() + 20
        while not os.path.exists(self.link):
            assert self.proc.poll() is None, self.proc.stderr.read()
            assert time.monotonic() < deadline, "the virtual board did not come up"
            time.sleep(0.05)

    def open(self):
        self.fd = os.open(self.link, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self.fd)
        return self

    def send(self, data):
        os.write(self.fd, data)

    def read_until(self, end, timeout=5.0, count=1):
        out = b""
        deadline = time.monotonic() + timeout
        while not (out.endswith(end) and out.count(end) >= count):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            if select.select([self.fd], [], [], left)[0]:
                out += os.read(self.fd, 4096)
        return out

    def ask(self, line, timeout=5.0, lines=1):
        """One command line; its reply lines (CR LF each), decoded."""
        self.send(line + b"\r")
        return self.read_until(b"\r\n", timeout, lines).decode(errors="replace")

    def elapsed(self):
        return time.monotonic() - self.t0

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class BareBoard:
    """A bare MicroPython unix port at its REPL on a pseudo-terminal, its working directory
    standing for the board's filesystem: what mpremote meets on a board in maintenance."""

    def __init__(self, path):
        self.dir = path
        path.mkdir(parents=True, exist_ok=True)
        master, slave = os.openpty()
        tty.setraw(slave)
        self._slave = slave  # kept open: the REPL reads nothing, not an error, meanwhile
        self.link = str(path) + ".tty"
        os.symlink(os.ttyname(slave), self.link)
        mp = os.path.join(os.path.dirname(sys.executable), "micropython")
        self.proc = subprocess.Popen(
            [mp], stdin=master, stdout=master, stderr=master, cwd=str(path), start_new_session=True
        )
        os.close(master)

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self._slave)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def nut_config():
    """The complete NUT configuration of docs/nut.md, as written there: {file name: text}."""
    with open(os.path.join(ROOT, "docs", "nut.md")) as f:
        text = f.read()
    files = dict(re.findall(r"^`/etc/nut/([\w.]+)`:\n\n```\n(.*?)```", text, re.M | re.S))
    assert sorted(files) == ["nut.conf", "ups.conf", "upsd.conf", "upsd.users", "upsmon.conf"], (
        sorted(files)
    )
    return files


class Nut:
    """nutdrv_qx + upsd (+ upsmon) on loopback, configured in a temporary folder with
    docs/nut.md's files, changing only what is the site's: the serial device, upsd's port,
    where the state goes, what the shutdown runs."""

    def __init__(self, tmp_path, device, upsmon=False):
        self.dir = d = tmp_path / "nut"
        d.mkdir()
        self.port = free_port()
        self.ups = "rack1@127.0.0.1:%d" % self.port
        self.flag = d / "shutdown-ran"
        site = (
            ("/dev/ttyACM0", str(device)),
            ("LISTEN 127.0.0.1 3493", "LISTEN 127.0.0.1 %d" % self.port),
            ("rack1@127.0.0.1:3493", self.ups),
            ('"/sbin/shutdown -h +0"', '"/bin/touch %s"' % self.flag),
            ("/etc/killpower", str(d / "killpower")),
        )
        files = nut_config()
        for old, new in site:
            assert sum(text.count(old) for text in files.values()) == 1, old
            files = {name: text.replace(old, new) for name, text in files.items()}
        self.admin_pw = re.search(r"\[admin\]\s+password = (\S+)", files["upsd.users"]).group(1)
        for name, text in files.items():
            (d / name).write_text(text)
            os.chmod(d / name, 0o600)
        self.env = dict(
            os.environ, NUT_CONFPATH=str(d), NUT_STATEPATH=str(d), NUT_ALTPIDPATH=str(d)
        )
        self.procs = []
        try:
            self._start("nutdrv_qx", "-a", "rack1", "-u", "root", "-F")
            self._wait(lambda: any(n.startswith("nutdrv_qx-") for n in os.listdir(d)), "nutdrv_qx")
            self._start("upsd", "-u", "root", "-F")
            self._wait(lambda: self.status() is not None, "upsd")
            if upsmon:
                # -p: one privileged process (no child to leave behind); its PID file is
                # NUT's own, so one upsmon at a time on a machine
                self._start("upsmon", "-p", "-F")
        except BaseException:
            self.close()
            raise

    def _start(self, name, *args):
        log = open(self.dir / (name + ".log"), "w")
        self.procs.append(
            subprocess.Popen(
                [os.path.join(NUT_LIB, name)] + list(args),
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )

    def _wait(self, ready, what, timeout=30):
        deadline = time.monotonic() + timeout
        while not ready():
            for p in self.procs:
                assert p.poll() is None, "%s exited: %s" % (what, self.logs())
            assert time.monotonic() < deadline, "%s did not come up: %s" % (what, self.logs())
            time.sleep(0.2)

    def logs(self):
        return "\n".join(
            "%s: %s" % (f.name, f.read_text()) for f in sorted(self.dir.glob("*.log"))
        )

    def status(self):
        """ups.status as a set of words, or None while it is not available."""
        p = subprocess.run(
            ["upsc", self.ups, "ups.status"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=10,
        )
        if p.returncode != 0:
            return None
        return set(p.stdout.split())

    def var(self, name):
        p = subprocess.run(
            ["upsc", self.ups, name], env=self.env, capture_output=True, text=True, timeout=10
        )
        return p.stdout.strip() if p.returncode == 0 else None

    def command(self, name):
        return subprocess.run(
            ["upscmd", "-u", "admin", "-p", self.admin_pw, self.ups, name],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=10,
        )

    def watch(self, until, timeout, every=0.5):
        """Poll ups.status until until(status) holds; returns the statuses seen, in order."""
        seen = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            st = self.status()
            if st is not None and (not seen or seen[-1] != st):
                seen.append(st)
            if st is not None and until(st):
                return seen
            time.sleep(every)
        raise AssertionError("ups.status never got there; seen %s\n%s" % (seen, self.logs()))

    def close(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


class Broker:
    def __init__(self, tmp_path):
        self.port = free_port()
        self.conf = tmp_path / "mosquitto.conf"
        self.conf.write_text("listener %d 127.0.0.1\nallow_anonymous true\n" % self.port)
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start on port %d" % self.port)

    def stop(self):
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


class Subscriber:
    """paho-mqtt on the broker: every message as (topic, text, qos, retained). Returns
    once the broker has confirmed every subscription (no message published after that is
    missed, however slow the host)."""

    _count = 0

    def __init__(self, port, *topics):
        self.got = []
        Subscriber._count += 1
        self._flush_topic = "test/flush/%d/%d" % (os.getpid(), Subscriber._count)
        self._flushed = 0
        self._acks = 0
        self.c = paho.Client(paho.CallbackAPIVersion.VERSION2)
        self.c.on_message = self._message
        self.c.on_subscribe = self._subscribed
        self.c.connect("127.0.0.1", port)
        topics = list(topics or ("ups/#",)) + [self._flush_topic]
        for topic in topics:
            self.c.subscribe(topic, qos=1)
        self.c.loop_start()
        assert self._until(lambda: self._acks >= len(topics), 30), "no SUBACK from the broker"

    def _subscribed(self, client, userdata, mid, reasons, props):
        self._acks += 1

    def _message(self, client, userdata, m):
        if m.topic == self._flush_topic:
            self._flushed += 1
        else:
            self.got.append((m.topic, m.payload.decode(), m.qos, m.retain))

    @staticmethod
    def _until(cond, seconds):
        deadline = time.monotonic() + seconds
        while not cond() and time.monotonic() < deadline:
            time.sleep(0.01)
        return cond()

    def wait(self, until, seconds=10.0):
        return self._until(lambda: until(self.got), seconds)

    def flush(self, seconds=30.0):
        """Every message the broker took before this call has reached us: a message of
        our own, sent through the broker and back, comes after them."""
        want = self._flushed + 1
        self.c.publish(self._flush_topic, "flush", qos=1)
        assert self._until(lambda: self._flushed >= want, seconds), "the broker did not answer"

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()
