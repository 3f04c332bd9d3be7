# Calendar arithmetic on the board's real-time clock: seconds since 2000-01-01 00:00
# (MicroPython's epoch on the boards), local time as the installer set it.
#
# Days are converted with Howard Hinnant's civil-from-days algorithm, in integers only,
# so the firmware does not depend on the port's time.localtime() epoch (the unix port
# counts from 1970, the boards from 2000). Small ints on the boards hold these values
# until 2034; after that the arithmetic still holds but allocates, which is why it only
# runs in the slow path.
DAY_S = 86400
# 2000-01-01 was a Saturday; weekdays count from Monday = 0.
_EPOCH_WEEKDAY = 5
# The clock reads earlier than this until someone sets it (an RTC without a battery
# comes up at 2000-01-01): a schedule must not run on such a clock.
VALID_FROM_S = 20 * 365 * DAY_S


def weekday(secs):
    return (secs // DAY_S + _EPOCH_WEEKDAY) % 7


def civil(secs):
    # (year, month, day, hour, minute, second)
    days, rest = divmod(secs, DAY_S)
    z = days + 10957 + 719468  # days since 0000-03-01
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    y = yoe + era * 400 + (1 if m <= 2 else 0)
    return y, m, d, rest // 3600, rest // 60 % 60, rest % 60


def seconds(y, m, d, hh=0, mm=0, ss=0):
    # The inverse of civil().
    y -= 1 if m <= 2 else 0
    era = y // 400
    yoe = y - era * 400
    mp = m - 3 if m > 2 else m + 9
    doy = (153 * mp + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days = era * 146097 + doe - 719468 - 10957
    return days * DAY_S + hh * 3600 + mm * 60 + ss


def text(secs):
    return "%04d-%02d-%02d %02d:%02d" % civil(secs)[:5]


def stamp(secs):
    return "%04d-%02d-%02d %02d:%02d:%02d" % civil(secs)


def parse(s):
    # "YYYY-MM-DDTHH:MM:SS" (or a space for the T, seconds optional) -> seconds; ValueError
    # when it is not such a date.
    s = s.strip()
    if len(s) not in (16, 19) or s[4] != "-" or s[7] != "-" or s[10] not in "T " or s[13] != ":":
        raise ValueError("not a date and time like 2026-11-24T10:00:00")
    if len(s) == 19 and s[16] != ":":
        raise ValueError("not a date and time like 2026-11-24T10:00:00")
    parts = (s[0:4], s[5:7], s[8:10], s[11:13], s[14:16], s[17:19] if len(s) == 19 else "0")
    for p in parts:
        if not p.isdigit():
            raise ValueError("not a date and time like 2026-11-24T10:00:00")
    y, m, d, hh, mm, ss = [int(p) for p in parts]
    if not (2000 <= y <= 2099 and 1 <= m <= 12 and hh < 24 and mm < 60 and ss < 60):
        raise ValueError("out of range; allowed 2000-01-01T00:00:00..2099-12-31T23:59:59")
    secs = seconds(y, m, d, hh, mm, ss)
    if civil(secs)[:3] != (y, m, d):
        raise ValueError("no such day")
    return secs
