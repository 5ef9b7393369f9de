"""Browser components (st.components.v2): each a Python mount beside its JavaScript.

click_map (exact z of a click on a Plotly chart, and its marker), map_decoder (the decoder run in
the browser), scrubber (the interpolation slider), drawing_pad (draw or upload; the encoder
run in the browser), component_js (how their JS is sent).
"""
