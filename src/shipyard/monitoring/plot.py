"""Drift over time for one endpoint: an interactive Plotly figure and a static PNG.

Both renderings draw the same panels, top to bottom:

- a **timeline** strip (when events are given): deployments, rollbacks, model events and
  alarms, each also drawn as a vertical line through every panel, so a change in the
  series can be read against what was deployed when;
- per drift stage present (``input``, ``enriched``, ``scores``, ``output``, then
  ``schema`` and any other stage), the **statistic** over time, one line per (feature,
  metric, variant), markers filled red where the point is ``flagged``; and below it the
  **p-value** on a log axis when any point of the stage has one (PSI and JS have none);
- a **quality** panel when there are ``quality`` or ``estimated`` points: realized
  (solid) against estimated (dashed) per metric, with the interval band where ``detail``
  holds ``low`` and ``high``;
- an **outcome** panel: business-outcome rates, one line per metric and variant.

x is the window start. The Plotly hover text of each point gives the window, value,
p-value, rows, whether it was flagged, and the model age: hours from the last
``deployment`` or ``rollback`` event at or before the window start (a rollback changes
the served model too; ``model`` events such as a registration do not).

No points draws one panel saying "no monitoring data yet" (with the timeline, if any)
rather than failing. The PNG is drawn with matplotlib's Agg renderer, so it needs
neither a browser nor kaleido; the HTML inlines plotly.js, so it opens offline. Both
files are written atomically, and only into an existing folder: a missing folder is
refused with :class:`~shipyard.errors.InvalidInput` rather than created, so a mistyped
path does not leave a new folder tree behind.

Plotly and matplotlib are imported when a figure is drawn, not with this module.
"""

from __future__ import annotations

import bisect
import io
import math
import os
import uuid
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.errors import InvalidInput
from shipyard.monitoring.series import STAGES, SeriesPoint

if TYPE_CHECKING:
    import plotly.graph_objects as go
    from matplotlib.axes import Axes

__all__ = ["EVENT_KINDS", "TimelineEvent", "drift_figure", "drift_png", "write_html"]

EVENT_KINDS = ("deployment", "rollback", "model", "alarm")
EMPTY_MESSAGE = "no monitoring data yet"

_QUALITY_STAGES = ("quality", "estimated")
_AGE_RESETS = ("deployment", "rollback")  # events that change the model being served
_FLAG = "#d62728"
# No red among the line colors: red means flagged.
_PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
_EVENT_COLORS = {
    "deployment": "#2ca02c",
    "rollback": "#ff7f0e",
    "model": "#1f77b4",
    "alarm": "#d62728",
}
_LEVELS = 3  # timeline labels alternate over this many heights so close events stay legible
_P_FLOOR = 1e-16  # a p-value of 0 (underflow) cannot sit on a log axis; hover shows the real one


@dataclass(frozen=True)
class TimelineEvent:
    """Something that happened to the endpoint, drawn as a vertical line.

    >>> TimelineEvent(datetime(2024, 5, 1, 12), "model:delay@3 deployed (canary)", "deployment")
    TimelineEvent(at=datetime.datetime(2024, 5, 1, 12, 0), label='model:delay@3 deployed (canary)', kind='deployment')
    """  # noqa: E501

    at: datetime
    label: str
    kind: str

    def __post_init__(self) -> None:
        if self.kind not in EVENT_KINDS:
            raise InvalidInput(
                f"TimelineEvent kind must be one of {', '.join(EVENT_KINDS)}; "
                f"got {self.kind!r} for {self.label!r}."
            )


@dataclass
class _Line:
    """One plotted series: its points in time order, and how to draw it."""

    label: str
    color: str
    dashed: bool = False
    points: list[SeriesPoint] = field(default_factory=list)

    @property
    def xs(self) -> list[datetime]:
        return [point.start for point in self.points]

    @property
    def ys(self) -> list[float | None]:
        return [_finite(point.value) for point in self.points]

    @property
    def p_values(self) -> list[float | None]:
        values = [_finite(point.p_value) for point in self.points]
        return [None if p is None else max(p, _P_FLOOR) for p in values]

    def bound(self, name: str) -> list[float | None]:
        return [_finite(point.detail.get(name)) for point in self.points]

    @property
    def has_band(self) -> bool:
        return any(p.detail.get("low") is not None for p in self.points) and any(
            p.detail.get("high") is not None for p in self.points
        )


