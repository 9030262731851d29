"""A timeline picture of a lab run, drawn as SVG with the standard library.

One row per front-end: its Raft role as a coloured band (leader, follower, candidate, no
answer; a follower more than :data:`BEHIND` records behind the leader's commit striped), a
thick dark bar while it holds the VIP; a strip on top, red where two or more
hosts hold the VIP at once and grey where nobody does. Each trial (from its ``… fault on
…`` mark to its ``… healthy …`` mark) is a shaded window with its number on top, the fault
a red line, its release and heal dashed lines; a key under the chart says what each
numbered trial was. Consecutive samples that look the same are drawn as one shape, so the
picture stays small and has no seams. Input: :meth:`onelab.sampling.Timeline.to_dict`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape
from pathlib import Path

ROLE_COLOURS = {
    "leader": "#2e7d32",
    "follower": "#90caf9",
    "candidate": "#ffb74d",
    "solo": "#ce93d8",
    None: "#e0e0e0",
}
ROLE_NAMES = {
    "leader": "leader",
    "follower": "follower",
    "candidate": "candidate",
    None: "no answer",
}
#: A follower this many records behind the leader's commit is drawn striped ("behind"): the
#: formula's own bound for a caught-up follower (``onenebula_zone.health``'s max_lag).
BEHIND = 100
BEHIND_FILL = "url(#behind)"
VIP_COLOUR = "#212121"
TWO_HOLDERS = "#d32f2f"
NO_HOLDER = "#9e9e9e"
FAULT = "#c62828"
WINDOW = "#ffebee"
LEFT, TOP, ROW, GAP, WIDTH = 70, 78, 26, 10, 1400
KEY_COLUMNS, KEY_LINE, KEY_CHARS = 3, 14, 70
FAULT_MARK, HEALTHY_MARK = ": fault on ", ": healthy"


@dataclass(frozen=True)
class Trial:
    number: int
    label: str
    start: float
    end: float


def trials(marks: list[dict], end: float) -> list[Trial]:
    """The trials the marks tell of: each from a ``fault on`` mark to the next ``healthy``
    mark, or (a trial that never got healthy) to the next fault or ``end``."""
    faults = [m for m in marks if FAULT_MARK in m["label"]]
    found = []
    for number, fault in enumerate(faults, start=1):
        following = [m["t"] for m in faults if m["t"] > fault["t"]]
        limit = min(following, default=end)
        healthy = [
            m["t"] for m in marks if HEALTHY_MARK in m["label"] and fault["t"] <= m["t"] <= limit
        ]
        found.append(Trial(number, fault["label"], fault["t"], min(healthy, default=limit)))
    return found


def runs(samples: list[dict], value) -> list[tuple[float, float, object]]:
    """``(start, end, value)`` for each stretch of consecutive samples with the same
    ``value(sample)``; a stretch ends where the next one begins (the last at its sample)."""
    out: list[tuple[float, float, object]] = []
    for index, sample in enumerate(samples):
        end = samples[index + 1]["t"] if index + 1 < len(samples) else sample["t"]
        current = value(sample)
        if out and out[-1][2] == current:
            out[-1] = (out[-1][0], end, current)
        else:
            out.append((sample["t"], end, current))
    return out


def roles(raft: list[dict]) -> list[dict]:
    """The samples with ``role``: the state, or ``behind`` for a follower more than
    :data:`BEHIND` records behind the commit the leader reported last."""
    leader_commit = None
    out = []
    for sample in sorted(raft, key=lambda s: s["t"]):
        state, commit = sample["state"], sample.get("commit")
        if state == "leader" and commit is not None:
            leader_commit = commit
        behind = (
            state == "follower"
            and commit is not None
            and leader_commit is not None
            and leader_commit - commit > BEHIND
        )
        out.append({**sample, "role": "behind" if behind else state})
    return out


def tick_step(span: float, ticks: int = 20) -> int:
    """A round number of seconds between time ticks, about ``ticks`` of them."""
    for step in (1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 1800, 3600):
        if span / step <= ticks:
            return step
    return int(span // ticks) or 1


def render(timeline: dict, hosts: list[str]) -> str:
    vip = timeline.get("vip", [])
    raft = timeline.get("raft", [])
    marks = timeline.get("marks", [])
    times = [s["t"] for s in vip] + [s["t"] for s in raft] + [m["t"] for m in marks]
    t0, t1 = (min(times), max(times)) if times else (0.0, 1.0)
    span = max(t1 - t0, 1e-6)
    windows = trials(marks, t1)
    raft_roles = roles(raft)

    def x(t: float) -> float:
        return LEFT + (t - t0) / span * WIDTH

    def rect(start: float, end: float, y: float, height: float, fill: str, least=0.5) -> str:
        width = max(x(end) - x(start), least)
        return (
            f'<rect x="{x(start):.1f}" y="{y:.1f}" width="{width:.1f}" height="{height:.1f}" '
            f'fill="{fill}"/>'
        )

    bottom = TOP + len(hosts) * (ROW + GAP)
    axis = bottom + 14
    key_top = axis + 22
    key_rows = math.ceil(len(windows) / KEY_COLUMNS)
    height = key_top + key_rows * KEY_LINE + 10
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{LEFT + WIDTH + 20}" height="{height}" '
        'font-family="sans-serif" font-size="10">',
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="{LEFT}" y="15" font-size="13">VIP holders and Raft roles per front-end over '
        f"{span:.0f} s; {len(windows)} trial(s), numbered (key below)</text>",
    ]
    parts.append(
        '<defs><pattern id="behind" width="6" height="6" patternUnits="userSpaceOnUse" '
        f'patternTransform="rotate(45)"><rect width="6" height="6" fill="white"/>'
        f'<rect width="3" height="6" fill="{ROLE_COLOURS["follower"]}"/></pattern></defs>'
    )
    parts += _legend(24)
    # Trial windows behind everything, their numbers above the holders strip.
    for trial in windows:
        parts.append(rect(trial.start, trial.end, TOP - 22, bottom - TOP + 22, WINDOW))
        parts.append(
            f'<text x="{x(trial.start) + 2:.1f}" y="{TOP - 24}" fill="{FAULT}" '
            f'font-weight="bold">{trial.number}</text>'
        )
    # The holders strip: red for two or more holders, grey for none.
    for start, end, count in runs(vip, lambda s: min(len(s["holders"]), 2)):
        if count == 0:
            parts.append(rect(start, end, TOP - 16, 8, NO_HOLDER, least=1.0))
        elif count == 2:  # wide enough to be seen even for one 100 ms sample
            parts.append(rect(start, end, TOP - 16, 8, TWO_HOLDERS, least=3.0))
    for row, host in enumerate(hosts):
        y = TOP + row * (ROW + GAP)
        parts.append(f'<text x="4" y="{y + ROW / 2 + 4}" font-size="12">{escape(host)}</text>')
        samples = [s for s in raft_roles if s["host"] == host]
        for start, end, role in runs(samples, lambda s: s["role"]):
            fill = BEHIND_FILL if role == "behind" else ROLE_COLOURS.get(role, ROLE_COLOURS[None])
            parts.append(rect(start, end, y, ROW, fill))
        for start, end, holds in runs(vip, lambda s, host=host: host in s["holders"]):
            if holds:
                parts.append(rect(start, end, y + ROW / 3, ROW / 3, VIP_COLOUR))
    for mark in marks:
        mx = x(mark["t"])
        if FAULT_MARK in mark["label"]:
            style = f'stroke="{FAULT}" stroke-width="1.5"'
        elif HEALTHY_MARK in mark["label"]:
            continue  # the window's end says it
        else:
            style = 'stroke="#455a64" stroke-dasharray="3,3"'
        parts.append(
            f'<line x1="{mx:.1f}" y1="{TOP - 18}" x2="{mx:.1f}" y2="{bottom - GAP}" {style}>'
            f"<title>{escape(mark['label'])}</title></line>"
        )
    step = tick_step(span)
    for second in range(0, int(span) + 1, step):
        tx = x(t0 + second)
        parts.append(f'<line x1="{tx:.1f}" y1="{bottom - GAP}" x2="{tx:.1f}" y2="{axis - 9}" '
                     'stroke="#616161"/>')  # fmt: skip
        parts.append(
            f'<text x="{tx:.1f}" y="{axis}" fill="#616161" text-anchor="middle">{second}s</text>'
        )
    column = WIDTH / KEY_COLUMNS
    for index, trial in enumerate(windows):
        kx = LEFT + (index // key_rows) * column if key_rows else LEFT
        ky = key_top + (index % key_rows) * KEY_LINE if key_rows else key_top
        label = trial.label if len(trial.label) <= KEY_CHARS else trial.label[: KEY_CHARS - 1] + "…"
        parts.append(
            f'<text x="{kx:.1f}" y="{ky}" fill="{FAULT}" font-weight="bold">{trial.number}</text>'
        )
        parts.append(
            f'<text x="{kx + 16:.1f}" y="{ky}">{escape(label)} (at {trial.start - t0:.0f}s, '
            f"{trial.end - trial.start:.0f}s to healthy)</text>"
        )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _legend(y: float) -> list[str]:
    """Swatches: the roles, the VIP bar, the holders strip, a trial's window."""
    items = [(ROLE_COLOURS[state], name, 10) for state, name in ROLE_NAMES.items()]
    items.insert(2, (BEHIND_FILL, f"follower >{BEHIND} behind", 10))
    items += [
        (VIP_COLOUR, "holds the VIP", 4),
        (TWO_HOLDERS, "2+ VIP holders", 6),
        (NO_HOLDER, "no VIP holder", 6),
        (WINDOW, "trial: fault (red line) to healthy", 10),
    ]
    parts, lx = [], float(LEFT)
    for colour, name, size in items:
        parts.append(
            f'<rect x="{lx:.1f}" y="{y + (10 - size) / 2:.1f}" width="14" height="{size}" '
            f'fill="{colour}" stroke="#bdbdbd" stroke-width="0.5"/>'
        )
        parts.append(f'<text x="{lx + 18:.1f}" y="{y + 9}">{escape(name)}</text>')
        lx += 18 + 6.2 * len(name) + 18
    return parts


def write_svg(path: Path, timeline: dict, hosts: list[str]) -> Path:
    path = Path(path)
    path.write_text(render(timeline, hosts))
    return path
