"""Shared pytest fixtures."""

import pytest


@pytest.fixture(scope="session")
def video_corpus(tmp_path_factory):
    """Frame-indexed test videos, written once per session: {name: CorpusVideo}."""
    from tests.preprocess import video_corpus

    return video_corpus.build(tmp_path_factory.mktemp("video_corpus"))


def pytest_collection_modifyitems(config, items):
    """Runs tests that load decord last.

    decord 0.6.0 bundles its own image libraries; once it is loaded, TensorFlow's DecodePng in the
    same process fails ("Invalid PNG"). That is a real limitation of --decoder=decord (BUILD.md),
    not of the code under test, so the rest of the suite must not depend on test order around it.
    """
    items.sort(key=lambda item: "decord" in item.nodeid)
