"""Metric names used by a PromQL expression (enough of PromQL for our files)."""
import re

FUNCTIONS_AND_KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool",
    "and", "or", "unless", "inf", "nan",
}
# Grafana template variables and macros are not metric names.
GRAFANA_MACRO = re.compile(r"\$\{?[A-Za-z_][A-Za-z0-9_]*(:[a-z]+)?\}?")


def metric_names(expr: str) -> set[str]:
    text = GRAFANA_MACRO.sub("1m", expr)
    # Grafana's label_values(selector, label): the second argument is a label.
    text = re.sub(r"label_values\((.*),\s*[A-Za-z_][A-Za-z0-9_]*\s*\)", r"\1", text)
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', text)          # string literals
    text = re.sub(r"'(?:[^'\\]|\\.)*'", "''", text)
    text = re.sub(r"\{[^}]*\}", "", text)                    # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)                   # range selectors, subqueries
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        name = match.group(0)
        rest = text[match.end():].lstrip()
        if rest.startswith("("):
            continue  # a function call
        if name.lower() in FUNCTIONS_AND_KEYWORDS or re.fullmatch(r"\d+[smhdwy]", name):
            continue
        if match.start() > 0 and (text[match.start() - 1].isdigit() or text[match.start() - 1] == "."):
            continue  # part of a number such as 1e3 or 0.5
        names.add(name)
    return names
