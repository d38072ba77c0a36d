"""Where things go (vfi_lib.paths): result names never replace a file, smoke-run folders, caches."""

import os

import pytest

from vfi_lib import paths


@pytest.fixture
def outputs(tmp_path, monkeypatch):
    monkeypatch.setenv("VFI_OUTPUTS", str(tmp_path / "outputs"))
    monkeypatch.setenv("VFI_RUN_ID", "r1")
    monkeypatch.delenv("VFI_SMOKE", raising=False)
    return tmp_path / "outputs"


def test_result_path_never_names_an_existing_file(outputs):
    first = paths.result_path("benchmarks", "eval x", "json")
    assert first == outputs / "benchmarks" / "eval-x__r1.json" and not first.exists()
    assert paths.result_path("benchmarks", "eval x", "json") == first  # nothing written yet: the same name
    first.write_text("{}")
    second = paths.result_path("benchmarks", "eval x", ".json")
    assert second.name == "eval-x__r1-2.json"
    second.write_text("{}")
    assert paths.result_path("benchmarks", "eval x", "json").name == "eval-x__r1-3.json"
    assert paths.result_path("benchmarks", "eval x", "csv").name == "eval-x__r1.csv"  # per extension
    assert first.read_text() == "{}"


def test_free_path_and_path_tag(tmp_path):
    f = tmp_path / "a.tar.gz"
    assert paths.free_path(f) == f
    f.write_text("")
    assert paths.free_path(f).name == "a.tar-2.gz"
    (tmp_path / "b").mkdir()
    assert paths.free_path(tmp_path / "b").name == "b-2"  # a folder takes the name too
    one, two = tmp_path / "x" / "My Clips", tmp_path / "y" / "My Clips"
    tag = paths.path_tag(one)
    assert tag == paths.path_tag(str(one) + "/") and tag.startswith("My-Clips-") and len(tag) == len("My-Clips-") + 6
    assert paths.path_tag(two) != tag and paths.path_tag(two).startswith("My-Clips-")
    assert paths.safe_stem(paths.path_tag("/")) == paths.path_tag("/")  # no folder name: the hash alone


def test_smoke_runs_dir_and_new_run_folder(outputs):
    runs = paths.smoke_runs_dir()
    assert runs == outputs / "smoke" / "runs" / "r1" and runs.is_dir()
    assert paths.smoke_runs_dir("other id") == outputs / "smoke" / "runs" / "other-id"
    made = [paths.new_run_folder(runs, "nb10") for _ in range(3)]
    assert [d.name for d in made] == ["nb10", "nb10-2", "nb10-3"] and all(d.is_dir() for d in made)


def test_video_index_path_beside_the_footage_or_in_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    footage = tmp_path / "footage"
    footage.mkdir()
    assert paths.video_index_path(footage) == footage / paths.VIDEO_INDEX_NAME
    assert paths.video_index_path(footage, tmp_path / "idx.json") == tmp_path / "idx.json"
    in_dir = paths.video_index_path(footage, str(tmp_path / "indexes") + "/")
    assert in_dir.parent == tmp_path / "indexes" and in_dir.suffix == ".json" and len(in_dir.stem) == 16
    assert paths.cache_dir("video_index") == tmp_path / "cache" / "vfi_lib" / "video_index"
    monkeypatch.setattr(os, "access", lambda path, mode: False)  # a read-only footage folder (even as root)
    assert paths.video_index_path(footage) == paths.cache_dir("video_index") / in_dir.name
    with pytest.raises(ValueError, match="folder name"):
        paths.cache_dir("../x")
