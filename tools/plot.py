# timeline.png: the whole run (mains and generator envelopes, what feeds the load, battery
# charge) and two close-ups where the decisions happen: the start of the outage and the
# return to mains, with every event labelled.
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

_SOURCES = ("none", "battery", "generator", "mains")
_SKIP = (
    "disturbance_end",
    "alarm_cleared",
    "battery_ok",
    "transfer_to_battery",
    "transfer_to_mains",
    "transfer_to_generator",
)


def _steps(rows, col):
    xs, ys = [], []
    for row in rows:
        if xs:
            xs.append(row[0])
            ys.append(ys[-1])
        xs.append(row[0])
        ys.append(row[col])
    return xs, ys


def _source_rows(trace):
    return [(row[0], _SOURCES.index(row[3]) if row[3] in _SOURCES else 0) for row in trace]


def _windows(timeline, end_s):
    # (start, end) in seconds of the two close-ups, or fewer when there is nothing to show
    t = {}
    for e in timeline:
        t.setdefault(e["event"], []).append(e["t_ms"] / 1000.0)
    wins = []
    if "mains_lost" in t:
        lost = (
            t["mains_lost"][-1]
            if "generator_start" not in t
            else max(x for x in t["mains_lost"] if x <= t["generator_start"][0])
        )
        stop = t["load_to_generator"][0] + 5 if "load_to_generator" in t else lost + 30
        wins.append((lost - 3, min(end_s, stop)))
    if "mains_restored" in t and t["mains_restored"][-1] > (wins[0][1] if wins else 0):
        back = t["mains_restored"][-1]
        last = max(x for x in sum(t.values(), []) if x >= back)
        wins.append((back - 3, min(end_s, last + 3)))
    return wins


def _close_up(ax, trace, timeline, lo, hi):
    rows = [r for r in trace if lo <= r[0] <= hi]
    before = [r for r in trace if r[0] < lo]
    if before:
        rows.insert(0, (lo,) + tuple(before[-1][1:]))
    x, y = _steps(_source_rows(rows), 1)
    if x:
        x.append(hi)
        y.append(y[-1])
    ax.plot(x, y, color="tab:purple")
    ax.set_yticks(range(len(_SOURCES)))
    ax.set_yticklabels(_SOURCES, fontsize=7)
    ax.set_xlim(lo, hi)
    ax.set_ylim(-0.5, len(_SOURCES) + 3.5)
    shown = [e for e in timeline if lo <= e["t_ms"] / 1000.0 <= hi and e["event"] not in _SKIP]
    groups = []  # events close together share one label
    for e in shown:
        te = e["t_ms"] / 1000.0
        if groups and te - groups[-1][0] < (hi - lo) / 30:
            groups[-1][1].append(e["event"])
        else:
            groups.append((te, [e["event"]]))
    for n, (te, names) in enumerate(groups):
        ax.axvline(te, color="grey", linewidth=0.5, alpha=0.6)
        ax.annotate(
            "%.1f s\n%s" % (te, "\n".join(names)),
            (te, len(_SOURCES) - 0.5 + (n % 2) * 1.4),
            fontsize=6,
            xytext=(2, 0),
            textcoords="offset points",
            va="bottom",
        )
    ax.set_xlabel("simulated time (s)", fontsize=8)
    ax.tick_params(labelsize=7)


def timeline_png(rep, trace, path):
    end_s = trace[-1][0]
    scale = 3600.0 if end_s > 2 * 3600 else (60.0 if end_s > 300 else 1.0)
    unit = {3600.0: "h", 60.0: "min", 1.0: "s"}[scale]
    wins = _windows(rep["timeline"], end_s)
    fig = plt.figure(figsize=(11, 9.5))
    grid = fig.add_gridspec(4 if wins else 3, 2, height_ratios=[3, 2, 2, 4][: 4 if wins else 3])
    ax_env = fig.add_subplot(grid[0, :])
    ax_src = fig.add_subplot(grid[1, :], sharex=ax_env)
    ax_soc = fig.add_subplot(grid[2, :], sharex=ax_env)
    t = [(row[0] / scale,) + tuple(row[1:]) for row in trace]
    x, y = _steps(t, 1)
    ax_env.plot(x, y, color="tab:blue", label="mains")
    x, y = _steps(t, 5)
    ax_env.plot(x, y, color="tab:red", label="generator")
    x, y = _steps(t, 2)
    ax_env.plot(x, y, color="tab:green", linestyle="--", label="load")
    ax_env.set_ylabel("envelope %")
    ax_env.set_ylim(-5, 135)
    ax_env.legend(loc="lower center", fontsize=8, ncol=3)
    x, y = _steps(_source_rows(t), 1)
    ax_src.plot(x, y, color="tab:purple")
    ax_src.set_yticks(range(len(_SOURCES)))
    ax_src.set_yticklabels(_SOURCES, fontsize=8)
    ax_src.set_ylabel("load on")
    ax_soc.plot([row[0] for row in t], [row[4] for row in t], color="tab:orange")
    ax_soc.set_ylabel("battery SoC %")
    ax_soc.set_ylim(-5, 105)
    ax_soc.set_xlabel("simulated time (%s)" % unit)
    for lo, hi in wins:
        for ax in (ax_env, ax_src, ax_soc):
            ax.axvspan(lo / scale, hi / scale, color="grey", alpha=0.15)
    for n, (lo, hi) in enumerate(wins):
        _close_up(fig.add_subplot(grid[3, n]), trace, rep["timeline"], lo, hi)
    m = rep["metrics"]
    fig.suptitle(
        "%s: longest load interruption %.1f ms, ITIC violations %d, lowest SoC %.0f %%,"
        " on generator %d time(s)"
        % (
            rep["scenario"],
            m["max_load_interruption_ms"],
            m["itic_violations"],
            m["min_battery_soc_pct"],
            m["transfers_to_generator"],
        ),
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
