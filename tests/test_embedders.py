"""Embedders loaded through the real tensorflow_hub path, and the embedding cache."""

import numpy as np
import pytest
import soundfile as sf

from musiccaps_kit.bench.embedders import make_embedder
from musiccaps_kit.bench.embedding_cache import EmbeddingCache
from musiccaps_kit.resources import DEMO_AUDIO_DIR
from tests.hub_models import build_trill_like, build_vggish_like


@pytest.fixture(scope="session")
def hub_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("hub")
    build_vggish_like(root / "vggish")
    build_trill_like(root / "trill")
    return root


@pytest.fixture(scope="session")
def clip():
    wave, rate = sf.read(DEMO_AUDIO_DIR / "nexuiz-00-0.flac", dtype="float32")
    return wave[: 10 * rate], rate


def test_vggish_google2019_frontend_gives_19_windows(hub_dir, clip):
    vggish = make_embedder("vggish", handle=str(hub_dir / "vggish"))
    frames = vggish(*clip)
    assert frames.shape == (19, 128)
    recipe = vggish.recipe()
    assert recipe["rate"] == 16000 and recipe["frontend"] == "google2019"
    assert recipe["normalisation"] == "x / max(0.1, max(x))"
    assert len(recipe["weights_sha256"]) == 64
    # Positive-peak normalisation: a quieter copy embeds the same, up to the 20 dB cap.
    np.testing.assert_allclose(vggish(clip[0] * 0.5, clip[1]), frames, rtol=1e-4, atol=1e-4)


def test_vggish_nonoverlapping_variant_is_a_different_recipe(hub_dir, clip):
    a = make_embedder("vggish", handle=str(hub_dir / "vggish"))
    b = make_embedder("vggish", handle=str(hub_dir / "vggish"), frontend="nonoverlapping")
    assert b(*clip).shape == (10, 128)  # floor(10 s / 0.96 s)
    assert a.recipe() != b.recipe()


def test_trill_outputs(hub_dir, clip):
    trill = make_embedder("trill", handle=str(hub_dir / "trill"))
    assert trill(*clip).shape[1] == 512
    layer19 = make_embedder("trill", handle=str(hub_dir / "trill"), output="layer19")
    assert layer19(*clip).shape[1] == 96
    assert layer19.recipe()["output"] == "layer19"
    with pytest.raises(ValueError, match="trill output"):
        make_embedder("trill", handle=str(hub_dir / "trill"), output="layer7")


def test_cache_reuses_and_invalidates(hub_dir, clip, tmp_path):
    vggish = make_embedder("vggish", handle=str(hub_dir / "vggish"))
    cache = EmbeddingCache(tmp_path, vggish)
    first = cache(*clip)
    again = cache(*clip)
    assert (cache.hits, cache.misses) == (1, 1)
    np.testing.assert_array_equal(first, again)
    changed = clip[0].copy()
    changed[1000] += 0.01  # a changed file is a different key
    cache(changed, clip[1])
    assert cache.misses == 2
    other = EmbeddingCache(
        tmp_path, make_embedder("vggish", handle=str(hub_dir / "vggish"), frontend="nonoverlapping")
    )
    other(*clip)
    assert other.misses == 1, "another setting never reuses the first one's values"


def test_nan_input_is_refused(hub_dir):
    vggish = make_embedder("vggish", handle=str(hub_dir / "vggish"))
    with pytest.raises(ValueError):
        vggish(np.full(16000 * 2, np.nan, dtype=np.float32), 16000)
