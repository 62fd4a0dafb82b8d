"""Shared pytest fixtures."""

import pytest


@pytest.fixture(scope="session")
def video_corpus(tmp_path_factory):
    """Frame-indexed test videos, written once per session: {name: CorpusVideo}."""
    from tests.preprocess import video_corpus

    return video_corpus.build(tmp_path_factory.mktemp("video_corpus"))
