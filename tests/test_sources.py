"""Image sources on real files: CelebA layout, folders, npz, LFW."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from latentlab._errors import DataSourceError
from latentlab.sources import (
    CELEBA_ATTRIBUTES,
    Preprocessing,
    iter_batches,
    open_source,
    read_attribute_file,
    read_partition_file,
)


def test_celeba_fixture_has_the_real_layout(celeba_dir):
    jpgs = sorted((celeba_dir / "img_align_celeba").glob("*.jpg"))
    assert len(jpgs) == 100 and jpgs[0].name == "000001.jpg"
    with Image.open(jpgs[0]) as im:
        assert im.size == (178, 218) and im.mode == "RGB"
    lines = (celeba_dir / "list_attr_celeba.txt").read_text().splitlines()
    assert lines[0] == "100" and lines[1].split() == CELEBA_ATTRIBUTES


def test_celeba_loader_reads_partitions_and_attributes(celeba_dir):
    src = open_source("celeba", celeba_dir)
    assert len(src) == 100 and src.ids[0] == "000001.jpg"
    assert set(np.unique(src.partition)) == {0, 1, 2}
    assert src.attributes.shape == (100, 40) and src.attributes.dtype == np.int8
    names, rows = read_attribute_file(celeba_dir / "list_attr_celeba.txt")
    assert np.array_equal(src.attributes[5], rows["000006.jpg"])
    table = read_partition_file(celeba_dir / "list_eval_partition.txt")
    train = open_source("celeba", celeba_dir, partition="train")
    assert train.ids == [k for k, v in sorted(table.items()) if v == 0]
    assert (train.partition == 0).all() and len(train.attributes) == len(train)


def test_celeba_crop_then_resize(celeba_dir):
    src = open_source("celeba", celeba_dir)
    img = src.load(0, Preprocessing(96, 3, src.default_crop))
    assert img.shape == (96, 96, 3) and img.dtype == np.uint8
    grey = src.load(0, Preprocessing(64, 1, src.default_crop))
    assert grey.shape == (64, 64, 1)
    # the centre crop keeps the face: the middle of the crop matches the middle of the source image
    with Image.open(celeba_dir / "img_align_celeba" / "000001.jpg") as im:
        full = np.asarray(im.convert("RGB").crop((0, 20, 178, 198)).resize((96, 96), Image.Resampling.BILINEAR))
    assert np.abs(full.astype(int) - img.astype(int)).mean() < 6


def test_pipeline_keeps_order_and_batches(celeba_dir):
    src = open_source("celeba", celeba_dir)
    prep = Preprocessing(32, 3, src.default_crop)
    batches = list(iter_batches(src, prep, batch_size=24, workers=2))
    assert [len(b.indices) for b in batches] == [24, 24, 24, 24, 4]
    assert np.array_equal(np.concatenate([b.indices for b in batches]), np.arange(100))
    assert np.array_equal(batches[1].images[3], src.load(27, prep))


def test_folder_source_is_recursive_sorted_and_mixed_format(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "deep").mkdir(parents=True)
    Image.fromarray(rng.integers(0, 255, (40, 30, 3), dtype=np.uint8)).save(tmp_path / "b" / "x.png")
    Image.fromarray(rng.integers(0, 255, (20, 20), dtype=np.uint8)).save(tmp_path / "a" / "deep" / "y.bmp")
    Image.fromarray(rng.integers(0, 255, (50, 50, 3), dtype=np.uint8)).save(tmp_path / "a" / "z.webp")
    Image.fromarray(rng.integers(0, 255, (60, 40, 4), dtype=np.uint8), "RGBA").save(tmp_path / "c.png")
    (tmp_path / "notes.txt").write_text("not an image")
    src = open_source("folder", tmp_path)
    assert src.ids == ["a/deep/y.bmp", "a/z.webp", "b/x.png", "c.png"]
    for i in range(4):
        assert src.load(i, Preprocessing(16, 3)).shape == (16, 16, 3)
        assert src.load(i, Preprocessing(16, 1)).shape == (16, 16, 1)


@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
@pytest.mark.parametrize("kind", ["uint8", "float"])
def test_npz_layouts(tmp_path, layout, kind):
    rng = np.random.default_rng(1)
    data = rng.integers(0, 256, (6, 3, 24, 24), dtype=np.uint8)
    if layout == "nhwc":
        data = data.transpose(0, 2, 3, 1)
    if kind == "float":
        data = data / 255.0
    np.savez(tmp_path / "faces.npz", data=data)
    src = open_source("npz", tmp_path / "faces.npz")
    assert len(src) == 6
    img = src.load(2, Preprocessing(24, 3))
    expected = data[2] if layout == "nhwc" else data[2].transpose(1, 2, 0)
    if kind == "float":
        expected = np.rint(expected * 255)
    assert np.abs(img.astype(int) - expected.astype(int)).max() <= 1


def test_lfw_faces_are_real_and_offline():
    src = open_source("lfw")
    assert len(src) == 100
    img = src.load(0, Preprocessing(32, 3))
    assert img.shape == (32, 32, 3)
    assert np.array_equal(img[..., 0], img[..., 1])  # grey faces become RGB by replication


def test_source_errors_are_one_line(tmp_path):
    with pytest.raises(DataSourceError, match="no such directory"):
        open_source("folder", tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataSourceError, match="no images"):
        open_source("folder", tmp_path / "empty")
    with pytest.raises(DataSourceError, match="not a CelebA directory"):
        open_source("celeba", tmp_path / "empty")
    np.savez(tmp_path / "bad.npz", images=np.zeros((2, 8, 8)))
    with pytest.raises(DataSourceError, match="no 'data' array"):
        open_source("npz", tmp_path / "bad.npz")
    with pytest.raises(DataSourceError, match="unknown dataset"):
        open_source("imagenet", tmp_path)
