"""Plotly figures built from metric tables (pure: no Streamlit)."""

from __future__ import annotations

import plotly.graph_objects as go
import polars as pl

# One colour per product everywhere, so a product is recognisable from page to page.
PRODUCT_COLOURS = {
    "axi-cel": "#005EB8",
    "tisa-cel": "#009639",
    "brexu-cel": "#ED8B00",
    "liso-cel": "#7C2855",
    "obe-cel": "#00A9CE",
}


def infusions_by_quarter(table: pl.DataFrame) -> go.Figure:
    """Stacked bars of infusions per quarter, one colour per product."""
    figure = go.Figure()
    for product in sorted(table["product_code"].unique()):
        part = table.filter(pl.col("product_code") == product)
        figure.add_bar(
            x=part["quarter"].to_list(), y=part["infusions"].to_list(), name=product,
            marker_color=PRODUCT_COLOURS.get(product),
            hovertemplate="%{x|%Y Q%q}: %{y} infusions<extra>" + product + "</extra>",
        )
    figure.update_layout(
        barmode="stack", xaxis_title="Quarter of infusion", yaxis_title="Infusions",
        legend_title_text="Product", margin={"t": 30, "r": 10, "l": 10, "b": 10}, height=360,
    )
    return figure


def followup_completeness(table: pl.DataFrame, threshold: float) -> go.Figure:
    """Day-30 and day-100 follow-up completeness per centre with Wilson 95% intervals, against the threshold."""
    ordered = table.filter(pl.col("d30_due") > 0).sort("d30_rate", descending=True, nulls_last=True)
    figure = go.Figure()
    for day, colour in ((30, "#005EB8"), (100, "#768692")):
        rate = ordered[f"d{day}_rate"]
        figure.add_scatter(
            x=(rate * 100).to_list(), y=ordered["centre_code"].to_list(), mode="markers", name=f"Day {day}",
            marker={"color": colour, "size": 9 if day == 30 else 8,
                    "symbol": "circle" if day == 30 else "diamond-open"},
            # The interval on day 30 only: it is the one the completeness gate judges.
            error_x={"type": "data", "symmetric": False, "visible": day == 30,
                     "array": ((ordered[f"d{day}_ci_high"] - rate) * 100).to_list(),
                     "arrayminus": ((rate - ordered[f"d{day}_ci_low"]) * 100).to_list(), "thickness": 1},
            customdata=ordered.select(f"d{day}_received", f"d{day}_due", "centre_name").rows(),
            hovertemplate="%{customdata[2]}<br>" + f"Day {day}: " + "%{customdata[0]} of %{customdata[1]} due "
            "(%{x:.1f}%)<extra></extra>",
        )
    figure.add_vline(x=threshold * 100, line_dash="dash", line_color="#DA291C",
                     annotation_text=f"{threshold:.0%} threshold", annotation_position="top")
    figure.update_layout(
        xaxis_title="Follow-up received, % of due", xaxis_range=[max(0, (ordered["d30_ci_low"].min() or 0) * 100 - 5),
                                                                 101],
        yaxis={"autorange": "reversed", "title": None}, height=max(320, 22 * ordered.height + 80),
        legend={"orientation": "h", "y": -0.12}, margin={"t": 30, "r": 10, "l": 10, "b": 10},
    )
    return figure
