"""AppTest: hostile model folders, names and paths never take a page down.

- the malformed-folder corpus: every page opens, Train names each broken folder ("broken: …") and deletes one,
  the sidebar's picker never offers them;
- hostile names (a link, an image, a heading, HTML) are shown escaped: delete confirmation, ?view= errors, uploads;
- dataset folders only from the data roots ($VAE_DATA_ROOTS names the setting).
"""
import io
import json
import shutil
import zipfile

import numpy as np
import pytest
from PIL import Image

from tests import hostile_corpus
from ui import loaders
from vae_core import paths
from vae_core.map.projection import ProjectionSpec

PAGES = ["pages/map.py", "pages/generate.py", "pages/encode.py", "pages/interpolate.py", "pages/compare.py",
         "pages/train.py"]
HOSTILE_TEXT = ["[Session expired: log in again](https://evil.example/phish)", "![x](https://evil.example/p.png)",
                "# Heading", "<img src=x onerror=alert(1)>"]


def texts(at, kind: str) -> list[str]:
    return [str(e.value) for e in getattr(at, kind)]


def no_live_markup(source: str) -> bool:
    """No unescaped link/image opener, no raw HTML tag, no heading or list at a line start."""
    import re
    stripped = re.sub(r"\\.", "", source)  # drop escaped characters
    stripped = re.sub(r"(`+) .*? \1", "", stripped)  # and code spans
    return not re.search(r"\]\(|<[a-zA-Z/!]|^\s*#{1,6}\s|https?:", stripped, flags=re.MULTILINE)


@pytest.fixture
def corpus_models(tiny_models_dir, tmp_path, monkeypatch):
    models_dir = tmp_path / "models"
    expected = hostile_corpus.build(models_dir)
    shutil.copytree(tiny_models_dir / "digits-tiny", models_dir / "digits-tiny")
    monkeypatch.setenv("VAE_MODELS_DIR", str(models_dir))
    monkeypatch.setattr(paths, "PRETRAINED_DIR", tmp_path / "pretrained")  # only the corpus and the tiny model
    return models_dir, expected


@pytest.mark.parametrize("page_file", PAGES)
def test_every_page_opens_with_the_corpus(app, corpus_models, open_page, page_file):
    models_dir, expected = corpus_models
    app.session_state["model_path"] = str(models_dir / "digits-tiny")
    open_page(app, page_file)
    offered = app.sidebar.selectbox(key="model_path").options
    broken = [name for name, is_broken in expected.items() if is_broken]
    assert not [o for o in offered if any(o.startswith(f"{name} (") for name in broken)], offered
    if page_file == "pages/train.py":
        warnings = [w for w in texts(app, "warning") if w.startswith("broken:")]
        for name in broken:
            assert any(hostile_escaped(name) in w for w in warnings), name
        table = app.dataframe[0].value
        assert len(table) == len(expected) + 1 and set(table[table["kind"] == "broken"]["name"]) == set(broken)
        assert any(hostile_escaped("metrics.json: ignored") in c for c in texts(app, "caption"))


def hostile_escaped(name: str) -> str:
    from ui.text import md_escape
    return md_escape(name)


def test_a_broken_folder_can_be_deleted_from_train(app, corpus_models, open_page):
    models_dir, _ = corpus_models
    open_page(app, "pages/train.py")
    target = str(models_dir / "fifo-config")
    app.selectbox(key="train_target").set_value(target).run()
    assert "broken" in app.selectbox(key="train_target").format_func(target)
    app.button(key="delete_listed").click().run()
    app.button(key="delete_confirm").click().run()
    assert not (models_dir / "fifo-config").exists()
    assert any("Deleted fifo-config" in t for t in texts(app, "success"))


@pytest.mark.parametrize("name", hostile_corpus.HOSTILE_NAMES)
def test_delete_confirmation_escapes_the_name(app, corpus_models, open_page, name):
    models_dir, _ = corpus_models
    open_page(app, "pages/train.py")
    app.selectbox(key="train_target").set_value(str(models_dir / name)).run()
    app.button(key="delete_listed").click().run()
    confirm = next(w for w in texts(app, "warning") if "cannot be undone" in w)
    assert no_live_markup(confirm), confirm
    assert no_live_markup(app.button(key="delete_confirm").label), app.button(key="delete_confirm").label


@pytest.mark.parametrize("text", HOSTILE_TEXT)
def test_view_link_error_is_escaped(app, open_page, text):
    app.query_params["view"] = text
    app.session_state["map_spec"] = ProjectionSpec("pca")
    app.switch_page("pages/map.py")
    app.run()
    assert not app.exception
    errors = texts(app, "error")
    assert errors and all(no_live_markup(e) for e in errors), errors


