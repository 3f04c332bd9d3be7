# timeline.png: mains envelope, what feeds the load, battery charge, and the events.
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

_SOURCES = ("none", "battery", "generator", "mains")
_MARKED = ("mains_lost", "mains_restored", "load_to_battery", "load_to_mains",
           "load_to_generator", "battery_low", "battery_depleted", "alarm")


def _steps(trace, col):
    xs, ys = [], []
    for row in trace:
        if xs:
            xs.append(row[0])
            ys.append(ys[-1])
        xs.append(row[0])
        ys.append(row[col])
    return xs, ys


def timeline_png(rep, trace, path):
    hours = trace[-1][0] > 2 * 3600
    scale = 3600.0 if hours else (60.0 if trace[-1][0] > 300 else 1.0)
    unit = "h" if scale == 3600.0 else ("min" if scale == 60.0 else "s")
    t = [[row[0] / scale] + list(row[1:]) for row in trace]
    fig, axes = plt.subplots(4, 1, figsize=(11, 8), sharex=True,
                             gridspec_kw={"height_ratios": [3, 2, 3, 2]})
    x, y = _steps(t, 1)
    axes[0].plot(x, y, color="tab:blue", label="mains")
    x, y = _steps(t, 2)
    axes[0].plot(x, y, color="tab:green", linestyle="--", label="load")
    axes[0].set_ylabel("envelope %")
    axes[0].set_ylim(-5, 135)
    axes[0].legend(loc="lower left", fontsize=8)
    src = [[row[0], _SOURCES.index(row[3]) if row[3] in _SOURCES else 0] for row in t]
    x, y = _steps(src, 1)
    axes[1].plot(x, y, color="tab:purple")
    axes[1].set_yticks(range(len(_SOURCES)))
    axes[1].set_yticklabels(_SOURCES, fontsize=8)
    axes[1].set_ylabel("load on")
    axes[2].plot([row[0] for row in t], [row[4] for row in t], color="tab:orange")
    axes[2].set_ylabel("battery SoC %")
    axes[2].set_ylim(-5, 105)
    events = [e for e in rep["timeline"] if e["event"] in _MARKED]
    for n, e in enumerate(events):
        te = e["t_ms"] / 1000.0 / scale
        for ax in axes[:3]:
            ax.axvline(te, color="grey", linewidth=0.5, alpha=0.5)
        axes[3].plot([te], [n % 4], "k|")
        axes[3].annotate(e["event"], (te, n % 4), fontsize=7, xytext=(3, 0),
                         textcoords="offset points", va="center")
    axes[3].set_yticks([])
    axes[3].set_ylim(-0.5, 3.8)
    axes[3].set_ylabel("events")
    axes[3].set_xlabel("simulated time (%s)" % unit)
    m = rep["metrics"]
    fig.suptitle("%s: longest load interruption %.1f ms, ITIC violations %d, lowest SoC %.0f %%"
                 % (rep["scenario"], m["max_load_interruption_ms"], m["itic_violations"],
                    m["min_battery_soc_pct"]), fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
