"""Schedule expressions: `rate(value unit)` and `cron(min hour day-of-month month day-of-week
year)` in EventBridge's syntax (minute precision), and the firings they make.

    schedule = parse("cron(0/15 8-17 ? * MON-FRI *)")   # ValueError when AWS refuses it
    schedule.next_after(epoch_seconds, anchor)           # the next firing, epoch seconds

A rate schedule fires every period counted from its anchor (when the rule was enabled); a cron
schedule at each minute its fields allow, read in UTC (EventBridge rules) or in a time zone
(EventBridge Scheduler: `next_after(t, tz=ZoneInfo("Europe/Paris"))`). Across a daylight saving
change a cron schedule fires as Scheduler does: a wall-clock time the spring change skips is
skipped, one the autumn change repeats fires once.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass

_RATE = re.compile(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)")
_CRON = re.compile(r"cron\(([^()]*)\)")
_UNIT = {"minute": 60, "hour": 3600, "day": 86400}
MONTHS = {name: i for i, name in enumerate(
    ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], 1)}
DAYS = {name: i for i, name in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"], 1)}
FIRST_YEAR, LAST_YEAR = 1970, 2199


@dataclass(frozen=True)
class Rate:
    seconds: int

    def next_after(self, t: float, anchor: float, tz: dt.tzinfo = dt.UTC) -> float:
        """The next firing after t; a rate counts real seconds, whatever the time zone."""
        if t < anchor:
            return anchor + self.seconds
        return anchor + (int((t - anchor) // self.seconds) + 1) * self.seconds


@dataclass(frozen=True)
class Cron:
    minutes: frozenset
    hours: frozenset
    days: str  # the day-of-month field ("?" when the day of the week decides)
    months: frozenset
    weekdays: str  # the day-of-week field ("?" when the day of the month decides)
    years: frozenset

    def next_after(self, t: float, anchor: float = 0.0, tz: dt.tzinfo = dt.UTC) -> float:
        start = dt.datetime.fromtimestamp((int(t) // 60 + 1) * 60, tz)
        day = start.date()
        first = (start.hour, start.minute)
        while day.year <= LAST_YEAR:
            if day.year not in self.years:
                day, first = dt.date(day.year + 1, 1, 1), (0, 0)
                continue
            if day.month not in self.months:
                day = _next_month(day)
                first = (0, 0)
                continue
            if self._day_matches(day):
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        if (hour, minute) >= first:
                            moment = _moment(day, hour, minute, tz)
                            if moment is not None and moment.timestamp() > t:
                                return moment.timestamp()
            day, first = day + dt.timedelta(days=1), (0, 0)
        return float("inf")

    def _day_matches(self, day: dt.date) -> bool:
        if self.days != "?":
            return _day_of_month_matches(self.days, day)
        return _day_of_week_matches(self.weekdays, day)


def _moment(day: dt.date, hour: int, minute: int, tz: dt.tzinfo) -> dt.datetime | None:
    """That wall-clock time in the zone (its first occurrence when the clocks go back), or None
    when the clocks skip it."""
    moment = dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz)
    if tz is not dt.UTC and moment.astimezone(dt.UTC).astimezone(tz).replace(
            tzinfo=None) != moment.replace(tzinfo=None):
        return None
    return moment


def _next_month(day: dt.date) -> dt.date:
    return dt.date(day.year + (day.month == 12), day.month % 12 + 1, 1)


def _last_day(day: dt.date) -> int:
    return calendar.monthrange(day.year, day.month)[1]


def _aws_weekday(day: dt.date) -> int:
    """1 (Sunday) to 7 (Saturday), as cron's day-of-week counts."""
    return (day.weekday() + 1) % 7 + 1


def _nearest_weekday(day: dt.date, wanted: int) -> int:
    last = _last_day(day)
    wanted = min(wanted, last)
    weekday = dt.date(day.year, day.month, wanted).weekday()
    if weekday == 5:  # Saturday: the Friday before, or the Monday after the 1st
        return wanted - 1 if wanted > 1 else wanted + 2
    if weekday == 6:  # Sunday: the Monday after, or the Friday before the last day
        return wanted + 1 if wanted < last else wanted - 2
    return wanted


