"""Views that travel and lecture scenes: the link codec's new fields, the scene file, the
presenter-mode figure restyling and the keyboard shortcuts' effect on the map's widget keys.

All pure or against a fake session state: no Streamlit server, no browser (those are in
tests/test_views_app.py and tests/e2e/test_views_e2e.py).
"""

from __future__ import annotations

import json
import math
import os
import stat
import threading
import urllib.parse
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import pytest

from tests.hostile import assert_clear_message
from ui.scenes import (
    FILE_NAME,
    LOCK_NAME,
    MAX_FILE_BYTES,
    MAX_SCENES,
    Scene,
    SceneBook,
    SceneError,
    dump_scenes,
    parse_scenes,
    scene_from_json,
)
from ui.view_link import (
    BUBBLE_CHOICES,
    COLOR_CHOICES,
    MAX_DRAW,
    ModelRef,
    SharedView,
    ShareError,
    decode_view,
    encode_view,
    fit_view,
)
from viz.presentation import projector_figure, smallest_font

FULL = SharedView(
    model=ModelRef("fashion run"),
    z=(0.123456789, -1.5),
    index=42,
    selected=(3, 1),
    path=((0, 0), (1.5, 2)),
    window=(-1.25, 2.5, -0.75, 3.0),
    color_by="KL to prior",
    bubbles="2σ",
    prior=True,
    present=True,
)


# --- the link codec ----------------------------------------------------------------------------


def test_a_whole_view_round_trips_through_a_link():
    params = encode_view(FULL)
    assert params["win"] == "-1.25,2.5,-0.75,3" and params["color"] == "kl"
    assert params["bub"] == "2" and params["prior"] == "1" and params["i"] == "42"
    decoded, unknown = decode_view(params)
    assert unknown == []
    assert decoded.window == FULL.window and decoded.index == 42
    assert (decoded.color_by, decoded.bubbles, decoded.prior) == ("KL to prior", "2σ", True)
    assert decoded.z == pytest.approx(FULL.z, rel=1e-6)


@pytest.mark.parametrize("color", COLOR_CHOICES)
@pytest.mark.parametrize("bubbles", BUBBLE_CHOICES)
def test_every_option_round_trips_with_ascii_codes(color, bubbles):
    params = encode_view(SharedView(color_by=color, bubbles=bubbles, prior=False))
    assert all(ch.isascii() for value in params.values() for ch in value)
    decoded, _ = decode_view(params)
    assert (decoded.color_by, decoded.bubbles, decoded.prior) == (color, bubbles, False)


def test_a_float32_mean_survives_the_link():
    """The clicked point's μ is float32: the link's z must give back the same float32."""
    mu = np.float32([0.1234567, -3.987654])
    decoded, _ = decode_view(encode_view(SharedView(z=(float(mu[0]), float(mu[1])), index=0)))
    assert np.array_equal(np.float32(decoded.z), mu)


def test_the_labs_point_and_binary_sample_round_trip():
    """Issue 18: the number the class saw is the number the link shows."""
    view = SharedView(lab_point=42, lab_draw=MAX_DRAW)
    params = encode_view(view)
    assert params == {"lab": "42", "b": str(MAX_DRAW)}
    assert decode_view(params)[0] == view
    assert decode_view({"b": "0"})[0] == SharedView(lab_draw=0)  # 0 is a number, not "unset"


def test_unset_fields_stay_out_of_the_link():
    assert encode_view(SharedView()) == {}
    assert decode_view({"z": "1,2"})[0] == SharedView(z=(1.0, 2.0))


# Legal names a library may hold (vae.library.safe_model_name), the unusual ones in particular.
UNUSUAL_NAMES = ["a", "my model", "v1.2-final_b", "x" * 80, "a  b", "-lead", "_", "9", "e.g. 3 x 4"]
SHIPPED_NAMES = sorted(
    p.stem for p in (Path(__file__).resolve().parent.parent / "pretrained").glob("*.safetensors")
)


