"""CLI: sample, path, interpolate, reconstruct, compare-samplers.

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
_REGION_HELP = ("Sampling region: cube, ball, normal (N(0,I)), normal-fitted, mnd, ellipsoid, planes, gmm, bgmm, "
                "kde, fragment[:BASE].")


def _region_params(**options) -> dict:
    """CLI options → region parameters (only those the user set)."""
    names = {"components": "n_components"}
    return {names.get(k, k): v for k, v in options.items() if v is not None}


def _model_kw(model, encoder, decoder) -> dict:
    from .._errors import ModelError

    if model is None and (encoder is None or decoder is None):
        raise ModelError("a model is needed: give --model MODEL_DIR or both --encoder and --decoder")
    return {"model_dir": model, "encoder": encoder, "decoder": decoder}


def _write_outputs(result, out: Path, ncols: int, save_images, prefix: str, titles: bool = False) -> None:
    from ..generate import save_grid, save_images as _save_images

    save_grid(result, out, ncols=ncols, titles=titles)
    typer.echo(f"wrote {out}")
    if save_images is not None:
        paths = _save_images(result, save_images, prefix=prefix)
        typer.echo(f"wrote {len(paths)} images into {save_images}")


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
    components: Annotated[Optional[int], typer.Option("--components", help="gmm/bgmm: number of components (default 10).")] = None,
    b: Annotated[Optional[float], typer.Option("--b", help="cube: half-width (default: fitted to the median radius).")] = None,
    partition: Annotated[str, typer.Option(help="Rows to fit on (train; all rows when the store has no partition).")] = "train",
    fragments: Annotated[Optional[Path], typer.Option("--fragments", help="fragments.h5 for --region fragment.")] = None,
    ncols: Annotated[int, typer.Option("--ncols", help="Images per grid row.")] = 8,
    save_z: Annotated[Optional[Path], typer.Option("--save-z", help="Also write the sampled z-points as a z-store (sampler in its attrs).")] = None,
    save_images: Annotated[Optional[Path], typer.Option("--save-images", help="Also write every image as a PNG into this folder.")] = None,
) -> int:
    """Draw z-points from a region of latent space and decode them into new faces."""
    from ..generate import sample_images, save_samples_store

    params = _region_params(sigma=sigma, fill=fill, bound=bound, axes=axes, components=components, b=b)
    result = sample_images(z, region, n=n, seed=seed, partition=partition, fragments=fragments, params=params,
                           **_model_kw(model, encoder, decoder))
    desc = result.info["region"]
    fitted = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in desc["fitted"].items()
                       if k not in ("n_features_in_",))
    typer.echo(f"{n} samples from {region} (fitted on {result.info['fit_partition']} rows; {fitted})")
    _write_outputs(result, out, ncols, save_images, "sample")
    if save_z is not None:
        typer.echo(f"wrote {save_samples_store(result, save_z)}")
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
    save_images: Annotated[Optional[Path], typer.Option("--save-images", help="Also write every image as a PNG into this folder.")] = None,
) -> int:
    """Decode faces along a straight line or a circle in one coordinate plane through the data mean."""
    from ._common import parse_int_list
    from ..generate import path_images

    i, j = parse_int_list(plane, "--plane", 2)
    result = path_images(z, plane=(i, j), axes=axes, shape=shape, steps=steps, extent=extent, angle=angle,
                         partition=partition, **_model_kw(model, encoder, decoder))
    typer.echo(f"{shape} in the ({i}, {j}) plane of the {axes} axes, {steps} points, extent {extent} σ")
    _write_outputs(result, out, steps, save_images, "path", titles=True)
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
) -> int:
    """Decode the faces between two stored images (linear or spherical interpolation of their z)."""
    from ..generate import interpolate as _interpolate

    result = _interpolate(z, id_a, id_b, steps=steps, method=method, **_model_kw(model, encoder, decoder))
    typer.echo(f"{result.info['method']} interpolation {id_a} → {id_b}, {steps} steps")
    _write_outputs(result, out, steps, save_images, "interp", titles=True)
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
) -> int:
    """Originals vs decoded z-points for chosen ids (originals re-read from the store's image source)."""
    import matplotlib.pyplot as plt

    from ..generate import reconstruct as _reconstruct
    from ..plots import image_grid, reconstruction_grid

    originals, decoded = _reconstruct(z, ids or None, n=n, **_model_kw(model, encoder, decoder))
    out.parent.mkdir(parents=True, exist_ok=True)
    if originals is not None:
        fig = reconstruction_grid(originals, decoded.images, ids=decoded.labels)
        mse = float(((originals / 255.0 - decoded.images) ** 2).mean())
        typer.echo(f"{len(originals)} images, mean squared pixel error {mse:.4f}")
    else:
        fig = image_grid(decoded.images, ncols=min(8, len(decoded.images)), titles=decoded.labels)
        typer.echo(f"{decoded.info['originals_note']}; showing decoded z-points only")
    fig.savefig(out, dpi=120, bbox_inches="tight")
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
    regions: Annotated[Optional[str], typer.Option("--regions", help="Comma-separated samplers (default: all, + fragment when found).")] = None,
    sigma: Annotated[Optional[float], typer.Option("--sigma", help="k for ellipsoid and planes (default 2).")] = None,
    components: Annotated[Optional[int], typer.Option("--components", help="gmm components (default 10).")] = None,
    k: Annotated[int, typer.Option("--k", help="Nearest neighbours for PRDC and the on-data fraction.")] = 5,
    partition: Annotated[str, typer.Option(help="Fit partition (val + test are held out).")] = "train",
    fragments: Annotated[Optional[Path], typer.Option("--fragments", help="fragments.h5 for the fragment sampler.")] = None,
    inception_weights: Annotated[Optional[Path], typer.Option("--inception-weights", help="Local InceptionV3 (no top) weights file: adds FID. Never downloaded.")] = None,
    latent_only: Annotated[bool, typer.Option("--latent-only", help="Skip decoding (no model needed).")] = False,
) -> int:
    """Fit every sampler and measure its samples: held-out log-likelihood, on-data fraction, PRDC, re-encoding."""
    from ..metrics import compare_samplers

    model_kw = {} if latent_only else _model_kw(model, encoder, decoder)
    names = [r.strip() for r in regions.split(",") if r.strip()] if regions else None
    params = {}
    for name in names or ["ellipsoid", "planes", "gmm"]:
        base = name.split(":", 1)[-1] if name.startswith("fragment") else name
        p = {}
        if sigma is not None and base in ("ellipsoid", "planes"):
            p["sigma"] = sigma
        if components is not None and base in ("gmm", "bgmm"):
            p["n_components"] = components
        if p:
            params[name] = p
    result = compare_samplers(z, out, regions=names, n=n, seed=seed, k=k, partition=partition, params=params,
                              fragments=fragments, inception_weights=inception_weights, use_model=not latent_only,
                              progress=lambda name: typer.echo(f"  {name} …"), **model_kw)
    st = result.settings
    typer.echo(f"{st['n']} samples per sampler; fit on {st['n_fit']} rows ({st['split']}); reference: {st['reference']}")
    head = f"{'sampler':<15}{'heldout ll':>11}{'on-data':>9}{'too close':>10}{'knn ratio':>10}{'prec':>7}{'recall':>7}{'dens':>7}{'cover':>7}{'re-enc':>8}"
    typer.echo(head)

    def f(v, spec):
        return "-" if v is None else format(v, spec)

    for r in result.rows:
        typer.echo(f"{r['sampler']:<15}{f(r['heldout_loglik'], '.4g'):>11}{f(r['on_data_fraction'], '.3f'):>9}"
                   f"{f(r['too_close_fraction'], '.3f'):>10}{f(r['knn_distance_ratio'], '.3f'):>10}{f(r['precision'], '.3f'):>7}{f(r['recall'], '.3f'):>7}"
                   f"{f(r['density'], '.3f'):>7}{f(r['coverage'], '.3f'):>7}{f(r['reencoding_error'], '.3f'):>8}")
    for name, why in result.skipped.items():
        typer.echo(f"skipped {name}: {why}")
    typer.echo(f"wrote {', '.join(str(p) for p in result.files.values())} ({st['seconds']:.1f} s)")
    return 0
