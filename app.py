"""vae-explorer: `streamlit run app.py`. This file only builds the navigation and runs it."""

from pathlib import Path

# Imported before any page runs, although no page uses it directly: plotly looks pandas up in
# sys.modules whenever it builds a figure, and a pandas half-imported by another thread (the
# quick start's warm-up loads sklearn, which imports it) made a figure fail with "partially
# initialized module 'pandas' has no attribute 'Series'" (seen in bench/newcomer.py runs).
import pandas  # noqa: F401
import streamlit as st

from ui.app_entry import follow_page_request
from ui.badge import show_model_badge
from ui.map_controls import page_shortcuts
from ui.page_style import apply_page_style
from ui.presenter import apply_presenter_mode
from ui.reconnect import notice_lost_session
from ui.script_thread import follow_thread_policy
from ui.server_tuning import tune_server_process
from ui.session_keys import init_state
from ui.share import restore_shared_view, sync_share_params
from ui.training import show_training_status

ROOT = Path(__file__).parent

# (file, title, icon, section). Pages owned by other parts of the project appear as soon as
# their file exists, so a half-built tree still runs.
PAGES = [
    ("pages/home.py", "Home", ":material/home:", "Start"),
    ("pages/train.py", "Train", ":material/model_training:", "Start"),
    ("pages/models.py", "Models", ":material/folder_open:", "Start"),
    ("pages/latent_map.py", "Latent map", ":material/scatter_plot:", "Look inside"),
    ("pages/inference.py", "Inference lab", ":material/functions:", "Look inside"),
    ("pages/interpolate.py", "Interpolate", ":material/timeline:", "Look inside"),
    ("pages/manifold.py", "Manifold & samples", ":material/grid_on:", "Look inside"),
    ("pages/surface_3d.py", "3-D picture", ":material/view_in_ar:", "Look inside"),
    ("pages/compare.py", "Compare embeddings", ":material/compare:", "Look inside"),
    ("pages/aggregate.py", "Aggregate posterior", ":material/blur_on:", "Look inside"),
    ("pages/beta.py", "β and the bubbles", ":material/bubble_chart:", "Look inside"),
    ("pages/draw.py", "Draw & encode", ":material/draw:", "Look inside"),
]

tune_server_process()  # once per process: TCP_NODELAY, GIL switch interval (see there)
# The favicon is a file of ours, sent inline: for a ":material/...:" page icon Streamlit's
# browser code fetches the SVG from fonts.gstatic.com (the icons in the page use a bundled font).
st.set_page_config(page_title="VAE explorer", page_icon=ROOT / "ui" / "favicon.svg", layout="wide")
init_state()
follow_thread_policy()  # this run's thread; fragments follow it too (ui/script_thread.py)
notice_lost_session()  # the page reconnected, but its server had lost the session

sections: dict[str, list[st.Page]] = {}
for path, title, icon, section in PAGES:
    if (ROOT / path).exists():
        page = st.Page(path, title=title, icon=icon, default=path == "pages/home.py")
        sections.setdefault(section, []).append(page)
page = st.navigation(sections)
follow_page_request(page.url_path)  # a page first opened without app.py (cold deep link)
restore_shared_view()  # a shared link (?model=&z=...) sets the view before anything draws
show_model_badge()  # after st.navigation: its elements belong to the page being shown
show_training_status(page.title)  # keeps a run's heartbeat going on every page
apply_page_style()  # labels wrap rather than end in "…" on a small screen
apply_presenter_mode([p for ps in sections.values() for p in ps], page)  # big text, menu
page_shortcuts(page.url_path)  # B, C, P, ←/→ on the Latent map (listed there), Esc
sync_share_params()  # before page.run(): code after it does not run on reruns (measured)
page.run()