@dataclass
class _Panel:
    """One row of the figure; ``kind`` is ``statistic``, ``p_value``, ``quality`` or ``outcome``."""

    title: str
    kind: str
    lines: list[_Line]

    @property
    def height(self) -> float:
        return 0.6 if self.kind == "p_value" else 1.0


def drift_figure(
    points: Sequence[SeriesPoint], timeline: Sequence[TimelineEvent] = (), *, title: str
) -> go.Figure:
    """A Plotly figure of one endpoint's monitored series over time (panels: module docstring).

    >>> from datetime import timedelta
    >>> t = datetime(2024, 5, 1)
    >>> point = SeriesPoint("delay", "", "input", "ks", "distance", t, t + timedelta(hours=1), 0.2)
    >>> figure = drift_figure([point], title="delay: drift")
    >>> [trace.name for trace in figure.data]
    ['distance ks']
    """
    from plotly.subplots import make_subplots

    points, timeline = _checked(points, timeline)
    panels = _panels(points)
    titles = (["timeline"] if timeline else []) + [panel.title for panel in panels]
    heights = ([0.35] if timeline else []) + [panel.height for panel in panels]
    if not panels:  # one row that says so, under the timeline if there is one
        titles.append("")
        heights.append(1.0)
    rows = len(heights)
    figure = make_subplots(
        rows=rows,
        cols=1,
        shared_xaxes=True,
        subplot_titles=titles,
        row_heights=heights,
        vertical_spacing=min(0.06, 0.9 / (rows - 1)) if rows > 1 else 0.0,
    )
    if timeline:
        _plotly_timeline(figure, timeline, row=1)
    if not panels:
        figure.add_annotation(
            text=EMPTY_MESSAGE,
            xref="x domain",
            yref="y domain",
            x=0.5,
            y=0.5,
            showarrow=False,
            font={"size": 18},
            bgcolor="white",
            row=rows,
            col=1,
        )
        figure.update_yaxes(visible=False, row=rows, col=1)
        if not timeline:
            figure.update_xaxes(visible=False)
    first = rows - len(panels) + 1
    deployments = _deployments(timeline)
    shown: set[str] = set()
    for row, panel in enumerate(panels, start=first):
        for line in panel.lines:
            for trace in _plotly_traces(panel, line, deployments, shown):
                figure.add_trace(trace, row=row, col=1)
        if panel.kind == "p_value":
            figure.update_yaxes(type="log", exponentformat="power", row=row, col=1)
    for event in timeline:
        figure.add_vline(
            x=event.at, line={"color": _EVENT_COLORS[event.kind], "dash": "dot", "width": 1.5}
        )
    figure.update_layout(
        title={"text": title},
        height=int(160 + 260 * sum(heights)),
        hovermode="closest",
        legend={"font": {"size": 11}},
        margin={"t": 90, "l": 70, "r": 30, "b": 50},
        template="plotly_white",
    )
    return figure


def write_html(figure: go.Figure, path: str | os.PathLike[str]) -> Path:
    """Write ``figure`` as one self-contained HTML file (plotly.js inlined); the path.

    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp()) / "drift.html"
    >>> write_html(drift_figure([], title="delay"), out) == out
    True
    """
    target = _target(path)
    html = figure.to_html(include_plotlyjs=True, full_html=True)
    return _write_atomic(target, html.encode("utf-8"))


