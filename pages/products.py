"""Products: every product side by side, and one product in depth (?product=axi-cel)."""

import polars as pl
import streamlit as st

from dashboard import charts, metrics, pages, presenter, ui
from dashboard.metrics.profiles import TOXICITY
from dashboard.ui import keys

data = ui.dataset()
filters = ui.current_filters()
st.title("Products")
ui.period_note(data, filters)
names = dict(data["products"].select("product_code", "brand").iter_rows())

profile = ui.view(ui.calc(metrics.by_product, filters.without("product")))
if len(filters.product) != 1:
    st.caption("Pick one product to see it in depth (this sets the Product filter, so the link can be shared).")
    columns = st.columns(len(names))
    for column, (code, brand) in zip(columns, sorted(names.items()), strict=True):
        column.button(
            f"{code} ({brand})",
            key=f"open_{code}",
            on_click=ui.go_to,
            args=(pages.PRODUCTS.file,),
            kwargs={keys.PRODUCT: [code]},
            width="stretch",
        )
    st.subheader("Toxicity by product")
    ui.chart(
        charts.product_profile(profile), key="product_profile", name="Toxicity of each product, with 95% intervals"
    )
    ui.table(
        presenter.side_by_side(profile),
        "products_side_by_side",
        "products_side_by_side.csv",
        caption="Crude rates (events of patients), every product under the other filters",
        title="Metric",
    )
    st.stop()

product = filters.product[0]
st.header(f"{product} ({names.get(product, '')})")
volume = ui.view(ui.calc(metrics.infusions_by, filters, "quarter", "ta_code"))
left, right = st.columns(2)
with left:
    st.subheader("Infusions per quarter, by TA")
    if not ui.empty_notice(volume, "infusions"):
        ui.chart(
            charts.stacked_bars(
                ui.words(volume), "quarter", "infusions", "ta_code", "Quarter", "Infusions", ui.ta_colours()
            ),
            key="product_volume",
            name="Infusions of this product per quarter, by TA",
            figures=ui.words(volume),
        )
with right:
    st.subheader("Against the other products")
    ui.chart(
        charts.product_profile(profile), key="product_profile", name="Toxicity of each product, with 95% intervals"
    )

st.subheader("Centres using this product")
metric_id = ui.metric_picker(list(TOXICITY), "icans_severe")
within = ui.metric(metric_id, by="centre", filters=filters, adjust="crude")
st.caption(
    f"Crude rates among {product} patients; the target is England's {product} rate "
    f"({ui.share(within.target)}). Click a centre to open its page."
)
ui.chart(
    charts.funnel(within),
    key="product_funnel",
    name="Funnel plot of centres using this product",
    figures=within,
    on_select=ui.drill_down_to_centre("product_funnel"),
    selection_mode="points",
)

left, right = st.columns(2)
with left:
    st.subheader("NICE TAs used")
    tas = ui.view(ui.calc(metrics.infusions_by, filters, "ta_code"))
    if not ui.empty_notice(tas, "infusions"):
        ui.table(tas, "product_tas", f"{product}_tas.csv")
with right:
    st.subheader("CART14: cytopenia onset and resolution")
    recovery = (
        ui.gate()
        .as_text(ui.view(ui.calc(metrics.cytopenia_recovery, filters)))
        .with_columns(pl.exclude("group").cast(pl.Utf8))
    )
    st.dataframe(
        recovery.unpivot(index="group", variable_name="measure").drop("group"), hide_index=True, key="product_cart14"
    )
