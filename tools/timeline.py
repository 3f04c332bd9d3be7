# The timeline as an operator reads it: one line per event, simulated clock first.


def clock(t_ms):
    t = int(t_ms)
    ms = t % 1000
    s = t // 1000
    return "%02d:%02d:%02d.%03d" % (s // 3600, (s // 60) % 60, s % 60, ms)


def _detail(e):
    name = e["event"]
    if name == "disturbance":
        kind = e["kind"]
        if kind == "dip":
            text = "dip to %g %%" % e["residual_pct"]
        elif kind == "swell":
            text = "swell to %g %%" % e["level_pct"]
        elif kind == "frequency":
            text = "frequency %g Hz" % e["frequency_hz"]
        else:
            text = "outage"
        if "duration_s" in e:
            text += " for %g s" % e["duration_s"]
        if "phase_deg" in e:
            text += " at %g deg" % e["phase_deg"]
        return text
    if name == "disturbance_end":
        return e["kind"] + " over"
    if name == "mains_lost":
        return ", ".join(e.get("reasons", []))
    if "alarm" in e:
        return e["alarm"]
    if name == "console":
        return "> %s  %s" % (e["line"], e["reply"])
    if name == "mode":
        return e["mode"]
    if name == "drill_end":
        ready = e.get("time_to_ready_s")
        return "%s: generator ready after %s, %d transfers, lowest charge %.1f %%" % (
            e["result"],
            "never" if ready is None else "%.1f s" % ready,
            e["transfers"],
            e["min_soc_pct"],
        )
    if name == "selftest_end":
        return "%s: %d mOhm, lowest %.2f V" % (e["result"], e["r_mohm"], e["v_min"])
    if name == "transfer_to_battery":
        return e.get("cause", "")
    if name == "generator_crank":
        return "attempt %d" % e["attempt"]
    if name == "battery_low":
        return "%d s of runtime left" % e["runtime_s"]
    if e.get("protection"):
        return "by a protection"
    return ""


def render(rep):
    lines = ["%s (%s)" % (rep["scenario"], rep["interpreter"])]
    for e in rep["timeline"]:
        lines.append(("  %s  %-20s %s" % (clock(e["t_ms"]), e["event"], _detail(e))).rstrip())
    m = rep["metrics"]
    lat = m["detection_latency_ms"]
    lines.append(
        "load: longest interruption %.1f ms, ITIC violations %d, transfers to battery %d"
        % (m["max_load_interruption_ms"], m["itic_violations"], m["transfers_to_battery"])
    )
    lines.append(
        "battery: lowest charge %.1f %%, depleted: %s"
        % (m["min_battery_soc_pct"], "yes" if m["battery_depleted"] else "no")
    )
    if lat:
        lines.append("detection latency: " + ", ".join("%.2f ms" % x for x in lat))
    if m["alarms"]:
        lines.append("alarms: " + ", ".join(m["alarms"]))
    return "\n".join(lines)
