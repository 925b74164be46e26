"""The floor for first paint: a Streamlit page with one Plotly chart and nothing else (bench/first_paint.py)."""

import plotly.graph_objects as go
import streamlit as st

st.plotly_chart(go.Figure(go.Scatter(x=[1, 2, 3, 4], y=[0.1, 0.3, 0.2, 0.4], mode="markers")))
