"""Browser components (st.components.v2): each a Python mount beside its JavaScript.

click_map (exact z of a click on a Plotly chart, and its marker), map_decoder (the decoder run in
the browser), scrubber (the interpolation slider), component_js (how their JS is sent).
"""
