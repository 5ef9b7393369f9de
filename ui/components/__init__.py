"""Browser components (st.components.v2): each a Python mount beside its JavaScript.

map_layer (the latent map's bubbles, clicks, clicked z and zoom window, beside a Plotly chart),
map_decoder (the decoder run in the browser), scrubber (the interpolation slider), drawing_pad
(draw or upload; the encoder run in the browser), component_js (how their JS is sent).
"""