def drift_png(
    points: Sequence[SeriesPoint],
    timeline: Sequence[TimelineEvent],
    path: str | os.PathLike[str],
    *,
    title: str,
) -> Path:
    """Draw the panels of :func:`drift_figure` with matplotlib and write a PNG; the path.

    Works without a display or a browser (Agg renderer).

    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp()) / "drift.png"
    >>> drift_png([], [], out, title="delay").read_bytes()[:4]
    b'\\x89PNG'
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    target = _target(path)
    points, timeline = _checked(points, timeline)
    panels = _panels(points)
    heights = ([0.45] if timeline else []) + [panel.height for panel in panels]
    if not panels:
        heights.append(1.0)
    # A Figure of its own with an Agg canvas: no pyplot state, no backend switch.
    figure = Figure(figsize=(12, 1.0 + 2.4 * sum(heights)), layout="constrained")
    FigureCanvasAgg(figure)
    axes = list(
        figure.subplots(len(heights), 1, sharex=True, squeeze=False, height_ratios=heights)[:, 0]
    )
    if timeline:
        _mpl_timeline(axes[0], timeline)
    if not panels:
        _mpl_empty(axes[-1], timeline)
    for ax, panel in zip(axes[len(axes) - len(panels) :], panels, strict=True):
        _mpl_panel(ax, panel)
    for ax in axes:
        for event in timeline:
            ax.axvline(
                _days([event.at])[0], color=_EVENT_COLORS[event.kind], linestyle=":", linewidth=1.2
            )
    if panels or timeline:
        _mpl_dates(figure.axes[-1])
    figure.suptitle(title)
    buffer = io.BytesIO()
    with warnings.catch_warnings():  # a long legend leaves constrained layout no room: fine
        warnings.filterwarnings("ignore", "constrained_layout not applied", UserWarning)
        figure.savefig(buffer, format="png", dpi=100)
    return _write_atomic(target, buffer.getvalue())


# -- shared: validation and the panel plan ------------------------------------------------


def _checked(
    points: Sequence[SeriesPoint], timeline: Sequence[TimelineEvent]
) -> tuple[list[SeriesPoint], list[TimelineEvent]]:
    """Points deduplicated by key (the last wins, as a recomputed window does), sorted."""
    unique = {point.key: point for point in points}
    endpoints = sorted({point.endpoint for point in unique.values()})
    if len(endpoints) > 1:
        raise InvalidInput(
            f"A drift figure draws one endpoint; got points of {', '.join(map(repr, endpoints))}.",
            hint="Filter the points by endpoint first and draw one figure each.",
        )
    events = sorted(timeline, key=lambda event: event.at)
    stamps = [point.start for point in unique.values()] + [event.at for event in events]
    if len({stamp.tzinfo is None for stamp in stamps}) > 1:
        raise InvalidInput(
            "Points and timeline events mix naive and timezone-aware datetimes.",
            hint="Give every datetime a timezone (UTC), or none.",
        )
    return sorted(unique.values(), key=lambda point: point.start), events


def _panels(points: list[SeriesPoint]) -> list[_Panel]:
    """The rows to draw, in the order of the module docstring."""
    stages = sorted({point.stage for point in points}, key=_stage_order)
    panels = []
    for stage in stages:
        if stage in (*_QUALITY_STAGES, "outcome"):
            continue
        lines = _lines([p for p in points if p.stage == stage], _drift_label)
        panels.append(_Panel(f"{stage}: drift statistic", "statistic", lines))
        if any(point.p_value is not None for line in lines for point in line.points):
            panels.append(_Panel(f"{stage}: p-value (log)", "p_value", lines))
    quality = [point for point in points if point.stage in _QUALITY_STAGES]
    if quality:
        panels.append(
            _Panel("quality: realized vs estimated", "quality", _lines(quality, _quality_label))
        )
    outcome = [point for point in points if point.stage == "outcome"]
    if outcome:
        panels.append(_Panel("outcome rates", "outcome", _lines(outcome, _outcome_label)))
    return panels


def _stage_order(stage: str) -> tuple[int, str]:
    return (STAGES.index(stage) if stage in STAGES else len(STAGES), stage)


def _lines(
    points: list[SeriesPoint], label: Callable[[SeriesPoint], tuple[str, tuple[str, ...]]]
) -> list[_Line]:
    """Group time-sorted points into lines; ``label`` gives the legend text and color key."""
    lines: dict[str, _Line] = {}
    colors: dict[tuple[str, ...], str] = {}
    for point in points:
        text, color_key = label(point)
        color = colors.setdefault(color_key, _PALETTE[len(colors) % len(_PALETTE)])
        line = lines.setdefault(text, _Line(text, color, dashed=point.stage == "estimated"))
        line.points.append(point)
    return sorted(lines.values(), key=lambda line: line.label)


def _drift_label(point: SeriesPoint) -> tuple[str, tuple[str, ...]]:
    key = (point.feature, point.metric, point.variant)
    return _join(point.feature, point.metric, variant=point.variant), key


def _quality_label(point: SeriesPoint) -> tuple[str, tuple[str, ...]]:
    kind = "estimated" if point.stage == "estimated" else "realized"
    key = (point.metric, point.feature, point.variant)  # realized and estimated share a color
    return _join(point.metric, point.feature, kind, variant=point.variant), key


def _outcome_label(point: SeriesPoint) -> tuple[str, tuple[str, ...]]:
    key = (point.metric, point.feature, point.variant)
    return _join(point.metric, point.feature, variant=point.variant), key


def _join(*parts: str, variant: str) -> str:
    text = " ".join(part for part in parts if part)
    return f"{text} [{variant}]" if variant else text


def _finite(value: Any) -> float | None:
    """``value`` as a float, or None when missing or not finite (drawn as a gap)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _deployments(timeline: list[TimelineEvent]) -> list[TimelineEvent]:
    return [event for event in timeline if event.kind in _AGE_RESETS]


