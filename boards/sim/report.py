# Report files, written the same way by CPython and MicroPython: keys in a fixed order
# (MicroPython dicts keep no order) and numbers with at most three decimals, so that the
# two interpreters' reports can be compared line by line.

_FIRST = ("scenario", "interpreter", "timeline", "metrics", "t_ms", "event")


def _key_order(d):
    keys = [k for k in _FIRST if k in d]
    rest = [k for k in d if k not in _FIRST]
    rest.sort()
    return keys + rest


def _num(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    text = "%.3f" % v
    text = text.rstrip("0")
    if text.endswith("."):
        text += "0"
    if text == "-0.0":
        text = "0.0"
    return text


def _str(s):
    out = ['"']
    for ch in s:
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif ord(ch) < 32:
            out.append("\\u%04x" % ord(ch))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def dumps(obj, indent=0):
    pad = "  " * indent
    if obj is None:
        return "null"
    if isinstance(obj, (bool, int, float)):
        return _num(obj)
    if isinstance(obj, str):
        return _str(obj)
    if isinstance(obj, (list, tuple)):
        if not obj:
            return "[]"
        if all(not isinstance(x, (dict, list, tuple)) for x in obj):
            return "[" + ", ".join(dumps(x) for x in obj) + "]"
        inner = ",\n".join(pad + "  " + dumps(x, indent + 1) for x in obj)
        return "[\n" + inner + "\n" + pad + "]"
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        keys = _key_order(obj)
        if all(not isinstance(obj[k], (dict, list, tuple)) for k in keys):
            return "{" + ", ".join(_str(str(k)) + ": " + dumps(obj[k]) for k in keys) + "}"
        inner = ",\n".join(
            pad + "  " + _str(str(k)) + ": " + dumps(obj[k], indent + 1) for k in keys
        )
        return "{\n" + inner + "\n" + pad + "}"
    raise TypeError("cannot write %r" % (obj,))
