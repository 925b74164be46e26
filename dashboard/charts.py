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