@pytest.mark.parametrize(
    "ref",
    [ModelRef(n) for n in UNUSUAL_NAMES] + [ModelRef(n, "pretrained") for n in SHIPPED_NAMES],
)
def test_every_model_name_the_app_writes_into_a_link_reads_back(ref):
    """One owner for both sides: whatever ModelRef the writer holds, the reader gives back,
    through the query string a browser sends (spaces as '+', parentheses escaped)."""
    params = encode_view(SharedView(model=ref, color_by="KL to prior"))
    sent = urllib.parse.parse_qs(urllib.parse.urlencode(params), strict_parsing=True)
    decoded, unknown = decode_view({k: v[-1] for k, v in sent.items()})
    assert unknown == [] and decoded.model == ref and decoded.color_by == "KL to prior"


def test_the_shipped_model_is_linked_by_name_and_source():
    assert SHIPPED_NAMES, "no shipped model to test"
    assert encode_view(SharedView(model=ModelRef("fashion-mnist", "pretrained"))) == {
        "model": "fashion-mnist",
        "src": "pretrained",
    }
    # The links written before the source had its own parameter still open.
    old, _ = decode_view({"model": "fashion-mnist (pretrained)"})
    assert old.model == ModelRef("fashion-mnist", "pretrained")


@pytest.mark.parametrize(
    ("name", "source"),
    [("a/b", None), ("..", None), ("m", "http://evil"), ("m", ""), (" ", None), ("é", None)],
)
def test_a_ref_no_model_can_have_is_one_clear_sentence(name, source):
    with pytest.raises(ShareError) as caught:
        decode_view({"model": name} | ({"src": source} if source is not None else {}))
    assert_clear_message(str(caught.value), ".")
    with pytest.raises(ShareError):  # the writer cannot hold one either
        ModelRef(name, "saved" if source is None else source)


def test_point_numbers_are_fitted_to_the_model_once_it_is_open():
    view, _ = decode_view({"z": "0.5,1", "i": "9999999", "sel": "1,20,9999"})
    fitted, notes = fit_view(view, points=100)
    assert fitted.z == (0.5, 1.0) and fitted.index is None and fitted.selected == (1, 20)
    assert len(notes) == 2 and "#9999999" in notes[0] and "1 selected point number" in notes[1]
    assert fit_view(view, points=10_000_000) == (view, [])
    lab, _ = decode_view({"lab": "100", "b": "3"})
    fitted, notes = fit_view(lab, points=100)
    assert fitted.lab_point is None and fitted.lab_draw == 3
    assert len(notes) == 1 and "Inference lab point #100" in notes[0]


@pytest.mark.parametrize(
    "params",
    [
        {"win": "0,1,0"},
        {"win": "0,1,0,1,2"},
        {"win": "1,0,0,1"},  # x0 > x1
        {"win": "0,1,1,1"},  # empty height
        {"win": "0,nan,0,1"},
        {"win": "0,inf,0,1"},
        {"win": "-1e9,0,0,1"},
        {"win": "a,b,c,d"},
        {"win": ""},
        {"color": "sigma²"},
        {"color": "σ (posterior std)"},  # the label, not the code
        {"color": ""},
        {"bub": "3"},
        {"bub": "1σ"},
        {"prior": "true"},
        {"i": "5"},  # a point without where it was clicked
        {"z": "0,0", "i": "-1"},
        {"z": "0,0", "i": "1.5"},
        {"z": "0,0", "i": "²"},
        {"z": "0,0", "i": "99999999999"},
        {"z": "0,0", "i": "1" * 100_000},
        {"b": "-1"},
        {"b": str(MAX_DRAW + 1)},
        {"b": "1.0"},
        {"b": "٣"},  # a digit, but not an ASCII one
        {"b": ""},
        {"lab": "x"},
        {"lab": "99999999999"},
    ],
)
def test_hostile_view_parameters_are_one_clear_sentence(params):
    with pytest.raises(ShareError) as caught:
        decode_view(params)
    assert_clear_message(str(caught.value), ".")