def _model_age(start: datetime, deployments: list[TimelineEvent]) -> str:
    index = bisect.bisect_right([event.at for event in deployments], start)
    if index == 0:
        return "model age: unknown (no deployment before this window)"
    event = deployments[index - 1]
    hours = (start - event.at).total_seconds() / 3600
    return f"model age: {hours:.1f} h (since {event.label})"


# -- Plotly --------------------------------------------------------------------------------


def _plotly_traces(
    panel: _Panel, line: _Line, deployments: list[TimelineEvent], shown: set[str]
) -> list[go.Scatter]:
    """The band (quality with an interval) and the line of one series in one panel."""
    import plotly.graph_objects as go

    traces = []
    if panel.kind == "quality" and line.has_band:
        fill = _rgba(line.color, 0.15)
        traces.append(
            go.Scatter(
                x=line.xs,
                y=line.bound("high"),
                mode="lines",
                line={"width": 0},
                hoverinfo="skip",
                showlegend=False,
                legendgroup=line.label,
            )
        )
        traces.append(
            go.Scatter(
                x=line.xs,
                y=line.bound("low"),
                mode="lines",
                line={"width": 0},
                fill="tonexty",
                fillcolor=fill,
                hoverinfo="skip",
                showlegend=False,
                legendgroup=line.label,
            )
        )
    flagged = [point.flagged for point in line.points]
    traces.append(
        go.Scatter(
            x=line.xs,
            y=line.p_values if panel.kind == "p_value" else line.ys,
            name=line.label,
            legendgroup=line.label,
            showlegend=line.label not in shown,
            mode="lines+markers",
            line={"color": line.color, "dash": "dash" if line.dashed else "solid"},
            marker={
                "color": [_FLAG if flag else line.color for flag in flagged],
                "size": [10 if flag else 6 for flag in flagged],
                "line": {"color": "white", "width": 1},
            },
            hovertext=[_hover(line.label, point, deployments) for point in line.points],
            hoverinfo="text",
        )
    )
    shown.add(line.label)
    return traces


def _hover(label: str, point: SeriesPoint, deployments: list[TimelineEvent]) -> str:
    rows = [
        f"<b>{label}</b> ({point.stage})",
        f"window {point.start:%Y-%m-%d %H:%M} to {point.end:%Y-%m-%d %H:%M}",
        f"value: {_number(point.value)}",
    ]
    if point.p_value is not None:
        rows.append(f"p-value: {_number(point.p_value)}")
    if point.detail.get("low") is not None and point.detail.get("high") is not None:
        rows.append(f"interval: {_number(point.detail['low'])} to {_number(point.detail['high'])}")
    rows.append(f"rows: {point.rows}")
    if point.flagged:
        rows.append("<b>FLAGGED</b>")
    rows.append(_model_age(point.start, deployments))
    return "<br>".join(rows)


def _number(value: Any) -> str:
    number = _finite(value)
    return "n/a" if number is None else f"{number:.4g}"


def _rgba(color: str, alpha: float) -> str:
    red, green, blue = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red},{green},{blue},{alpha})"


def _plotly_timeline(figure: go.Figure, timeline: list[TimelineEvent], *, row: int) -> None:
    """Markers with labels in the top strip; hovering one shows the event in full."""
    import plotly.graph_objects as go

    for kind in EVENT_KINDS:
        events = [(i, event) for i, event in enumerate(timeline) if event.kind == kind]
        if not events:
            continue
        figure.add_trace(
            go.Scatter(
                x=[event.at for _, event in events],
                y=[i % _LEVELS for i, _ in events],
                mode="markers+text",
                text=[event.label for _, event in events],
                textposition="middle right",
                textfont={"size": 11, "color": _EVENT_COLORS[kind]},
                marker={"symbol": "triangle-down", "size": 10, "color": _EVENT_COLORS[kind]},
                name=kind,
                legendgroup=f"event:{kind}",
                hovertext=[
                    f"<b>{event.label}</b><br>{kind} at {event.at:%Y-%m-%d %H:%M}"
                    for _, event in events
                ],
                hoverinfo="text",
            ),
            row=row,
            col=1,
        )
    figure.update_yaxes(visible=False, range=[-0.6, _LEVELS - 0.2], row=row, col=1)


