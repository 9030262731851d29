"""A timeline picture of a lab run, drawn as SVG with the standard library.

One row per front-end: its Raft role as a coloured band (leader, follower, candidate, no
answer), a thick dark bar while it holds the VIP; a red strip on top where two or more hosts
hold the VIP at once, grey where nobody does; each mark (fault injected, released, healed)
a dashed vertical line with its label. Input: :meth:`onelab.sampling.Timeline.to_dict`.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

ROLE_COLOURS = {
    "leader": "#2e7d32",
    "follower": "#90caf9",
    "candidate": "#ffb74d",
    "solo": "#ce93d8",
    None: "#e0e0e0",
}
LEFT, TOP, ROW, GAP, WIDTH = 70, 40, 26, 10, 1400


def render(timeline: dict, hosts: list[str]) -> str:
    vip = timeline.get("vip", [])
    raft = timeline.get("raft", [])
    marks = timeline.get("marks", [])
    times = [s["t"] for s in vip] + [s["t"] for s in raft] + [m["t"] for m in marks]
    t0, t1 = (min(times), max(times)) if times else (0.0, 1.0)
    span = max(t1 - t0, 1e-6)

    def x(t: float) -> float:
        return LEFT + (t - t0) / span * WIDTH

    height = TOP + (len(hosts) + 1) * (ROW + GAP) + 30
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{LEFT + WIDTH + 20}" height="{height}" '
        'font-family="sans-serif" font-size="10">',
        f'<text x="{LEFT}" y="14" font-size="12">VIP holders and Raft roles over '
        f"{span:.0f} s (green leader, blue follower, orange candidate, grey no answer; dark bar: "
        "holds the VIP; red strip: two or more holders)</text>",
    ]
    # The holders strip.
    for index, sample in enumerate(vip):
        end = vip[index + 1]["t"] if index + 1 < len(vip) else sample["t"]
        count = len(sample["holders"])
        if count == 1:
            continue
        colour = "#d32f2f" if count >= 2 else "#9e9e9e"
        parts.append(
            f'<rect x="{x(sample["t"]):.1f}" y="{TOP - 14}" width="{max(x(end) - x(sample["t"]), 0.5):.1f}" '
            f'height="8" fill="{colour}"/>'
        )
    for row, host in enumerate(hosts):
        y = TOP + row * (ROW + GAP)
        parts.append(f'<text x="4" y="{y + ROW / 2 + 4}">{escape(host)}</text>')
        samples = [s for s in raft if s["host"] == host]
        for index, sample in enumerate(samples):
            end = samples[index + 1]["t"] if index + 1 < len(samples) else sample["t"]
            colour = ROLE_COLOURS.get(sample["state"], ROLE_COLOURS[None])
            parts.append(
                f'<rect x="{x(sample["t"]):.1f}" y="{y}" width="{max(x(end) - x(sample["t"]), 0.3):.1f}" '
                f'height="{ROW}" fill="{colour}"/>'
            )
        for index, sample in enumerate(vip):
            if host not in sample["holders"]:
                continue
            end = vip[index + 1]["t"] if index + 1 < len(vip) else sample["t"]
            parts.append(
                f'<rect x="{x(sample["t"]):.1f}" y="{y + ROW / 3:.1f}" '
                f'width="{max(x(end) - x(sample["t"]), 0.3):.1f}" height="{ROW / 3:.1f}" fill="#212121"/>'
            )
    bottom = TOP + len(hosts) * (ROW + GAP)
    for index, mark in enumerate(marks):
        mx = x(mark["t"])
        colour = "#c62828" if "fault" in mark["label"] else "#455a64"
        parts.append(
            f'<line x1="{mx:.1f}" y1="{TOP - 16}" x2="{mx:.1f}" y2="{bottom}" stroke="{colour}" '
            'stroke-dasharray="3,3"/>'
        )
        if "fault" in mark["label"]:
            label_y = bottom + 12 + (index % 3) * 11
            parts.append(
                f'<text x="{mx + 2:.1f}" y="{label_y}" fill="{colour}">{escape(mark["label"][:60])}</text>'
            )
    for second in range(0, int(span) + 1, max(int(span // 20), 1)):
        tx = x(t0 + second)
        parts.append(f'<text x="{tx:.1f}" y="{height - 4}" fill="#616161">{second}s</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def write_svg(path: Path, timeline: dict, hosts: list[str]) -> Path:
    path = Path(path)
    path.write_text(render(timeline, hosts))
    return path
