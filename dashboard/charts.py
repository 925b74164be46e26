"""Plotly figures built from metric tables (pure: no Streamlit)."""

from __future__ import annotations

import plotly.graph_objects as go
import polars as pl

from dashboard import meaning
from dashboard.access import OWN_CENTRE
from dashboard.metrics.catalogue import Metric, catalogue
from dashboard.metrics.rates import LOW_NUMBERS, MetricTable

# One colour per product everywhere, so a product is recognisable from page to page.
PRODUCT_COLOURS = {
    "axi-cel": "#005EB8",
    "tisa-cel": "#009639",
    "brexu-cel": "#ED8B00",
    "liso-cel": "#7C2855",
    "obe-cel": "#00A9CE",
}


TEXT = "#425563"  # every word on a chart at 7.5:1 on white (Streamlit's theme draws axes at #808495, 3.7:1)


def _readable(figure: go.Figure) -> go.Figure:
    """Axis titles, ticks, labels and notes in a colour that passes WCAG 2.2 AA (4.5:1) on the white page."""
    # Set as nested values in one layout update and on each trace and note: Plotly's update_* methods with
    # magic-underscore names cost three times as much, on every chart of every page run (issue 16).
    font = {"color": TEXT}
    axes = {"xaxis", "yaxis"} | {name for name in figure.layout.to_plotly_json() if name.startswith(("xaxis", "yaxis"))}
    figure.update_layout({axis: {"tickfont": font, "title": {"font": font}} for axis in axes}, legend={"font": font})
    for trace in figure.data:
        if trace.type == "scatter":
            trace.textfont.color = TEXT
        elif trace.type == "heatmap":
            trace.colorbar.tickfont.color = TEXT
    for note in figure.layout.annotations:
        note.font.color = TEXT
    return figure


def describe(figure: go.Figure) -> str:
    """A chart's accessible name, in the words on its axes and legend: what is plotted against what, and which
    series (WCAG 2.2 1.1.1; the table beside each chart carries the figures). Words only, never a value, so a name
    discloses nothing the chart does not already show."""
    axes = [a for a in (figure.layout.yaxis.title.text, figure.layout.xaxis.title.text) if a]
    if any(t.type == "heatmap" for t in figure.data):
        plotted = "Heat map of counts by " + " and ".join(axes)
    else:
        plotted = " against ".join(axes) or "Chart"
    series = list(dict.fromkeys(t.name for t in figure.data if t.name and t.showlegend is not False))
    return f"{plotted}. Series: {', '.join(series)}." if series else f"{plotted}."


def _least(values: pl.Series) -> float:
    """The smallest value shown (0 when there is none)."""
    shown = values.drop_nulls().to_list()
    return float(min(shown)) if shown else 0.0


UNDER = meaning.MEANINGS["worse_99.8"][1]


def followup_completeness(table: pl.DataFrame, threshold: float) -> go.Figure:
    """Day-30 and day-100 follow-up completeness per centre with Wilson 95% intervals, against the threshold."""
    ordered = table.filter(pl.col("d30_due") > 0).sort("d30_rate", descending=True, nulls_last=True)
    figure = go.Figure()
    for day, colour in ((30, "#005EB8"), (100, "#768692")):
        rate = ordered[f"d{day}_rate"]
        figure.add_scatter(
            x=(rate * 100).to_list(),
            y=ordered["centre_code"].to_list(),
            mode="markers",
            name=f"Day {day}",
            marker={
                # Day 30 under the threshold in the "worse" colour: those centres' outcomes are not flagged.
                "color": [UNDER if r is not None and r < threshold else colour for r in rate.to_list()]
                if day == 30
                else colour,
                "size": 9 if day == 30 else 8,
                "line": {"width": 2},
                "symbol": _symbols(ordered[f"d{day}_due"] < LOW_NUMBERS) if day == 30 else "diamond-open",
            },
            # The interval on day 30 only: it is the one the completeness gate judges.
            error_x={
                "type": "data",
                "symmetric": False,
                "visible": day == 30,
                "array": ((ordered[f"d{day}_ci_high"] - rate) * 100).to_list(),
                "arrayminus": ((rate - ordered[f"d{day}_ci_low"]) * 100).to_list(),
                "thickness": 1,
            },
            customdata=[
                [*r, note]
                for r, note in zip(
                    ordered.select(f"d{day}_received", f"d{day}_due", "centre_name").rows(),
                    _notes(ordered[f"d{day}_due"] < LOW_NUMBERS),
                    strict=True,
                )
            ],
            hovertemplate="%{customdata[2]}<br>" + f"Day {day}: " + "%{customdata[0]} of %{customdata[1]} due "
            "(%{x:.1f}%)%{customdata[3]}<extra></extra>",
        )
    _hollow_legend(figure, ordered["d30_due"] < LOW_NUMBERS)
    figure.add_vline(
        x=threshold * 100,
        line_dash="dash",
        line_color="#DA291C",
        annotation_text=f"{threshold:.0%} threshold",
        annotation_position="top",
    )
    figure.update_layout(
        xaxis_title="Follow-up received, % of due",
        xaxis_range=[max(0.0, _least(ordered["d30_ci_low"]) * 100 - 5), 101],
        yaxis={"autorange": "reversed", "title": None},
        height=max(320, 22 * ordered.height + 80),
        legend={"orientation": "h", "y": -0.12},
        margin={"t": 30, "r": 10, "l": 10, "b": 10},
    )
    return _readable(figure)