# --- scenes ------------------------------------------------------------------------------------


def test_scenes_are_saved_listed_replaced_and_deleted(tmp_path):
    book = SceneBook(tmp_path)
    assert book.read() == []
    book.save(Scene("1 overview", FULL))
    book.save(Scene("2 zoom", SharedView(model=ModelRef("m"), window=(0, 1, 0, 1))))
    assert [s.name for s in book.read()] == ["1 overview", "2 zoom"]
    assert book.read()[0].view.window == FULL.window and book.read()[0].view.index == 42
    with pytest.raises(SceneError, match="already"):
        book.save(Scene("2 ZOOM", SharedView(model=ModelRef("m"))))  # names are compared case-blind
    book.save(Scene("2 zoom", SharedView(model=ModelRef("m"), bubbles="off")), overwrite=True)
    assert [s.view.bubbles for s in book.read()] == ["2σ", "off"]
    book.delete("1 overview")
    assert [s.name for s in book.read()] == ["2 zoom"]
    with pytest.raises(SceneError, match="no scene"):
        book.delete("1 overview")
    left = sorted(p.name for p in tmp_path.iterdir() if p.name != LOCK_NAME)
    assert left == [FILE_NAME]  # no temp file left


def test_concurrent_saves_lose_no_scene(tmp_path):
    book = SceneBook(tmp_path)
    errors = []

    def save(i: int) -> None:
        try:
            SceneBook(tmp_path).save(Scene(f"scene {i}", SharedView(model=ModelRef("m"), z=(i, 0))))
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=save, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(book.read()) == 20


SAVE_MANY = """
import sys
from ui.scenes import Scene, SceneBook
from ui.view_link import ModelRef, SharedView
root, worker = sys.argv[1], int(sys.argv[2])
for i in range(5):
    SceneBook(root).save(Scene(f"w{worker} s{i}", SharedView(model=ModelRef("m"), z=(worker, i))))
"""


