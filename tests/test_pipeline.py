"""Decoding: DCT-scaled JPEGs, broken files, order, skipped images, batch buffers."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from latentlab.sources import Preprocessing, iter_batches, load_all, open_source
from latentlab.sources._base import UndecodableImage, decode_file

PREPS = [
    Preprocessing(96, 3, (178, 178)),   # the reference: crop 178 → 96, full-size decode
    Preprocessing(96, 1, (178, 178)),   # grey model from RGB files
    Preprocessing(64, 3, None),         # largest centred square
    Preprocessing(32, 3, (178, 178)),   # crop ≥ 2× target: decode_file's DCT draft
    Preprocessing(160, 3, (150, 200)),  # upsampling, non-square crop
]


@pytest.fixture(scope="module")
def mixed_folder(tmp_path_factory, celeba_dir):
    """A folder of grey and colour JPEGs, a progressive JPEG, a PNG, a CMYK JPEG and broken files."""
    root = tmp_path_factory.mktemp("mixed")
    src = sorted((celeba_dir / "img_align_celeba").glob("*.jpg"))[:6]
    ims = [Image.open(p).convert("RGB") for p in src]
    ims[0].save(root / "a_rgb.jpg", quality=85)
    ims[1].convert("L").save(root / "b_grey.jpg", quality=90)
    ims[2].save(root / "c_progressive.jpg", quality=80, progressive=True)
    ims[3].save(root / "d_photo.png")
    ims[4].convert("CMYK").save(root / "e_cmyk.jpg")
    ims[5].resize((400, 300)).save(root / "f_wide.jpg", subsampling=0)
    (root / "g_empty.jpg").write_bytes(b"")
    (root / "h_text.jpg").write_bytes(b"hello")
    data = (root / "a_rgb.jpg").read_bytes()
    (root / "i_truncated.jpg").write_bytes(data[: len(data) // 2])
    (root / "j_header_only.jpg").write_bytes(data[:200])
    return root


def _full_size_reference(path, prep) -> np.ndarray:
    """Decode at full size with Pillow, then crop and resize: what DCT scaling approximates."""
    from latentlab.sources._base import crop_box, resize

    with Image.open(path) as im:
        im.load()
        return resize(im, crop_box(im.width, im.height, prep.crop), prep)


@pytest.mark.parametrize("prep", PREPS, ids=lambda p: f"{p.image_size}x{p.channels}-{p.crop}")
def test_dct_scaled_jpeg_decoding_matches_a_full_size_decode(mixed_folder, prep):
    # libjpeg's M/8 scaling is an antialiased downsample: the images agree with a full-size decode
    # up to small resampling differences, never in content.
    for name in ("a_rgb.jpg", "b_grey.jpg", "c_progressive.jpg", "f_wide.jpg"):
        got = decode_file(mixed_folder / name, prep).astype(float)
        want = _full_size_reference(mixed_folder / name, prep).astype(float)
        assert got.shape == want.shape
        assert np.abs(got - want).mean() < 4.0, name
        assert np.corrcoef(got.ravel(), want.ravel())[0, 1] > 0.97, name


def test_grey_models_get_the_luma_plane(mixed_folder):
    prep = Preprocessing(96, 1, (178, 178))
    grey = decode_file(mixed_folder / "a_rgb.jpg", prep).astype(float)
    rgb = decode_file(mixed_folder / "a_rgb.jpg", Preprocessing(96, 3, (178, 178))).astype(float)
    luma = rgb @ np.array([0.299, 0.587, 0.114])
    assert np.abs(grey[..., 0] - luma).mean() < 2.0


def test_broken_files_give_one_reason_each(mixed_folder):
    prep = Preprocessing(96, 3, (178, 178))
    reasons = {}
    for name in ("g_empty.jpg", "h_text.jpg", "i_truncated.jpg", "j_header_only.jpg"):
        with pytest.raises(UndecodableImage) as got:
            decode_file(mixed_folder / name, prep)
        reasons[name] = str(got.value)
    assert reasons["g_empty.jpg"] == "empty file (0 bytes)"
    assert reasons["h_text.jpg"] == "not an image file"
    assert "truncated" in reasons["i_truncated.jpg"] or "broken" in reasons["i_truncated.jpg"]
    with pytest.raises(UndecodableImage, match="file not found"):
        decode_file(mixed_folder / "missing.jpg", prep)


@pytest.mark.parametrize("batch_size,workers", [(3, 1), (4, 2), (64, 3)])
def test_batches_are_in_order_and_skip_broken_files(mixed_folder, batch_size, workers):
    src = open_source("folder", mixed_folder)
    prep = Preprocessing(48, 3, None)
    batches = list(iter_batches(src, prep, batch_size, workers=workers, prefetch=1))
    kept = np.concatenate([b.indices for b in batches])
    skipped = [s for b in batches for s in b.skipped]
    assert [src.ids[i] for i in kept] == ["a_rgb.jpg", "b_grey.jpg", "c_progressive.jpg", "d_photo.png",
                                          "e_cmyk.jpg", "f_wide.jpg"]
    assert [s[0] for s in skipped] == ["g_empty.jpg", "h_text.jpg", "i_truncated.jpg", "j_header_only.jpg"]
    for b in batches:
        assert b.images.shape == (len(b.indices), 48, 48, 3) and b.images.dtype == np.uint8
        for i, img in zip(b.indices, b.images):
            np.testing.assert_array_equal(img, src.load(int(i), prep))


def test_rows_subset_and_load_all(celeba_dir):
    src = open_source("celeba", celeba_dir, limit=40)
    prep = Preprocessing(32, 3, (178, 178))
    rows = np.array([39, 3, 17, 5])
    got = np.concatenate([b.images for b in iter_batches(src, prep, 3, rows=rows)])
    np.testing.assert_array_equal(got, np.stack([src.load(int(i), prep) for i in rows]))
    images, kept, skipped = load_all(src, prep, batch_size=16)
    assert images.shape == (40, 32, 32, 3) and list(kept) == list(range(40)) and skipped == []


def test_special_files_do_not_block(tmp_path):
    import os
    import threading

    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    result = {}

    def run():
        try:
            decode_file(fifo, Preprocessing(32, 3, None))
        except UndecodableImage as exc:
            result["reason"] = str(exc)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(10)
    if t.is_alive():  # unblock the reader before failing
        with open(fifo, "wb"):
            pass
        pytest.fail("decoding a FIFO blocked")
    assert result.get("reason")  # decode_file's reason ("not a regular file")


@pytest.mark.parametrize("first", [0, 13])
def test_write_behind_writes_whole_chunks_in_order(tmp_path, first):
    from latentlab import open_store
    from latentlab.encoding import _WriteBehind
    from latentlab.store import StoreWriter

    rng = np.random.default_rng(first)
    z = rng.normal(size=(101, 4)).astype(np.float32)
    part = rng.integers(0, 3, size=101).astype(np.int8)
    ids = [f"{i:04d}" for i in range(101)]
    w = StoreWriter(tmp_path / "z.h5", 4, has_partition=True, chunk_rows=10)
    w.append(z[:first], ids[:first], part[:first])  # e.g. rows kept by --resume: unaligned start
    sizes = []
    real_append = w.append
    w.append = lambda z_, i_, p_, a_: (sizes.append((w.n, len(i_))), real_append(z_, i_, p_, a_))[1]
    behind = _WriteBehind(w)
    for s in range(first, 101, 7):
        behind.append(z[s : s + 7], ids[s : s + 7], part[s : s + 7], None)
    behind.add_skipped(["bad.jpg"], ["not an image file"])
    behind.close()
    w.close()
    # every block but the last ends on a chunk boundary
    assert all((start + n) % 10 == 0 for start, n in sizes[:-1])
    assert sum(n for _, n in sizes) == 101 - first
    with open_store(tmp_path / "z.h5") as s:
        np.testing.assert_array_equal(s.read_z(), z)
        assert list(s.read_ids()) == ids and list(s.partition[:]) == list(part)
        assert s.skipped() == [("bad.jpg", "not an image file")]