# --- Funnel, caterpillar and SPC: the charts of a metric ---

LAYOUT = {"margin": {"t": 40, "r": 10, "l": 10, "b": 10}, "legend": {"orientation": "h", "y": -0.18}}
FEW = meaning.LOW_NUMBERS_NOTE


def _value_column(table: MetricTable) -> tuple[str, str]:
    """The plotted value and its axis title: observed/expected for product mix, the rate for crude."""
    if table.adjust == "product_mix":
        return "ratio", "Observed / expected (product mix)"
    return "rate", "Rate"


def _symbols(low_numbers: pl.Series) -> list[str]:
    """A rate on fewer than 8 patients is drawn hollow, on every chart."""
    return ["circle-open" if low else "circle" for low in low_numbers.fill_null(True).to_list()]


def _notes(low_numbers: pl.Series) -> list[str]:
    return [f"<br><i>{FEW}</i>" if low else "" for low in low_numbers.fill_null(True).to_list()]


def _hollow_legend(figure: go.Figure, low_numbers: pl.Series) -> None:
    """A legend entry explaining hollow points, when some are."""
    if low_numbers.fill_null(True).any():
        figure.add_scatter(
            x=[None],
            y=[None],
            mode="markers",
            name=f"Hollow: {FEW}",
            marker={"symbol": "circle-open", "size": 10, "color": "#425563"},
        )


def _hover(table: MetricTable, rows: pl.DataFrame) -> list[list]:
    """Per point: the centre, the plotted value in words, counts, interval, expected, the flag's meaning and p."""
    value, _ = _value_column(table)
    plotted = [f"observed/expected {r:.2f}" if value == "ratio" else f"{r:.1%}" for r in rows[value].to_list()]
    flags = [meaning.words(table.metric, f) for f in rows["flag"].to_list()]
    p = [
        meaning.p_text(v) if f is not None else ""
        for v, f in zip(rows["p_value"].to_list(), rows["flag"].to_list(), strict=True)
    ]
    expected = ["" if e is None else f"<br>expected {e:.1f}" for e in rows["expected"].to_list()]
    return [
        list(r)
        for r in zip(
            rows["group"].to_list(),
            plotted,
            rows["numerator"].to_list(),
            rows["denominator"].to_list(),
            rows["ci_low"].to_list(),
            rows["ci_high"].to_list(),
            expected,
            flags,
            p,
            _notes(rows["low_numbers"]),
            strict=True,
        )
    ]


HOVER = (
    "<b>%{customdata[0]}</b>: %{customdata[1]}<br>%{customdata[2]} of %{customdata[3]} patients "
    "(95% CI %{customdata[4]:.1%} to %{customdata[5]:.1%})%{customdata[6]}<br>%{customdata[7]} "
    "(%{customdata[8]})%{customdata[9]}<extra></extra>"
)


def _meaning_key(table: MetricTable, rows: pl.DataFrame) -> pl.Series:
    return pl.Series([table.metric.meaning(f) or "" for f in rows["flag"].to_list()], dtype=pl.Utf8)


