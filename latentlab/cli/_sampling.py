"""CLI: fit-region, sample, path, interpolate, reconstruct, compare-samplers.

Each command loads the model (TensorFlow) only when it runs; the module
itself imports nothing heavy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ._app import app
from ._common import reads_store
from ._common import DecoderFile, EncoderFile, ModelDir

StoreOpt = Annotated[Path, typer.Option("--z", help="z-store HDF5 file.")]
_REGION_HELP = ("Sampling region: cube, ball, normal (N(0,I)), normal-fitted, mnd, ellipsoid, cluster-ellipsoid, planes, "
                "gmm, bgmm, kde, flow (a learned prior; needs TensorFlow), fragment[:BASE].")
ParamOpt = Annotated[Optional[list[str]], typer.Option(
    "--param", help="Region parameter KEY=VALUE (repeatable; any parameter of the region's class, e.g. n_components=auto,"
                    " sigma=2.5, pairs=all). compare-samplers also takes REGION.KEY=VALUE.")]
WhereOpt = Annotated[Optional[list[str]], typer.Option(
    "--where", help="Only rows whose attribute NAME has VALUE (repeatable, all must hold): Smiling=1, Male=-1, "
                    "or label=Bag for one-hot labels. An unknown name or too few rows is an error.")]
RegionFileOpt = Annotated[Optional[Path], typer.Option(
    "--region-file", help="A fitted region from `latentlab fit-region` (refused for another store): no refit.")]


def _value(text: str):
    """``"3"`` → 3, ``"2.5"`` → 2.5, ``"true"`` → True, ``"none"`` → None, ``"[1,2]"`` → [1, 2], else the string."""
    import json

    low = text.strip().lower()
    if low in ("none", "null"):
        return None
    if low in ("true", "false"):
        return low == "true"
    try:
        return json.loads(text)
    except ValueError:
        return text.strip()


def _parse_params(items, *, scoped: bool = False) -> dict:
    """``--param KEY=VALUE`` items → ``{key: value}`` (or ``{region or "*": {key: value}}`` when ``scoped``)."""
    from .._errors import LatentlabError

    out: dict = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise LatentlabError(f"--param: expected KEY=VALUE, got {item!r}")
        key = key.strip()
        if scoped:
            region, dot, name = key.rpartition(".")
            out.setdefault(region if dot else "*", {})[name] = _value(value)
        else:
            out[key] = _value(value)
    return out


def _region_params(param=None, **options) -> dict:
    """Common flags (aliases of region parameters) and ``--param`` items → region parameters."""
    names = {"components": "n_components"}
    params = {names.get(k, k): _value(v) if isinstance(v, str) and k == "components" else v
              for k, v in options.items() if v is not None}
    params.update(_parse_params(param))
    return params


def _model_kw(model, encoder, decoder, *, encoder_needed: bool = False) -> dict:
    from .._errors import ModelError

    if model is None and (decoder is None or (encoder_needed and encoder is None)):
        alone = "" if encoder_needed else ", --decoder FILE.keras (enough to decode)"
        raise ModelError(f"a model is needed: give --model MODEL_DIR{alone} or both --encoder and --decoder")
    return {"model_dir": model, "encoder": encoder, "decoder": decoder}


OverwriteOutputs = Annotated[bool, typer.Option("--overwrite", help="Replace existing output files (--out, --save-images).")]


def _check_image_outputs(out: Path, save_images, n_images: int, prefix: str, overwrite: bool) -> None:
    """--out and the --save-images files: refused before any work when they exist (unless --overwrite)."""
    from .._checks import check_new_files, check_output_dir, check_output_file
    from ..generate import image_file_names

    check_output_file(out, overwrite=overwrite)
    if save_images is not None:
        check_output_dir(save_images, "--save-images")
        check_new_files(image_file_names(save_images, n_images, prefix), "--save-images", overwrite=overwrite)


def _write_outputs(result, out: Path, ncols: int, save_images, prefix: str, titles: bool = False,
                   overwrite: bool = False) -> None:
    from ..generate import save_grid, save_images as _save_images

    save_grid(result, out, ncols=ncols, titles=titles, overwrite=overwrite)
    typer.echo(f"wrote {out}")
    if save_images is not None:
        paths = _save_images(result, save_images, prefix=prefix, overwrite=overwrite)
        typer.echo(f"wrote {len(paths)} images into {save_images}")


@app.command("fit-region")
@reads_store("z")
def fit_region_cmd(
    z: StoreOpt,
    out: Annotated[Path, typer.Option("--out", help="Region file to write (.region: JSON + arrays, no pickle).")],
    region: Annotated[str, typer.Option("--region", help=_REGION_HELP)] = "ellipsoid",
    param: ParamOpt = None,
    sigma: Annotated[Optional[float], typer.Option("--sigma", help="k of the k-σ bound (ellipsoid, planes, cluster-ellipsoid).")] = None,
    components: Annotated[Optional[str], typer.Option("--components", help="gmm/bgmm: number of components or auto.")] = None,
    fill: Annotated[Optional[str], typer.Option("--fill", help="ellipsoid: gaussian (default) or uniform.")] = None,
    bound: Annotated[Optional[str], typer.Option("--bound", help="ellipsoid: radius (default) or axis (box in the PCA frame).")] = None,
    axes: Annotated[Optional[str], typer.Option("--axes", help="planes: pca (default) or original axes.")] = None,
    b: Annotated[Optional[float], typer.Option("--b", help="cube: half-width (default: fitted to the median radius).")] = None,
    partition: Annotated[str, typer.Option(help="Rows to fit on (train; all rows when the store has no partition).")] = "train",
    fragments: Annotated[Optional[Path], typer.Option("--fragments", help="fragments.h5 for regions that need fragment labels.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing region file.")] = False,
    where: WhereOpt = None,
) -> int:
    """Fit a region once and save it; sample, path, compare-samplers and report reuse it with --region-file."""
    import time

    from .._errors import LatentlabError
    from ..regions import fit_region, make_region, save_region, show_progress

    if out.exists() and not overwrite:
        raise LatentlabError(f"{out}: already exists (use --overwrite to replace it)")
    params = _region_params(param, sigma=sigma, components=components, fill=fill, bound=bound, axes=axes, b=b)
    make_region(region, **params)  # bad names and values fail before the fit
    t0 = time.perf_counter()
    with show_progress():
        fitted = fit_region(region, z, partition, fragments=fragments, where=where, **params)
    seconds = time.perf_counter() - t0
    save_region(fitted, out, overwrite=overwrite)
    extra = f"; chosen from {fitted.selection_}" if hasattr(fitted, "selection_") else ""
    if where:
        extra += f"; where {' '.join(f'{k}={v}' for k, v in fitted.fit_store_['where'].items())}"
    typer.echo(f"{fitted.name} fitted on {fitted.n_fit_} rows ({fitted.fit_partition_}) in {seconds:.1f} s{extra}")
    typer.echo(f"wrote {out} (store fingerprint {fitted.fit_store_['fingerprint']})")
    return 0


@app.command()
@reads_store("z")
def sample(
    z: StoreOpt,
    out: Annotated[Path, typer.Option("--out", help="Image grid PNG to write.")],
    region: Annotated[str, typer.Option("--region", help=_REGION_HELP)] = "ellipsoid",
    model: ModelDir = None,
    encoder: EncoderFile = None,
    decoder: DecoderFile = None,
    n: Annotated[int, typer.Option("--n", help="Number of samples.")] = 64,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same faces).")] = 0,
    sigma: Annotated[Optional[float], typer.Option("--sigma", help="k of the k-σ bound (ellipsoid, planes; default 2).")] = None,
    fill: Annotated[Optional[str], typer.Option("--fill", help="ellipsoid: gaussian (default) or uniform.")] = None,
    bound: Annotated[Optional[str], typer.Option("--bound", help="ellipsoid: radius (default) or axis (box in the PCA frame).")] = None,
    axes: Annotated[Optional[str], typer.Option("--axes", help="planes: pca (default) or original axes.")] = None,
    components: Annotated[Optional[str], typer.Option("--components", help="gmm/bgmm/cluster-ellipsoid: number of components, or auto (held-out log-likelihood over a grid).")] = None,
    b: Annotated[Optional[float], typer.Option("--b", help="cube: half-width (default: fitted to the median radius).")] = None,
    param: ParamOpt = None,
    region_file: RegionFileOpt = None,
    partition: Annotated[str, typer.Option(help="Rows to fit on (train; all rows when the store has no partition).")] = "train",
    fragments: Annotated[Optional[Path], typer.Option("--fragments", help="fragments.h5 for --region fragment.")] = None,
    ncols: Annotated[int, typer.Option("--ncols", help="Images per grid row.")] = 8,
    save_z: Annotated[Optional[Path], typer.Option("--save-z", help="Also write the sampled z-points as a z-store (sampler in its attrs).")] = None,
    save_images: Annotated[Optional[Path], typer.Option("--save-images", help="Also write every image as a PNG into this folder.")] = None,
    save_region: Annotated[Optional[Path], typer.Option("--save-region", help="Also save the fitted region (.region) for later --region-file use.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing outputs (--out, --save-images, --save-region, --save-z).")] = False,
    where: WhereOpt = None,
) -> int:
    """Draw z-points from a region of latent space and decode them into new images."""
    from .._checks import check_int, check_new_output
    from .._errors import LatentlabError
    from ..generate import sample_images, save_samples_store
    from ..regions import save_region as _save_region, show_progress

    params = _region_params(param, sigma=sigma, fill=fill, bound=bound, axes=axes, components=components, b=b)
    if region_file is not None and params:
        raise LatentlabError("--region-file is already fitted: region parameters cannot be changed")
    if save_region is not None and save_region.exists() and not overwrite:
        raise LatentlabError(f"{save_region}: already exists (use --overwrite to replace it)")
    # every output is checked before the (slow) fit and decode
    check_int(n, "--n", maximum=1_000_000)
    check_int(ncols, "--ncols")
    _check_image_outputs(out, save_images, n, "sample", overwrite)
    if save_z is not None:
        if save_z.exists() and z.exists() and save_z.resolve() == z.resolve():
            raise LatentlabError(f"--save-z {save_z}: is the input store (--z); choose another file")
        check_new_output(save_z, "--save-z", overwrite=overwrite)
    with show_progress():
        result = sample_images(z, region, n=n, seed=seed, partition=partition, fragments=fragments, params=params,
                               region_file=region_file, where=where, **_model_kw(model, encoder, decoder))
    desc = result.info["region"]
    fitted = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in desc["fitted"].items()
                       if k not in ("n_features_in_",))
    typer.echo(f"{n} samples from {desc['region']} (fitted on {result.info['fit_partition']} rows; {fitted})")
    _write_outputs(result, out, ncols, save_images, "sample", overwrite=overwrite)
    if save_region is not None:
        typer.echo(f"wrote {_save_region(result.region, save_region, overwrite=overwrite)}")
    if save_z is not None:
        from ..metrics._memorisation import store_memorisation_scores

        scores = store_memorisation_scores(z, result.region, result.z)  # one memorisation score set per sample
        typer.echo(f"wrote {save_samples_store(result, save_z, overwrite=overwrite, scores=scores)}")
    return 0


@app.command()
@reads_store("z")
def path(
    z: StoreOpt,
    out: Annotated[Path, typer.Option("--out", help="Image strip PNG to write.")],
    model: ModelDir = None,
    encoder: EncoderFile = None,
    decoder: DecoderFile = None,
    plane: Annotated[str, typer.Option("--plane", help="Two axes 'i,j' spanning the plane.")] = "0,1",
    axes: Annotated[str, typer.Option("--axes", help="pca (axes by decreasing variance) or original z coordinates.")] = "pca",
    shape: Annotated[str, typer.Option("--shape", help="line or circle.")] = "line",
    steps: Annotated[int, typer.Option("--steps", help="Points along the path.")] = 9,
    extent: Annotated[float, typer.Option("--extent", help="Line half-length / circle radius in σ.")] = 2.0,
    angle: Annotated[float, typer.Option("--angle", help="line: direction in degrees from axis i towards axis j.")] = 0.0,
    partition: Annotated[str, typer.Option(help="Rows whose mean and axes define the frame.")] = "train",
    region_file: Annotated[Optional[Path], typer.Option("--region-file", help="Take the mean and PCA axes from a fitted ellipsoid/planes region file instead of refitting.")] = None,
    save_images: Annotated[Optional[Path], typer.Option("--save-images", help="Also write every image as a PNG into this folder.")] = None,
    overwrite: OverwriteOutputs = False,
    where: WhereOpt = None,
    attribute: Annotated[Optional[str], typer.Option("--attribute", help=(
        "A line through the mean along this attribute's direction d = mean(with) - mean(without): "
        "points mean + s*d for s in [-extent, extent] (s = 1 is one full step from without to with).") )] = None,
    method: Annotated[str, typer.Option("--method", help="--attribute direction: mean (mu+ - mu-) or probe (logistic-regression normal).")] = "mean",
) -> int:
    """Decode images along a straight line or a circle in one coordinate plane through the data mean, or along an attribute."""
    from ._common import parse_int_list
    from ..generate import path_images

    i, j = parse_int_list(plane, "--plane", 2)
    _check_image_outputs(out, save_images, steps, "path", overwrite)
    model_kw = _model_kw(model, encoder, decoder)
    if attribute is not None and region_file is not None:
        from .._errors import LatentlabError

        raise LatentlabError("--attribute: a line along an attribute takes no --region-file")
    result = path_images(z, plane=(i, j), axes=axes, shape=shape, steps=steps, extent=extent, angle=angle,
                         partition=partition, region_file=region_file, where=where, attribute=attribute,
                         method=method, **model_kw)
    if attribute is not None:
        typer.echo(f"line along {attribute} ({method} direction), {steps} points, s from {-extent:g} to {extent:g}")
    else:
        typer.echo(f"{shape} in the ({i}, {j}) plane of the {axes} axes, {steps} points, extent {extent} σ")
    _write_outputs(result, out, steps, save_images, "path", titles=True, overwrite=overwrite)
    return 0


@app.command()
@reads_store("z")
def interpolate(
    z: StoreOpt,
    id_a: Annotated[str, typer.Argument(help="Id of the first stored image.")],
    id_b: Annotated[str, typer.Argument(help="Id of the second stored image.")],
    out: Annotated[Path, typer.Option("--out", help="Image strip PNG to write.")],
    model: ModelDir = None,
    encoder: EncoderFile = None,
    decoder: DecoderFile = None,
    steps: Annotated[int, typer.Option("--steps", help="Points including both ends.")] = 8,
    method: Annotated[str, typer.Option("--method", help="linear or spherical (slerp).")] = "linear",
    save_images: Annotated[Optional[Path], typer.Option("--save-images", help="Also write every image as a PNG into this folder.")] = None,
    overwrite: OverwriteOutputs = False,
) -> int:
    """Decode the faces between two stored images (linear or spherical interpolation of their z)."""
    from ..generate import interpolate as _interpolate

    _check_image_outputs(out, save_images, steps, "interp", overwrite)
    result = _interpolate(z, id_a, id_b, steps=steps, method=method, **_model_kw(model, encoder, decoder))
    typer.echo(f"{result.info['method']} interpolation {id_a} → {id_b}, {steps} steps")
    _write_outputs(result, out, steps, save_images, "interp", titles=True, overwrite=overwrite)
    return 0


@app.command()
@reads_store("z")
def reconstruct(
    z: StoreOpt,
    out: Annotated[Path, typer.Option("--out", help="Grid PNG: originals above, reconstructions below.")],
    ids: Annotated[Optional[list[str]], typer.Argument(help="Image ids (default: the first --n rows).")] = None,
    model: ModelDir = None,
    encoder: EncoderFile = None,
    decoder: DecoderFile = None,
    n: Annotated[int, typer.Option("--n", help="Rows when no ids are given.")] = 8,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing --out file.")] = False,
) -> int:
    """Originals vs decoded z-points for chosen ids (originals re-read from the store's image source)."""
    import matplotlib.pyplot as plt

    from .._checks import check_output_file
    from ..generate import reconstruct as _reconstruct
    from ..plots import image_grid, reconstruction_grid

    check_output_file(out, overwrite=overwrite)
    originals, decoded = _reconstruct(z, ids or None, n=n, **_model_kw(model, encoder, decoder))
    out.parent.mkdir(parents=True, exist_ok=True)
    if originals is not None:
        fig = reconstruction_grid(originals, decoded.images, ids=decoded.labels)
        mse = float(((originals / 255.0 - decoded.images) ** 2).mean())
        typer.echo(f"{len(originals)} images, mean squared pixel error {mse:.4f}")
    else:
        fig = image_grid(decoded.images, ncols=min(8, len(decoded.images)), titles=decoded.labels)
        typer.echo(f"{decoded.info['originals_note']}; showing decoded z-points only")
    from .._io import save_figure

    save_figure(fig, out, dpi=120)
    plt.close(fig)
    typer.echo(f"wrote {out}")
    return 0


@app.command("compare-samplers")
@reads_store("z")
def compare_samplers_cmd(
    z: StoreOpt,
    out: Annotated[Path, typer.Option("--out", help="Output folder: compare.json, compare.csv, samplers.png, metrics.png.")],
    model: ModelDir = None,
    encoder: EncoderFile = None,
    decoder: DecoderFile = None,
    n: Annotated[int, typer.Option("--n", help="Samples per sampler.")] = 1000,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    regions: Annotated[Optional[str], typer.Option("--regions", help="Comma-separated samplers (default: all, + fragment when found; none with --region-file).")] = None,
    sigma: Annotated[Optional[float], typer.Option("--sigma", help="k for every region with a sigma (ellipsoid, planes, cluster-ellipsoid; default 2).")] = None,
    components: Annotated[Optional[str], typer.Option("--components", help="gmm/bgmm components (default 10) or auto.")] = None,
    param: ParamOpt = None,
    region_file: Annotated[Optional[list[Path]], typer.Option("--region-file", help="Fitted region files to compare without refitting (repeatable).")] = None,
    k: Annotated[int, typer.Option("--k", help="Nearest neighbours for PRDC and the on-data fraction.")] = 5,
    partition: Annotated[str, typer.Option(help="Fit partition (val + test are held out).")] = "train",
    fragments: Annotated[Optional[Path], typer.Option("--fragments", help="fragments.h5 for the fragment sampler.")] = None,
    inception_weights: Annotated[Optional[Path], typer.Option("--inception-weights", help="Local InceptionV3 (no top) weights file: adds FID. Never downloaded.")] = None,
    latent_only: Annotated[bool, typer.Option("--latent-only", help="Skip decoding (no model needed).")] = False,
    n_boot: Annotated[int, typer.Option("--n-boot", help="Bootstrap resamples for the 95 % intervals (0: none).")] = 200,
    save_images: Annotated[Optional[Path], typer.Option("--save-images", help="Write each sampler's decoded samples as DIR/<sampler>/*.png.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace images already in --save-images.")] = False,
    where: WhereOpt = None,
) -> int:
    """Fit every sampler and measure its samples against held-out real points: log-likelihood, on-data, PRDC, novelty, re-encoding."""
    from .._errors import LatentlabError
    from ..metrics import compare_samplers
    from ..regions import DEFAULT_REGIONS, REGIONS, make_region, show_progress

    model_kw = {} if latent_only else _model_kw(model, encoder, decoder, encoder_needed=True)  # re-encoding
    if save_images is not None and latent_only:
        raise LatentlabError("--save-images needs decoded images: drop --latent-only")
    if save_images is not None:
        from .._checks import check_output_dir

        check_output_dir(save_images, "--save-images")
        existing = next(iter(sorted(save_images.glob("*/sample_*.png"))), None) if save_images.is_dir() else None
        if existing is not None and not overwrite:
            raise LatentlabError(f"--save-images {existing}: already exists (use --overwrite to replace it)")
    names = [r.strip() for r in regions.split(",") if r.strip()] if regions else None
    scoped = _parse_params(param, scoped=True)
    common = {**_region_params(sigma=sigma, components=components), **scoped.pop("*", {})}
    for name in scoped:
        if name not in (names or REGIONS) and not name.startswith("fragment"):
            raise LatentlabError(f"--param {name}.…: {name} is not among the compared regions")
    params = {}
    for name in dict.fromkeys([*(names or DEFAULT_REGIONS + ["fragment"]), *scoped]):
        region = make_region(name)
        takes = set(region.get_params()) | (set(make_region(region.base).get_params()) if region.wraps_base else set())
        p = {key: v for key, v in common.items() if key in takes}
        p.update(scoped.get(name, {}))
        if p:
            params[name] = p
    with show_progress():
        result = compare_samplers(z, out, regions=names, n=n, seed=seed, k=k, partition=partition, params=params,
                                  region_files=region_file, fragments=fragments, inception_weights=inception_weights,
                                  use_model=not latent_only, n_boot=n_boot, save_images=save_images,
                                  progress=lambda name: typer.echo(f"  {name} …"), where=where, **model_kw)
    st = result.settings
    typer.echo(f"{st['n']} samples per sampler; fit on {st['n_fit']} rows ({st['split']}); reference: {st['reference']}")
    head = (f"{'sampler':<18}{'heldout ll':>11}{'on-data':>9}{'too close':>10}{'knn ratio':>10}{'prec':>7}{'recall':>7}"
            f"{'dens':>7}{'cover':>7}{'novelty':>8}{'copies':>7}{'re-enc':>8}")
    typer.echo(head)

    def f(v, spec):
        return "-" if v is None else format(v, spec)

    for r in result.rows:
        typer.echo(f"{r['sampler']:<18}{f(r['heldout_loglik'], '.4g'):>11}{f(r['on_data_fraction'], '.3f'):>9}"
                   f"{f(r['too_close_fraction'], '.3f'):>10}{f(r['knn_distance_ratio'], '.3f'):>10}{f(r['precision'], '.3f'):>7}{f(r['recall'], '.3f'):>7}"
                   f"{f(r['density'], '.3f'):>7}{f(r['coverage'], '.3f'):>7}{f(r['novelty_ratio'], '.3f'):>8}"
                   f"{f(r['near_copies'], '.3f'):>7}{f(r['reencoding_error'], '.3f'):>8}")
    if result.labels is not None:
        typer.echo(f"label coverage ({result.labels['kind']}, {result.labels['k']}-NN vote of the fit rows): "
                   + ", ".join(f"{r['sampler']} {f(r.get('label_tv'), '.3f')}" for r in result.rows)
                   + " (label_tv: 0 = the fit rows' mix)")
    for name, why in result.skipped.items():
        typer.echo(f"skipped {name}: {why}")
    typer.echo(f"wrote {', '.join(str(p) for p in result.files.values())} ({st['seconds']:.1f} s)")
    return 0


@app.command()
@reads_store("store")
def edit(
    store: Annotated[Path, typer.Argument(help="z-store HDF5 file with /attributes.")],
    out: Annotated[Path, typer.Option("--out", help="Strip PNG to write: one row per id, one column per strength.")],
    # --attribute and --id are checked in the command, after the store: a bad store is named first
    attribute: Annotated[Optional[str], typer.Option("--attribute", help="Attribute to add (Smiling, Trouser, ...); required.")] = None,
    ids: Annotated[Optional[list[str]], typer.Option("--id", help="Stored image id to edit (repeatable); required.")] = None,
    strengths: Annotated[str, typer.Option("--strengths", help=(
        "Comma-separated s values (e.g. 0,0.5,1,1.5; negative removes the attribute). s = 1 carries the mean of "
        "the rows without the attribute onto the mean of the rows with it; an image that already has the "
        "attribute moves further."))] = "0,0.5,1,1.5",
    model: ModelDir = None,
    encoder: EncoderFile = None,
    decoder: DecoderFile = None,
    method: Annotated[str, typer.Option("--method", help="mean: d = mu+ - mu-; probe: a logistic-regression normal scaled to the same step along it.")] = "mean",
    partition: Annotated[Optional[str], typer.Option(help="Rows the direction is estimated from (default all).")] = None,
    save_images: Annotated[Optional[Path], typer.Option("--save-images", help="Also write one PNG per (id, strength) as DIR/edit_<i>_<j>.png with DIR/edit.json.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing --out file or --save-images files.")] = False,
) -> int:
    """Edit stored images along an attribute direction: decode z + s*d for each --id and strength.

    d = mean(rows with the attribute) - mean(rows without it), so s = 1 moves an image by the average
    difference between the two groups; an image that already has the attribute moves further.
    """
    from .._checks import check_output_dir, check_output_file
    from .._errors import LatentlabError
    from ..editing import edit_image_paths, edit_images, parse_strengths, save_edit_images, save_edit_strip

    if not attribute:
        raise LatentlabError("--attribute: give the attribute to edit along, e.g. --attribute Smiling")
    if not ids:
        raise LatentlabError("--id: give at least one stored image id (repeatable)")
    values = parse_strengths(strengths)
    if method not in ("mean", "probe"):
        raise LatentlabError(f"--method: expected mean or probe, got {method!r}")
    check_output_file(out, overwrite=overwrite)
    if save_images is not None:
        check_output_dir(save_images, "--save-images")
    model_kw = _model_kw(model, encoder, decoder)
    _check_model_before_tensorflow(model, encoder, decoder)
    result = edit_images(store, ids, attribute, values, method=method, partition=partition, **model_kw)
    if save_images is not None and not overwrite:
        taken = [p for p in edit_image_paths(result, save_images) if p.exists()]
        if taken:
            raise LatentlabError(f"--save-images {taken[0]}: already exists (use --overwrite to replace it)")
    typer.echo(f"{len(ids)} image(s) × {len(values)} strengths along {attribute} ({method}; |d| = "
               f"{result.info['direction_norm']:.4g}); s = 1 moves the mean without {attribute} onto the mean with it")
    typer.echo(f"wrote {save_edit_strip(result, out, overwrite=overwrite)}")
    if save_images is not None:
        typer.echo(f"wrote {len(save_edit_images(result, save_images, overwrite=overwrite))} images into {save_images}")
    return 0


def _check_model_before_tensorflow(model, encoder, decoder) -> None:
    """A missing model directory, file or a broken ``config.json`` is one line before TensorFlow is imported."""
    from .._errors import ModelError

    if model is not None:
        from ..model._config import CONFIG_FILE, read_config

        if not Path(model).is_dir():
            raise ModelError(f"{model}: no such model directory")
        for name in ("encoder.keras", "decoder.keras", CONFIG_FILE):
            if not (Path(model) / name).is_file():
                raise ModelError(f"{model}: model directory has no {name}")
        read_config(model)
    for path in (encoder, decoder):
        if path is not None and not Path(path).is_file():
            raise ModelError(f"{path}: no such model file")