def _day_of_month_matches(field: str, day: dt.date) -> bool:
    for part in field.split(","):
        if part == "L":
            if day.day == _last_day(day):
                return True
        elif part == "LW":
            if day.day == _nearest_weekday(day, _last_day(day)):
                return True
        elif part.endswith("W"):
            if day.day == _nearest_weekday(day, int(part[:-1])):
                return True
        elif day.day in _values(part, 1, 31, {}):
            return True
    return False


def _day_of_week_matches(field: str, day: dt.date) -> bool:
    weekday = _aws_weekday(day)
    for part in field.split(","):
        if "#" in part:
            name, _, nth = part.partition("#")
            if weekday == _value(name, DAYS) and (day.day - 1) // 7 + 1 == int(nth):
                return True
        elif part.endswith("L") and part != "L":
            if weekday == _value(part[:-1], DAYS) and day.day + 7 > _last_day(day):
                return True
        elif part == "L":
            if weekday == 7:
                return True
        elif weekday in _values(part, 1, 7, DAYS):
            return True
    return False


def _value(text: str, names: dict) -> int:
    upper = text.upper()
    if upper in names:
        return names[upper]
    if not text.isdigit():
        raise ValueError(text)
    return int(text)


def _values(part: str, low: int, high: int, names: dict) -> set[int]:
    """The numbers one comma-separated part of a field allows: *, a, a-b, with /step."""
    base, slash, step_text = part.partition("/")
    step = 1
    if slash:
        if not step_text.isdigit() or int(step_text) == 0:
            raise ValueError(part)
        step = int(step_text)
    if base == "*":
        first, last = low, high
    elif "-" in base:
        a, _, b = base.partition("-")
        first, last = _value(a, names), _value(b, names)
    else:
        first = _value(base, names)
        last = high if slash else first
    if not (low <= first <= high and low <= last <= high) or first > last:
        raise ValueError(part)
    return set(range(first, last + 1, step))


def _field(text: str, low: int, high: int, names: dict | None = None) -> frozenset:
    out: set[int] = set()
    for part in text.split(","):
        out |= _values(part, low, high, names or {})
    return frozenset(out)


_DOM_PART = re.compile(r"L|LW|\d{1,2}W|[\d*\-/]+")
_DOW_PART = re.compile(r"L|[1-7A-Za-z]{1,3}L|[1-7A-Za-z]{1,3}#[1-5]|[\dA-Za-z*\-/]+")


def _check_days(days: str, weekdays: str) -> None:
    if (days == "?") == (weekdays == "?"):
        raise ValueError("exactly one of day-of-month and day-of-week must be ?")
    if days != "?":
        for part in days.split(","):
            if not _DOM_PART.fullmatch(part):
                raise ValueError(part)
            if part.endswith("W") and part != "LW" and not 1 <= int(part[:-1]) <= 31:
                raise ValueError(part)
            if part not in ("L", "LW") and not part.endswith("W"):
                _values(part, 1, 31, {})
    else:
        for part in weekdays.split(","):
            if not _DOW_PART.fullmatch(part):
                raise ValueError(part)
            if "#" in part:
                _value(part.partition("#")[0], DAYS)
            elif part.endswith("L") and part != "L":
                _value(part[:-1], DAYS)
            elif part != "L":
                _values(part, 1, 7, DAYS)


def parse(expression: str) -> Rate | Cron:
    """The schedule an expression describes; ValueError when EventBridge refuses it."""
    rate = _RATE.fullmatch(expression)
    if rate:
        value, unit = int(rate.group(1)), rate.group(2)
        if value < 1 or (value == 1) != (not unit.endswith("s")):
            raise ValueError(expression)
        return Rate(value * _UNIT[unit.rstrip("s")])
    cron = _CRON.fullmatch(expression)
    if not cron:
        raise ValueError(expression)
    fields = cron.group(1).split()
    if len(fields) != 6:
        raise ValueError(expression)
    minutes, hours, days, months, weekdays, years = fields
    _check_days(days, weekdays)
    return Cron(_field(minutes, 0, 59), _field(hours, 0, 23), days.upper(),
                _field(months, 1, 12, MONTHS), weekdays.upper(),
                _field(years, FIRST_YEAR, LAST_YEAR))