def funnel(table: MetricTable) -> go.Figure:
    """Funnel plot: one point per centre against patients (or expected events), with the 95% and 99.8% limits
    drawn where the exact test changes its answer; points coloured by what their flag means for this metric."""
    value, axis = _value_column(table)
    size_column = "expected" if table.adjust == "product_mix" else "denominator"
    figure = go.Figure()
    plotted = table.rows.filter((pl.col("denominator") > 0) & pl.col(value).is_not_null())  # withheld: not drawn
    plotted = plotted.with_columns(_meaning_key(table, plotted).alias("_meaning"))
    curve = table.limits
    if curve is not None and plotted.height:
        # Draw the funnel from the smallest centre on: below it the limits only fan out to infinity.
        curve = curve.filter(pl.col("size") >= _least(plotted[size_column]) * 0.8)
        for level, dash in (("998", "dash"), ("95", "dot")):
            for side in ("high", "low"):
                figure.add_scatter(
                    x=curve["size"].to_list(),
                    y=curve[f"limit_{level}_{side}"].to_list(),
                    mode="lines",
                    line={"color": "#768692", "dash": dash, "width": 1},
                    hoverinfo="skip",
                    name=f"{'99.8' if level == '998' else '95'}% limits",
                    legendgroup=level,
                    showlegend=side == "high",
                )
        figure.add_hline(
            y=table.target,
            line_color="#425563",
            line_width=1,
            annotation_text="England" if value == "rate" else "expected",
            annotation_position="right",
        )
    for key, (words, colour) in meaning.MEANINGS.items():
        # Filled points first: Plotly draws the legend's symbol from a trace's first point.
        part = plotted.filter(pl.col("_meaning") == key).sort(pl.col("low_numbers").fill_null(True))
        if not part.height:
            continue
        labelled = key not in ("as_expected", "insufficient_follow_up")  # name the centres a panel should look at
        figure.add_scatter(
            x=part[size_column].to_list(),
            y=part[value].to_list(),
            mode="markers+text" if labelled else "markers",
            # The lead's own centre is named by its ring below; peers flagged are named here.
            text=[g if g != OWN_CENTRE else "" for g in part["group"].to_list()] if labelled else None,
            textposition="top center",
            textfont={"size": 10},
            name=words,
            customdata=_hover(table, part),
            hovertemplate=HOVER,
            marker={
                "size": 11,
                "color": colour,
                "symbol": _symbols(part["low_numbers"]),
                "line": {"width": 2, "color": colour},
            },
        )
    own = plotted.filter(pl.col("group") == OWN_CENTRE)
    if own.height:  # a lead finds their own centre at a glance: ringed and named
        figure.add_scatter(
            x=own[size_column].to_list(),
            y=own[value].to_list(),
            mode="markers+text",
            text=[OWN_CENTRE] * own.height,
            textposition="bottom center",
            textfont={"size": 12, "color": "#212B32"},
            name=OWN_CENTRE,
            hoverinfo="skip",
            marker={"size": 20, "symbol": "circle-open", "color": "#212B32", "line": {"width": 2}},
        )
    unjudged = plotted.filter(pl.col("_meaning") == "")
    if unjudged.height:
        figure.add_scatter(
            x=unjudged[size_column].to_list(),
            y=unjudged[value].to_list(),
            mode="markers",
            name=meaning.NOT_JUDGED[0],
            customdata=_hover(table, unjudged),
            hovertemplate=HOVER,
            marker={"size": 11, "color": meaning.NOT_JUDGED[1], "symbol": _symbols(unjudged["low_numbers"])},
        )
    _hollow_legend(figure, plotted["low_numbers"])
    highest = max([v for v in plotted[value].to_list() if v is not None] + [table.target or 0])
    if curve is not None and curve.height:
        highest = max(highest, curve["limit_998_high"].max())
    figure.update_layout(
        yaxis_range=[0, min(highest * 1.08, 1.0) if value == "rate" else highest * 1.08],
        xaxis_title="Expected events (product mix)" if size_column == "expected" else "Patients",
        yaxis_title=axis,
        yaxis_tickformat=".0%" if value == "rate" else ".2f",
        height=480,
        clickmode="event+select",
        **LAYOUT,
    )
    return _readable(figure)