def test_upload_names_are_escaped():
    """Bad uploads (their names hostile) are listed by name; the Encode page shows them through md_escape."""
    names = [f"{t}.png" for t in HOSTILE_TEXT]  # AppTest cannot upload: the page's own message path, called here
    from vae_core.data.uploads import load_uploads

    results = load_uploads([(n, b"not an image") for n in names], (1, 28, 28))
    from ui.text import md_escape
    shown = [md_escape(r.error) for r in results]
    assert all(r.error for r in results) and all(no_live_markup(s) for s in shown), shown


# --- data roots ---------------------------------------------------------------------------------------------
def picture_folder(root) -> str:
    for label in ("a", "b"):
        (root / label).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(np.full((28, 28), 40 * i, np.uint8)).save(root / label / f"{i}.png")
    return str(root)


def test_own_pictures_outside_the_data_roots_are_refused(app, tmp_path, monkeypatch, open_page):
    monkeypatch.setenv("VAE_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.delenv("VAE_DATA_ROOTS", raising=False)
    outside = picture_folder(tmp_path / "secret")
    open_page(app, "pages/train.py")
    app.selectbox(key="train_dataset").set_value("Your own pictures…").run()
    app.text_input(key="train_folder").set_value(outside)
    app.button(key="train_start").click().run()
    errors = texts(app, "error")
    assert any("VAE\\_DATA\\_ROOTS" in e or "VAE_DATA_ROOTS" in e for e in errors), errors
    assert not app.get("progress")


def test_a_config_naming_any_folder_does_not_show_it(app, tiny_models_dir, tmp_path, monkeypatch):
    """A model whose config.json says "dataset": "folder:<anywhere>": selecting it is refused with the setting's name;
    with the folder in $VAE_DATA_ROOTS it opens."""
    outside = picture_folder(tmp_path / "secret")
    models_dir = tmp_path / "models"
    shutil.copytree(tiny_models_dir / "digits-tiny", models_dir / "peek", ignore=shutil.ignore_patterns("cache"))
    config = json.loads((models_dir / "peek" / "config.json").read_text())
    config["dataset"] = f"folder:{outside}"
    (models_dir / "peek" / "config.json").write_text(json.dumps(config))
    monkeypatch.setenv("VAE_MODELS_DIR", str(models_dir))
    monkeypatch.delenv("VAE_DATA_ROOTS", raising=False)
    app.session_state["dataset_name"] = f"folder:{outside}"
    app.session_state["model_path"] = str(models_dir / "peek")
    app.session_state["map_spec"] = ProjectionSpec("pca")
    app.switch_page("pages/map.py")
    app.run()
    assert not app.exception
    assert any("VAE" in e and "DATA" in e and "ROOTS" in e for e in texts(app, "error")), texts(app, "error")
    assert not app.get("plotly_chart")

    monkeypatch.setenv("VAE_DATA_ROOTS", str(tmp_path / "secret"))
    loaders.get_dataset.clear()
    app.run()
    assert not app.exception
    assert not [e for e in texts(app, "error") if "ROOTS" in e], texts(app, "error")


def test_a_zip_outside_the_roots_is_refused_and_the_cli_is_free(tmp_path, monkeypatch):
    from vae_core import data
    from vae_core.data import roots as data_roots
    from vae_core.errors import DataError

    monkeypatch.delenv("VAE_DATA_ROOTS", raising=False)
    monkeypatch.delenv("VAE_DATA_DIR", raising=False)
    archive = tmp_path / "pics.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for label in ("a", "b"):
            for i in range(6):
                buffer = io.BytesIO()
                Image.fromarray(np.full((28, 28), 40 * i, np.uint8)).save(buffer, "PNG")
                z.writestr(f"{label}/{i}.png", buffer.getvalue())
    with pytest.raises(DataError, match="VAE_DATA_ROOTS"):
        data_roots.check_app_dataset(str(archive))
    with pytest.raises(DataError, match="VAE_DATA_ROOTS"):  # "~" is not expanded, and ".." cannot climb out
        data_roots.check_app_dataset(f"folder:{paths.data_dir()}/../vae_core")
    data_roots.check_app_dataset("digits")
    data_roots.check_app_dataset(f"folder:{paths.data_dir()}/mine")
    monkeypatch.setenv("VAE_DATA_ROOTS", f"/nonexistent:{tmp_path}")
    data_roots.check_app_dataset(str(archive))
    assert len(data.load_dataset(str(archive)).class_names) == 2  # the library (and the CLI) take any path
