"""The group-by dimensions of a metric table, and the episode column each one reads (one list for every caller)."""

GROUPS = {
    "centre": "centre_code",
    "product": "product_code",
    "ta": "ta_code",
    "quarter": "quarter",
    "panel": "panel",
    "age": "age_band",
}