def caterpillar(table: MetricTable) -> go.Figure:
    """Centres ranked by their value with 95% intervals, against the national figure, coloured by meaning."""
    value, axis = _value_column(table)
    rows = table.rows.filter((pl.col("denominator") > 0) & pl.col(value).is_not_null())
    if value == "ratio":  # the rate's interval, carried onto the ratio scale
        rows = rows.with_columns(
            (pl.col("ci_low") / pl.col("rate") * pl.col("ratio")).alias("low"),
            (pl.col("ci_high") / pl.col("rate") * pl.col("ratio")).alias("high"),
        )
    else:
        rows = rows.with_columns(pl.col("ci_low").alias("low"), pl.col("ci_high").alias("high"))
    rows = rows.with_columns(pl.col("low", "high").fill_nan(None)).sort(value, nulls_last=True)
    figure = go.Figure(
        go.Scatter(
            x=rows["group"].to_list(),
            y=rows[value].to_list(),
            mode="markers",
            marker={
                "color": [meaning.colour(table.metric, f) for f in rows["flag"].to_list()],
                "size": 9,
                "symbol": _symbols(rows["low_numbers"]),
                "line": {"width": 2},
            },
            error_y={
                "type": "data",
                "symmetric": False,
                "array": (rows["high"] - rows[value]).to_list(),
                "arrayminus": (rows[value] - rows["low"]).to_list(),
                "color": "#768692",
            },
            customdata=_hover(table, rows),
            hovertemplate=HOVER,
            showlegend=False,
        )
    )
    if table.target is not None:
        figure.add_hline(y=table.target, line_color="#425563", line_dash="dash")
    figure.update_layout(
        yaxis_title=axis, yaxis_tickformat=".0%" if value == "rate" else ".2f", height=360, xaxis_title=None, **LAYOUT
    )
    return _readable(figure)


def spc(chart: pl.DataFrame, signals: list[dict], title: str) -> go.Figure:
    """p-chart by quarter: rate, centre line, 2- and 3-sigma limits; points in a signal marked, its rule named."""
    figure = go.Figure()
    quarters = chart["quarter"].to_list()
    for column, dash, name in (
        ("upper_3_sigma", "dash", "3 sigma"),
        ("lower_3_sigma", "dash", None),
        ("upper_2_sigma", "dot", "2 sigma"),
        ("lower_2_sigma", "dot", None),
    ):
        figure.add_scatter(
            x=quarters,
            y=chart[column].to_list(),
            mode="lines",
            line={"color": "#AEB7BD", "dash": dash, "width": 1, "shape": "hvh"},
            name=name or column,
            showlegend=bool(name),
            legendgroup=dash,
            hoverinfo="skip",
        )
    figure.add_scatter(
        x=quarters, y=chart["centre_line"].to_list(), mode="lines", name="mean", line={"color": "#425563", "width": 1}
    )
    in_signal = {q for s in signals for q in quarters if s["from"] <= q <= s["to"]}
    figure.add_scatter(
        x=quarters,
        y=chart["rate"].to_list(),
        mode="lines+markers",
        name=title,
        line={"color": "#005EB8"},
        marker={
            "size": 8,
            "color": ["#ED8B00" if q in in_signal else "#005EB8" for q in quarters],
            "symbol": _symbols(chart["denominator"] < LOW_NUMBERS),
            "line": {"width": 2},
        },
        customdata=[
            [*r, note]
            for r, note in zip(
                chart.select("numerator", "denominator").rows(), _notes(chart["denominator"] < LOW_NUMBERS), strict=True
            )
        ],
        hovertemplate="%{x|%Y Q%q}: %{y:.1%} (%{customdata[0]} of %{customdata[1]})%{customdata[2]}<extra></extra>",
    )
    _hollow_legend(figure, chart["denominator"] < LOW_NUMBERS)
    figure.update_layout(yaxis_tickformat=".0%", yaxis_title="Rate", xaxis_tickformat="%Y Q%q", height=360, **LAYOUT)
    return _readable(figure)


# --- Building blocks for the other pages ---