def test_saves_from_several_processes_lose_no_scene(tmp_path):
    """The lecture hall runs several server processes on one model library."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    workers = [
        subprocess.Popen([sys.executable, "-c", SAVE_MANY, str(tmp_path), str(w)], cwd=root)
        for w in range(4)
    ]
    assert [w.wait(timeout=300) for w in workers] == [0, 0, 0, 0]
    assert len(SceneBook(tmp_path).read()) == 20


def _document(*entries) -> bytes:
    return json.dumps({"version": 1, "scenes": list(entries)}).encode()


GOOD = {"name": "ok", "view": {"model": "m"}}
ALSO_GOOD = {
    "name": "also ok",
    "view": {"model": "fashion-mnist", "src": "pretrained", "color": "kl"},
}


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xff\xfe",
        b"[1, 2]",
        b"{" * 100_000,
        b"[" * 200_000 + b"]" * 200_000,
        json.dumps({"version": 2, "scenes": []}).encode(),
        json.dumps({"version": 1}).encode(),
        json.dumps({"version": 1, "scenes": {"a": 1}}).encode(),
        b" " * (MAX_FILE_BYTES + 1),
    ],
)
def test_a_file_that_is_no_scene_list_is_one_clear_sentence(data):
    found = parse_scenes(data)
    assert found.damaged and found.scenes == []
    (problem,) = found.problems
    assert_clear_message(problem, ".")


@pytest.mark.parametrize(
    "bad",
    [
        GOOD,  # its name is taken by the first scene
        {"name": "../../etc/passwd", "view": {"model": "m"}},
        {"name": "a\nb", "view": {"model": "m"}},
        {"name": "", "view": {"model": "m"}},
        {"name": "x" * 200, "view": {"model": "m"}},
        {"name": 5, "view": {"model": "m"}},
        {"name": "x\ud800y", "view": {"model": "m"}},
        {"name": "no model", "view": {}},
        {"name": "bad model", "view": {"model": "a/b"}},
        {"name": "bad source", "view": {"model": "m", "src": "http://x"}},
        {"name": "surrogate model", "view": {"model": "m\udfff"}},
        {"name": "nan", "view": {"model": "m", "z": "nan,0"}},
        {"name": "window", "view": {"model": "m", "win": "1,0,0,1"}},
        {"name": "list", "view": {"model": ["m"]}},
        {"name": "types", "view": {"model": "m", "z": [1, 2]}},
        {"name": "extra", "view": {"model": "m", "![x](https://evil.example/i.png)": "1"}},
        {"name": "more keys", "view": {"model": "m"}, "x": 1},
        {"name": "nested", "view": {"model": {"a": [[[[1]]]]}}},
        [1, 2, 3],
        None,
    ],
)
def test_one_bad_scene_is_reported_and_the_others_are_kept(bad):
    found = parse_scenes(_document(GOOD, bad, ALSO_GOOD))
    assert not found.damaged
    assert [s.name for s in found.scenes] == ["ok", "also ok"]
    assert found.scenes[1].view.model == ModelRef("fashion-mnist", "pretrained")
    assert found.scenes[1].view.color_by == "KL to prior"
    (problem,) = found.problems
    assert problem.startswith("scene 2: ")
    assert_clear_message(problem, ".")
    assert "https://" not in problem or "'![x](https://" in problem  # quoted, never bare
    problem.encode("utf-8")  # no lone surrogate reaches a message


def test_entries_past_the_limit_are_reported_not_read():
    found = parse_scenes(
        _document(*[{"name": f"s{i}", "view": {"model": "m"}} for i in range(MAX_SCENES + 2)])
    )
    assert len(found.scenes) == MAX_SCENES and len(found.problems) == 2


def test_a_save_keeps_the_entries_it_could_not_read_as_they_were(tmp_path):
    """Bad input loses nothing: the unreadable scene stays in the file, byte for byte the same
    JSON value (a lone surrogate included), and the new scene is added beside it."""
    bad = {"name": "x\ud800", "view": {"z": "x"}}
    (tmp_path / FILE_NAME).write_bytes(_document(GOOD, bad))
    SceneBook(tmp_path).save(Scene("new", SharedView(model=ModelRef("m"))))
    stored = json.loads((tmp_path / FILE_NAME).read_bytes())
    assert stored["scenes"][1] == bad and stored["scenes"][2]["name"] == "new"
    assert [s.name for s in SceneBook(tmp_path).read()] == ["ok", "new"]


def test_a_damaged_file_is_set_aside_by_a_save_never_overwritten(tmp_path):
    (tmp_path / FILE_NAME).write_bytes(b"{not json")
    scenes, aside = SceneBook(tmp_path).save(Scene("new", SharedView(model=ModelRef("m"))))
    assert [s.name for s in scenes] == ["new"]
    assert (tmp_path / aside).read_bytes() == b"{not json"


def test_an_oversized_scene_file_is_not_read(tmp_path):
    (tmp_path / FILE_NAME).write_bytes(b" " * (MAX_FILE_BYTES + 10))
    found = SceneBook(tmp_path).read_file()
    assert found.damaged and "more than the 0.5 MB a scene file may be" in found.problems[0]


def test_a_fifo_is_not_waited_for(tmp_path):
    """A FIFO named scenes.json blocked every Latent-map visit forever: it is refused at once
    (the read runs in a thread, so a regression fails the test instead of hanging it)."""
    os.mkfifo(tmp_path / FILE_NAME)
    result = {}
    reader = threading.Thread(
        target=lambda: result.update(found=SceneBook(tmp_path).read_file()), daemon=True
    )
    reader.start()
    reader.join(timeout=60)
    assert not reader.is_alive(), "reading a FIFO blocked"
    assert result["found"].damaged and "not a regular file" in result["found"].problems[0]
    # A save sets the FIFO aside (never opening it) and starts a new file.
    scenes, aside = SceneBook(tmp_path).save(Scene("new", SharedView(model=ModelRef("m"))))
    assert stat.S_ISFIFO((tmp_path / aside).lstat().st_mode) and len(scenes) == 1


@pytest.mark.parametrize("target", ["/dev/zero", "good.json"])
def test_a_link_is_not_followed(tmp_path, target):
    """A link to /dev/zero was read until memory ran out; no link is followed, even to a file."""
    (tmp_path / "good.json").write_bytes(_document(GOOD))
    (tmp_path / FILE_NAME).symlink_to(target)
    found = SceneBook(tmp_path).read_file()
    assert found.damaged and "symbolic link" in found.problems[0]


def test_a_file_is_parsed_once_per_version(tmp_path, monkeypatch):
    import ui.scenes as scenes_module

    calls = []
    real = scenes_module.parse_scenes
    monkeypatch.setattr(scenes_module, "parse_scenes", lambda data: calls.append(1) or real(data))
    book = SceneBook(tmp_path)
    book.save(Scene("one", SharedView(model=ModelRef("m"))))
    for _ in range(5):
        assert [s.name for s in book.read()] == ["one"]
    parsed = len(calls)
    book.save(Scene("two", SharedView(model=ModelRef("m"))))  # a new version of the file
    assert [s.name for s in book.read()] == ["one", "two"]
    assert parsed <= 2 and len(calls) == parsed + 1


def test_scene_names_follow_the_model_library_rules():
    assert scene_from_json({"name": "  a scene  ", "view": {"model": "m"}}).name == "a scene"
    for bad in ("a/b", "..", ".hidden", "CON", "é"):
        with pytest.raises(SceneError, match="scene name"):
            scene_from_json({"name": bad, "view": {"model": "m"}})


def test_a_scene_file_round_trips():
    scenes = [Scene("one", FULL), Scene("two", SharedView(model=ModelRef("m", "pretrained")))]
    read = parse_scenes(dump_scenes(scenes)).scenes
    assert [s.name for s in read] == ["one", "two"] and read[1] == scenes[1]
    assert read[0].view.color_by == "KL to prior" and read[0].view.window == FULL.window


# --- presenter-mode figures --------------------------------------------------------------------


def test_projector_figure_raises_every_font_and_shares_the_data():
    fig = go.Figure(
        go.Heatmap(z=np.eye(3), colorbar=dict(title=dict(text="c", font=dict(size=9)))),
    )
    fig.add_trace(go.Scatter(x=[0], y=[0], mode="text", text=["a"], textfont=dict(size=8)))
    fig.update_layout(
        font=dict(size=11),
        legend=dict(font=dict(size=10)),
        xaxis=dict(tickfont=dict(size=7), title=dict(text="x", font=dict(size=9))),
        annotations=[dict(text="n", font=dict(size=13), x=0, y=0)],
        height=300,
    )
    source = fig.to_dict()
    assert smallest_font(source) == 7
    styled = projector_figure(source, 18, height=880)
    assert smallest_font(styled) == 18 and styled["layout"]["height"] == 880
    assert styled["layout"]["font"]["color"] == "#000000"
    assert source["layout"]["font"]["size"] == 11  # the (shared, frozen) source is untouched
    assert styled["data"][0]["z"] is source["data"][0]["z"]  # arrays shared, not copied
    assert source["data"][1]["textfont"]["size"] == 8


@pytest.mark.parametrize("builder", ["loss_curves", "density", "forces", "latent_map"])
def test_every_kind_of_figure_reaches_18_px_in_presenter_mode(builder):
    from vae.density import aggregate_density, kl_forces
    from viz.aggregate import density_figure, kl_forces_figure
    from viz.latent_map import latent_map_figure
    from viz.plots import loss_curves

    rng = np.random.default_rng(0)
    mu, sigma = rng.normal(size=(50, 2)), np.full((50, 2), 0.3)
    if builder == "loss_curves":
        history = [
            dict(epoch=e, train_elbo=-e, test_elbo=-e, train_recon=e, train_kl=1) for e in (1, 2)
        ]
        fig = loss_curves(history)
    elif builder == "density":
        fig = density_figure(aggregate_density(mu, sigma, (-3, 3), (-3, 3), 20))
    elif builder == "forces":
        fig = kl_forces_figure(kl_forces(mu, sigma), recon=10.0)
    else:
        fig = latent_map_figure(mu, sigma, rng.integers(0, 3, 50), color_kind="class")
    assert smallest_font(projector_figure(fig.to_dict())) >= 18
    assert not math.isnan(smallest_font(fig.to_dict()))


@pytest.mark.parametrize(
    "window, expected",
    [
        ([-1, 2, -3, 4], (-1.0, 2.0, -3.0, 4.0)),
        ((0.5, 0.25, 0, 1), None),  # x0 > x1
        ([0, float("nan"), 0, 1], None),
        ([0, 1, 0], None),
        ("0,1,0,1", None),
        (None, None),
        ([0, 1e9, 0, 1], None),
    ],
)
def test_only_a_window_a_link_can_carry_is_written_into_it(window, expected):
    from ui.view_link import checked_window

    assert checked_window(window) == expected


def test_a_projector_figure_has_24_px_text_bigger_markers_and_decades_on_log_axes():
    """Hall grade (issue 18): text 24 px (was 18), markers 1.6x; Plotly labels a log axis's
    2 and 5 between decades at three quarters of the tick size, so only decades are labelled."""
    import plotly.graph_objects as go

    from viz.presentation import PRESENTER_FONT_PX, projector_figure, smallest_font

    fig = go.Figure(go.Scatter(x=[1, 10, 100], y=[1, 2, 3], mode="markers", marker=dict(size=5)))
    fig.update_xaxes(type="log")
    source = fig.to_dict()
    styled = projector_figure(source, marker_scale=1.6)
    assert PRESENTER_FONT_PX == 24 and smallest_font(styled) >= 24
    assert styled["data"][0]["marker"]["size"] == 8 and source["data"][0]["marker"]["size"] == 5
    assert styled["layout"]["xaxis"]["dtick"] == 1


# --- the link codec ----------------------------------------------------------------------------


def test_share_round_trip():
    view = SharedView(
        model=ModelRef("digits run"),
        z=(0.5, -1.25),
        selected=(3, 1, 7),
        path=((0, 0), (1.5, 2)),
        present=True,
    )
    params = encode_view(view)
    assert set(params) == {"model", "z", "sel", "path", "present"}
    decoded, unknown = decode_view(params)
    assert decoded == view and unknown == []
    assert decode_view({}) == (SharedView(), [])
    assert decode_view({"z": "1,2", "utm": "x"})[1] == ["utm"]


@pytest.mark.parametrize(
    "params",
    [
        {"z": "1"},
        {"z": "a,b"},
        {"z": "nan,0"},
        {"z": "1e9,0"},
        {"z": "inf,1"},
        {"sel": "1,-2"},
        {"sel": "1,x"},
        {"sel": ",".join(["1"] * 501)},
        {"path": "0,0"},
        {"path": "0,0;1"},
        {"path": ";".join(["0,0"] * 40)},
        {"model": "../etc/passwd"},
        {"model": "a/b"},
        {"model": "x" * 200},
        {"present": "yes"},
    ],
)
def test_share_rejects_malformed(params):
    with pytest.raises(ShareError):
        decode_view(params)


@pytest.mark.parametrize(
    "params", [{"sel": "²"}, {"z": "1" * 100_000}, {"model": ["a", "b"]}, {"sel": "1" * 30}]
)
def test_share_errors_are_short_sentences(params):
    with pytest.raises(ShareError) as caught:
        decode_view(params)
    assert len(str(caught.value)) < 200 and "\n" not in str(caught.value)
