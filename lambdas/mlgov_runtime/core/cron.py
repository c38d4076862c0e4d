"""EventBridge schedule expressions, checked where a setting names one (CloudFormation would accept a bad
one and fail the deploy)."""

from __future__ import annotations

import re

# EventBridge schedule expressions (rules): rate(N unit) or cron(min hour day-of-month month
# day-of-week year). Checked at synth: CloudFormation would accept a bad one and fail the deploy.
_MONTHS = {
    m: i for i, m in enumerate(("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), 1)
}
_DAYS = {d: i for i, d in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), 1)}
_CRON_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minutes", 0, 59, {}),
    ("hours", 0, 23, {}),
    ("day-of-month", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
    ("day-of-week", 1, 7, _DAYS),
    ("year", 1970, 2199, {}),
)


def _cron_value(text: str, low: int, high: int, names: dict[str, int]) -> bool:
    if text.upper() in names:
        return True
    return text.isdigit() and low <= int(text) <= high


def _cron_item(item: str, field: int) -> bool:
    _, low, high, names = _CRON_FIELDS[field]
    if field == 2 and (item in ("L", "LW") or (item.endswith("W") and _cron_value(item[:-1], low, high, names))):
        return True
    if field == 4:
        if item == "L" or (item.endswith("L") and _cron_value(item[:-1], low, high, names)):
            return True
        day, hash_, nth = item.partition("#")
        if hash_:
            return _cron_value(day, low, high, names) and nth in ("1", "2", "3", "4", "5")
    base, slash, step = item.partition("/")
    if slash and not (step.isdigit() and int(step) >= 1):
        return False
    if base == "*":
        return True
    start, dash, end = base.partition("-")
    if dash:
        return _cron_value(start, low, high, names) and _cron_value(end, low, high, names)
    return _cron_value(base, low, high, names)


def schedule_problem(expression: str) -> str | None:
    """What is wrong with an EventBridge schedule expression, or None when it is valid."""
    rate = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)", expression)
    if rate:
        value, unit = int(rate.group(1)), rate.group(2)
        if value < 1:
            return "a rate must be at least 1"
        if (value == 1) != (not unit.endswith("s")):
            return f"write rate(1 {unit.rstrip('s')}) for one, rate(N {unit.rstrip('s')}s) for more"
        return None
    if expression.startswith("rate("):
        return "a rate is rate(N minute[s]|hour[s]|day[s]) with a whole N >= 1, e.g. rate(7 days)"
    cron = re.fullmatch(r"cron\((.*)\)", expression)
    if not cron:
        return "not an EventBridge schedule: cron(...) or rate(...), e.g. cron(0 6 ? * MON *)"
    fields = cron.group(1).split()
    if len(fields) != 6:
        return f"a cron has 6 fields (minutes hours day-of-month month day-of-week year), this one has {len(fields)}"
    day_of_month, day_of_week = fields[2], fields[4]
    if (day_of_month == "?") == (day_of_week == "?"):
        return (
            "exactly one of day-of-month and day-of-week must be ? "
            f"(got {day_of_month} and {day_of_week}; e.g. cron(0 6 ? * MON *) or cron(0 6 1 * ? *))"
        )
    for index, text in enumerate(fields):
        if text == "?" and index in (2, 4):
            continue
        if not all(_cron_item(item, index) for item in text.split(",")):
            name, low, high, _ = _CRON_FIELDS[index]
            return f"cron {name} field {text!r} is not valid ({low}-{high}, with , - * / and the documented L W #)"
    return None


def schedule(value: str) -> str:
    """Checked: an EventBridge schedule expression, cron(...) or rate(...)."""
    problem = schedule_problem(value)
    if problem:
        raise ValueError(problem)
    return value