def stacked_bars(
    frame: pl.DataFrame,
    x: str,
    y: str,
    colour: str,
    x_title: str,
    y_title: str,
    colours: dict | None = None,
    horizontal: bool = False,
    order: list[str] | None = None,
) -> go.Figure:
    """Bars of counts by category, stacked by `colour` (in `order` when given, else alphabetically)."""
    figure = go.Figure()
    present = frame[colour].drop_nulls().unique().to_list()
    for key in [k for k in order if k in present] if order else sorted(present):
        part = frame.filter(pl.col(colour) == key)
        xs, ys = part[x].to_list(), part[y].to_list()
        figure.add_bar(
            x=ys if horizontal else xs,
            y=xs if horizontal else ys,
            name=str(key),
            orientation="h" if horizontal else "v",
            marker_color=(colours or PRODUCT_COLOURS).get(key),
        )
    # Horizontal: one readable row per category (a centre's label, "Your centre" or "Peer K", is never cut short).
    height = max(380, 18 * frame[x].n_unique() + 140) if horizontal else 380
    figure.update_layout(
        barmode="stack",
        xaxis_title=y_title if horizontal else x_title,
        yaxis_title=x_title if horizontal else y_title,
        height=height,
        **LAYOUT,
    )
    if not horizontal and frame[x].dtype == pl.Utf8:
        figure.update_xaxes(type="category", categoryorder="category ascending")  # "2025 Q3" sorts as time does
    if horizontal:
        # In the table's order, first at the top (Plotly would otherwise order by first appearance across traces).
        figure.update_yaxes(
            autorange="reversed",
            type="category",
            categoryorder="array",
            categoryarray=frame[x].unique(maintain_order=True).to_list(),
        )
    return _readable(figure)


def interval_dots(
    frame: pl.DataFrame, label: str, title: str, target: float | None = None, metric: Metric | None = None
) -> go.Figure:
    """A rate per group with its Wilson 95% interval (columns rate, ci_low, ci_high, numerator, denominator),
    coloured by what its flag means when the frame has flags; hollow on fewer than 8 patients."""
    rows = frame.filter(pl.col("denominator") > 0).sort("rate")
    low_numbers = rows["denominator"] < LOW_NUMBERS
    flags = rows["flag"].to_list() if metric is not None and "flag" in rows.columns else [None] * rows.height
    words = ["" if metric is None else f", {meaning.words(metric, f)}" for f in flags]
    figure = go.Figure(
        go.Scatter(
            x=rows["rate"].to_list(),
            y=rows[label].to_list(),
            mode="markers",
            marker={
                "size": 9,
                "color": [meaning.colour(metric, f) if metric else "#005EB8" for f in flags],
                "symbol": _symbols(low_numbers),
                "line": {"width": 2},
            },
            error_x={
                "type": "data",
                "symmetric": False,
                "array": (rows["ci_high"] - rows["rate"]).to_list(),
                "arrayminus": (rows["rate"] - rows["ci_low"]).to_list(),
                "color": "#768692",
            },
            customdata=[
                list(r)
                for r in zip(
                    rows["numerator"].to_list(), rows["denominator"].to_list(), words, _notes(low_numbers), strict=True
                )
            ],
            hovertemplate="%{y}: %{x:.1%} (%{customdata[0]} of %{customdata[1]})%{customdata[2]}%{customdata[3]}"
            "<extra></extra>",
            showlegend=False,
        )
    )
    if target is not None:
        figure.add_vline(x=target, line_dash="dash", line_color="#425563", annotation_text="England")
    if low_numbers.any():
        _hollow_legend(figure, low_numbers)
        figure.update_layout(showlegend=True)
    figure.update_layout(xaxis_tickformat=".0%", xaxis_title=title, height=max(300, 22 * rows.height + 90), **LAYOUT)
    return _readable(figure)


def bars_with_line(
    frame: pl.DataFrame, x: str, y: str, line_at: float | None, line_label: str, x_title: str, y_title: str
) -> go.Figure:
    """Counts by value, with a reference line where a rule applies (the 120-minute or 14-day rule)."""
    figure = go.Figure(go.Bar(x=frame[x].to_list(), y=frame[y].to_list(), marker_color="#005EB8"))
    if line_at is not None:
        figure.add_vline(x=line_at, line_dash="dash", line_color="#DA291C", annotation_text=line_label)
    figure.update_layout(xaxis_title=x_title, yaxis_title=y_title, height=320, bargap=0.05, **LAYOUT)
    return _readable(figure)


