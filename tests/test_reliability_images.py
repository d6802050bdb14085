"""Bad images in folder and CelebA sources: encode and train never crash; skips are listed and aligned."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
from PIL import Image

from latentlab import open_store
from latentlab.cli import main
from latentlab.sources import read_attribute_file, read_partition_file

#: file name -> expected reason fragment for the undecodable ones
BAD = {
    "zero.jpg": "empty file",
    "trunc.jpg": "truncated",
    "text.jpg": "not an image file",
    "loop.jpg": "symlink loop",
    "fifo.jpg": "not a regular file",
}
ODD = ["cmyk.jpg", "good.jpg", "grey.jpg", "huge.jpg", "la.png", "palette.png", "png16.png", "rgba.png"]


def _make_zoo(folder):
    """Odd but decodable formats and undecodable files, all with image extensions."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    face = Image.fromarray(rng.integers(0, 255, (218, 178, 3), dtype=np.uint8))
    face.save(folder / "good.jpg")
    face.convert("L").save(folder / "grey.jpg")
    face.convert("CMYK").save(folder / "cmyk.jpg")
    face.convert("RGBA").save(folder / "rgba.png")
    face.convert("LA").save(folder / "la.png")
    face.convert("P").save(folder / "palette.png")
    Image.fromarray(rng.integers(0, 65535, (218, 178)).astype(np.uint16)).save(folder / "png16.png")
    Image.new("L", (10_000, 10_000), 128).save(folder / "huge.jpg", quality=50)  # ~1 MB on disk
    (folder / "zero.jpg").write_bytes(b"")
    data = (folder / "good.jpg").read_bytes()
    (folder / "trunc.jpg").write_bytes(data[: len(data) // 2])
    (folder / "text.jpg").write_text("this is not an image\n")
    os.symlink("loop.jpg", folder / "loop.jpg")
    os.mkfifo(folder / "fifo.jpg")
    return folder


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    return _make_zoo(tmp_path_factory.mktemp("zoo") / "images")


def test_decodable_odd_formats_are_converted(zoo):
    from latentlab.sources import Preprocessing, open_source

    src = open_source("folder", zoo)
    for name in ODD:
        i = src.ids.index(name)
        for channels in (1, 3):
            img = src.load(i, Preprocessing(32, channels, (178, 178)))
            assert img.shape == (32, 32, channels) and img.dtype == np.uint8
    huge = src.load(src.ids.index("huge.jpg"), Preprocessing(32, 1))
    assert abs(int(huge.mean()) - 128) <= 2


def _err_lines(capsys):
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return captured.out, captured.err.strip().splitlines()


def test_encode_folder_zoo_skips_and_lists(demo, zoo, tmp_path, capsys):
    out = tmp_path / "z.h5"
    rc = main(["encode", "--model", str(demo.model_dir), "--data", str(zoo), "--dataset", "folder",
               "--out", str(out), "-q"])
    stdout, err = _err_lines(capsys)
    assert rc == 0
    with open_store(out) as s:
        assert sorted(s.read_ids()) == ODD
        assert np.isfinite(s.read_z()).all()
        skipped = dict(s.skipped())
    assert sorted(skipped) == sorted(BAD)
    for name, reason in BAD.items():
        assert reason in skipped[name], (name, skipped[name])
    # the end-of-run summary lists each skip and the count
    for name in BAD:
        assert any(line.startswith(f"skipped {name}: ") for line in err), err
    assert f"skipped {len(BAD)} undecodable image(s)" in err[-1]
    assert f"{len(ODD)} rows" in stdout


def test_strict_turns_skips_into_exit_1_with_the_list(demo, zoo, tmp_path, capsys):
    out = tmp_path / "z.h5"
    rc = main(["encode", "--model", str(demo.model_dir), "--data", str(zoo), "--dataset", "folder",
               "--out", str(out), "--strict", "-q"])
    _, err = _err_lines(capsys)
    assert rc == 1 and len(err) == 1 and err[0].startswith("error: --strict: ")
    for name in BAD:
        assert name in err[0]
    if out.exists():  # the partial store is never marked complete
        with open_store(out, allow_incomplete=True) as s:
            assert not s.complete


@pytest.fixture(scope="module")
def celeba_zoo(tmp_path_factory):
    """A CelebA layout of 14 faces where 9 are replaced by odd or broken files (list files untouched)."""
    from latentlab.sources import make_celeba_layout

    root = make_celeba_layout(tmp_path_factory.mktemp("celeba_zoo") / "celeba", n=14)
    imgs = root / "img_align_celeba"
    zoo = _make_zoo(tmp_path_factory.mktemp("parts"))
    replace = {"000002.jpg": "zero.jpg", "000003.jpg": "trunc.jpg", "000004.jpg": "text.jpg",
               "000005.jpg": "cmyk.jpg", "000006.jpg": "png16.png", "000007.jpg": "grey.jpg",
               "000008.jpg": "rgba.png", "000009.jpg": "huge.jpg", "000012.jpg": "la.png"}
    for name, part in replace.items():
        shutil.copy(zoo / part, imgs / name)
    (imgs / "000010.jpg").unlink()
    os.symlink("000010.jpg", imgs / "000010.jpg")  # a symlink loop, listed in both list files
    return root


def test_encode_celeba_zoo_keeps_metadata_aligned(demo, celeba_zoo, tmp_path, capsys):
    out = tmp_path / "z.h5"
    rc = main(["encode", "--model", str(demo.model_dir), "--data", str(celeba_zoo), "--dataset", "celeba",
               "--out", str(out), "-q"])
    _, err = _err_lines(capsys)
    assert rc == 0, err
    kept = [f"{i:06d}.jpg" for i in (1, 5, 6, 7, 8, 9, 11, 12, 13, 14)]
    names, rows = read_attribute_file(celeba_zoo / "list_attr_celeba.txt")
    table = read_partition_file(celeba_zoo / "list_eval_partition.txt")
    with open_store(out) as s:
        ids = list(s.read_ids())
        assert ids == kept
        assert s.attribute_names == names
        np.testing.assert_array_equal(s.attributes[:], np.stack([rows[i] for i in kept]))
        np.testing.assert_array_equal(s.partition[:], [table[i] for i in kept])
        assert np.isfinite(s.read_z()).all()
        skipped = dict(s.skipped())
    assert sorted(skipped) == ["000002.jpg", "000003.jpg", "000004.jpg", "000010.jpg"]
    assert "symlink loop" in skipped["000010.jpg"] and "empty file" in skipped["000002.jpg"]
    # the val partition alone: same alignment
    out_val = tmp_path / "val.h5"
    assert main(["encode", "--model", str(demo.model_dir), "--data", str(celeba_zoo), "--partition", "val",
                 "--out", str(out_val), "-q"]) == 0
    capsys.readouterr()
    with open_store(out_val) as s:
        assert all(table[i] == 1 for i in s.read_ids())
        np.testing.assert_array_equal(s.attributes[:], np.stack([rows[i] for i in s.read_ids()]))


def test_train_on_the_zoo_never_crashes(zoo, tmp_path, capsys):
    args = ["train", "--data", str(zoo), "--dataset", "folder", "--image-size", "16", "--channels", "3",
            "--z-dim", "2", "--filters", "2,2,2,2", "--epochs", "1", "--batch-size", "4"]
    rc = main(args + ["--out", str(tmp_path / "m")])
    stdout, err = _err_lines(capsys)
    assert rc == 0, err
    assert f"{len(ODD)} images" in stdout and f"skipped {len(BAD)} undecodable image(s)" in err[-1]
    rc = main(args + ["--out", str(tmp_path / "strict"), "--strict"])
    _, err = _err_lines(capsys)
    assert rc == 1 and len(err) == 1 and err[0].startswith("error: ")
    assert not (tmp_path / "strict" / "encoder.keras").exists()