# -- matplotlib ----------------------------------------------------------------------------


def _mpl_panel(ax: Axes, panel: _Panel) -> None:
    flagged_label = "flagged"
    for line in panel.lines:
        if panel.kind == "quality" and line.has_band:
            low, high = line.bound("low"), line.bound("high")
            ax.fill_between(
                _days(line.xs), _nan(low), _nan(high), color=line.color, alpha=0.15, linewidth=0
            )
        ys = line.p_values if panel.kind == "p_value" else line.ys
        ax.plot(
            _days(line.xs),
            _nan(ys),
            color=line.color,
            linestyle="--" if line.dashed else "-",
            marker="o",
            markersize=3,
            linewidth=1.4,
            label=line.label,
        )
        marks = [
            (x, y)
            for x, y, p in zip(_days(line.xs), ys, line.points, strict=True)
            if p.flagged and y is not None
        ]
        if marks:
            ax.scatter(
                [x for x, _ in marks],
                [y for _, y in marks],
                s=42,
                color=_FLAG,
                edgecolors="black",
                linewidths=0.5,
                zorder=3,
                label=flagged_label,
            )
            flagged_label = "_nolegend_"  # one legend entry per panel
    if panel.kind == "p_value":
        ax.set_yscale("log")
    ax.set_title(panel.title, loc="left", fontsize=10)
    ax.grid(True, alpha=0.3)
    if panel.kind != "p_value":  # its lines are the statistic's, colored alike, just above
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)


def _mpl_empty(ax: Axes, timeline: list[TimelineEvent]) -> None:
    ax.text(
        0.5,
        0.5,
        EMPTY_MESSAGE,
        ha="center",
        va="center",
        fontsize=16,
        transform=ax.transAxes,
        bbox={"facecolor": "white", "edgecolor": "none"},
        zorder=5,
    )
    ax.set_yticks([])
    if not timeline:
        ax.set_xticks([])
        return
    # Autoscaling around events alone spans years; pad them by a few hours instead.
    first, last = timeline[0].at, timeline[-1].at
    pad = max((last - first) / 20, timedelta(hours=3))
    ax.set_xlim(*_days([first - pad, last + pad]))


def _mpl_timeline(ax: Axes, timeline: list[TimelineEvent]) -> None:
    for i, event in enumerate(timeline):
        color = _EVENT_COLORS[event.kind]
        level = i % _LEVELS
        ax.plot(_days([event.at]), [level], marker="v", color=color, markersize=7)
        ax.annotate(
            event.label,
            (_days([event.at])[0], level),
            xytext=(6, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
            color=color,
            annotation_clip=False,
        )
    ax.set_ylim(-0.7, _LEVELS - 0.3)
    ax.set_yticks([])
    ax.set_title("timeline", loc="left", fontsize=10)
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)


def _mpl_dates(ax: Axes) -> None:
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def _days(stamps: list[datetime]) -> list[float]:
    """Matplotlib's date numbers (days since its epoch, UTC), which its typing accepts."""
    import matplotlib.dates as mdates

    return [float(mdates.date2num(stamp)) for stamp in stamps]


def _nan(values: list[float | None]) -> list[float]:
    return [math.nan if value is None else value for value in values]


# -- files ---------------------------------------------------------------------------------


def _target(path: str | os.PathLike[str]) -> Path:
    """``path`` checked before any drawing: its folder exists and it is not a folder."""
    target = Path(path)
    if target.is_dir():
        raise InvalidInput(
            f"Cannot write the plot to {target}: it is a folder.",
            hint="Give a file path such as drift.html or drift.png.",
        )
    if not target.parent.is_dir():
        raise InvalidInput(
            f"Cannot write the plot to {target}: the folder {target.parent} does not exist.",
            hint=f"Create it first (mkdir -p {target.parent}) or choose another path.",
        )
    return target


def _write_atomic(target: Path, data: bytes) -> Path:
    # Write beside the target, then rename: a reader never sees half a file.
    temp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
    try:
        with temp.open("xb") as out:
            out.write(data)
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)
    return target