def heatmap(frame: pl.DataFrame, x: str, y: str, z: str, x_title: str, y_title: str) -> go.Figure:
    """Counts by two categories. A withheld count (null) is drawn blank and marked *, never as 0; a pair with no
    row at all is a true 0."""
    marked = frame.with_columns(pl.col(z).fill_null(-1))  # -1 marks withheld through the pivot's own nulls
    wide = marked.pivot(on=x, index=y, values=z).fill_null(0).sort(y)
    columns = [c for c in wide.columns if c != y]
    cells = wide.select(columns).rows()
    values = [[None if v == -1 else v for v in row] for row in cells]
    text = [["*" if v == -1 else str(v) for v in row] for row in cells]
    figure = go.Figure(
        go.Heatmap(
            z=values,
            x=columns,
            y=wide[y].to_list(),
            colorscale="Blues",
            text=text,
            texttemplate="%{text}",
            hovertemplate="%{y}, %{x}: %{text}<extra></extra>",
        )
    )
    figure.update_layout(xaxis_title=x_title, yaxis_title=y_title, height=max(320, 22 * wide.height + 100), **LAYOUT)
    return _readable(figure)


def product_profile(profile: pl.DataFrame) -> go.Figure:
    """Each toxicity metric by product, grouped bars with 95% intervals."""
    figure = go.Figure()
    for product in sorted(profile["product_code"].unique().to_list()):
        part = profile.filter(pl.col("product_code") == product)
        low = part["low_numbers"].fill_null(True)
        figure.add_bar(
            x=part["title"].to_list(),
            y=part["rate"].to_list(),
            name=product,
            # A rate on fewer than 8 patients is hatched (and says so on hover).
            marker={"color": PRODUCT_COLOURS.get(product), "pattern": {"shape": ["/" if x else "" for x in low]}},
            customdata=[
                list(r)
                for r in zip(part["numerator"].to_list(), part["denominator"].to_list(), _notes(low), strict=True)
            ],
            hovertemplate=f"{product}, " + "%{x}: %{y:.1%} (%{customdata[0]} of %{customdata[1]})%{customdata[2]}"
            "<extra></extra>",
            error_y={
                "type": "data",
                "symmetric": False,
                "array": (part["ci_high"] - part["rate"]).to_list(),
                "arrayminus": (part["rate"] - part["ci_low"]).to_list(),
                "thickness": 1,
            },
        )
    figure.update_layout(
        barmode="group",
        yaxis_tickformat=".0%",
        yaxis_title="Rate",
        height=440,
        **{**LAYOUT, "legend": {"orientation": "h", "y": 1.12}},
    )
    return _readable(figure)


PALETTE = [
    "#005EB8",
    "#009639",
    "#ED8B00",
    "#7C2855",
    "#00A9CE",
    "#DA291C",
    "#330072",
    "#78BE20",
    "#AE2573",
    "#FFB81C",
    "#425563",
    "#41B6E6",
]


def lines(frame: pl.DataFrame, x: str, y: str, colour: str, x_title: str, y_title: str) -> go.Figure:
    figure = go.Figure()
    for index, key in enumerate(sorted(frame[colour].unique().to_list())):
        part = frame.filter(pl.col(colour) == key).sort(x)
        figure.add_scatter(
            x=part[x].to_list(),
            y=part[y].to_list(),
            mode="lines+markers",
            name=str(key),
            line={"color": PALETTE[index % len(PALETTE)]},
        )
    figure.update_layout(xaxis_title=x_title, yaxis_title=y_title, height=340, **LAYOUT)
    if frame[x].dtype == pl.Utf8:
        figure.update_xaxes(type="category", categoryorder="category ascending")  # "2025 Q3" sorts as time does
    return _readable(figure)


def centre_profile(profile: pl.DataFrame) -> go.Figure:
    """One centre's rate and 95% interval on each metric, coloured by what its flag means for that metric (better
    or worse), with England's rate as a marker beside it."""
    rows = profile.filter(pl.col("denominator") > 0)
    metrics = catalogue()
    judged = [(metrics[m], f) for m, f in zip(rows["metric"].to_list(), rows["flag"].to_list(), strict=True)]
    figure = go.Figure()
    figure.add_scatter(
        x=rows["rate"].to_list(),
        y=rows["title"].to_list(),
        mode="markers",
        name="this centre",
        marker={
            "size": 10,
            "color": [meaning.colour(m, f) for m, f in judged],
            "symbol": _symbols(rows["low_numbers"]),
            "line": {"width": 2},
        },
        error_x={
            "type": "data",
            "symmetric": False,
            "array": (rows["ci_high"] - rows["rate"]).to_list(),
            "arrayminus": (rows["rate"] - rows["ci_low"]).to_list(),
            "color": "#768692",
        },
        customdata=[
            [n, d, meaning.words(m, f), note]
            for n, d, (m, f), note in zip(
                rows["numerator"].to_list(),
                rows["denominator"].to_list(),
                judged,
                _notes(rows["low_numbers"]),
                strict=True,
            )
        ],
        hovertemplate="%{y}: %{x:.1%} (%{customdata[0]} of %{customdata[1]}), %{customdata[2]}%{customdata[3]}"
        "<extra></extra>",
    )
    figure.add_scatter(
        x=rows["england_rate"].to_list(),
        y=rows["title"].to_list(),
        mode="markers",
        name="England",
        marker={"symbol": "line-ns", "size": 16, "line": {"width": 2, "color": "#425563"}},
        hovertemplate="England: %{x:.1%}<extra></extra>",
    )
    _hollow_legend(figure, rows["low_numbers"])
    figure.update_layout(
        xaxis_tickformat=".0%", yaxis={"autorange": "reversed"}, height=max(320, 28 * rows.height + 100), **LAYOUT
    )
    return _readable(figure)


# --- The early warning: a centre's CUSUM and VLAD, patient by patient ---


def cusum(chart: pl.DataFrame, title: str) -> go.Figure:
    """A centre's risk-adjusted CUSUM by infusion date: the chart, its threshold, and each crossing (after which it
    starts again from 0)."""
    figure = go.Figure(
        go.Scatter(
            x=chart["infusion_date"].to_list(),
            y=chart["cusum"].to_list(),
            mode="lines",
            line={"color": "#005EB8", "shape": "hv"},
            name="CUSUM",
            hovertemplate="%{x|%d %b %Y}: %{y:.2f}<extra></extra>",
        )
    )
    crossed = chart.filter(pl.col("crossed"))
    if crossed.height:
        figure.add_scatter(
            x=crossed["infusion_date"].to_list(),
            y=crossed["cusum"].to_list(),
            mode="markers",
            marker={"color": "#DA291C", "size": 10, "symbol": "triangle-up"},
            name="Crossed: early warning",
            hovertemplate="Crossed on %{x|%d %b %Y}<extra></extra>",
        )
    if chart.height and chart["threshold"][0] != float("inf"):
        threshold = chart["threshold"][0]
        figure.add_hline(
            y=threshold,
            line_dash="dash",
            line_color="#DA291C",
            annotation_text=f"threshold {threshold:.2f}",
            annotation_position="top left",
        )
    figure.update_layout(
        xaxis_title="Infusion date", yaxis_title=f"CUSUM, {title}", height=340, yaxis_rangemode="tozero", **LAYOUT
    )
    return _readable(figure)


def vlad(chart: pl.DataFrame, title: str) -> go.Figure:
    """A centre's variable life-adjusted display: events observed minus expected, cumulated by infusion date (above
    0: more events than England's rates for its products predict)."""
    figure = go.Figure(
        go.Scatter(
            x=chart["infusion_date"].to_list(),
            y=chart["vlad"].to_list(),
            mode="lines",
            line={"color": "#7C2855", "shape": "hv"},
            name="Observed minus expected",
            hovertemplate="%{x|%d %b %Y}: %{y:+.1f} events<extra></extra>",
        )
    )
    figure.add_hline(y=0, line_color="#768692")
    figure.update_layout(
        xaxis_title="Infusion date",
        yaxis_title=f"{title}: observed minus expected",
        height=340,
        showlegend=False,
        **LAYOUT,
    )
    return _readable(figure)
