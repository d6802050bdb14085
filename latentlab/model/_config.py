from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .._errors import ModelError

CONFIG_FILE = "config.json"


@dataclass
class ModelConfig:
    """What ``config.json`` records about a trained model."""

    image_size: int = 96
    channels: int = 3
    z_dim: int = 256
    filters: list[int] = field(default_factory=lambda: [32, 64, 128, 128])
    loss: str = "bce"
    lr: float = 5e-4
    batch_size: int = 64
    epochs: int = 24
    epochs_done: int = 0
    seed: int = 0
    augment_flip: bool = False
    crop: list[int] | None = None
    data: dict = field(default_factory=dict)
    latentlab_version: str = ""
    format: str = "latentlab-model/1"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["preprocessing"] = {"image_size": self.image_size, "channels": self.channels, "crop": self.crop,
                              "scale": "pixels / 255", "resize": "bilinear after centre crop"}
        return d

    def save(self, model_dir: str | os.PathLike) -> None:
        from .._io import write_json

        write_json(Path(model_dir) / CONFIG_FILE, self.to_dict(), indent=2)


def read_config(model_dir: str | os.PathLike) -> ModelConfig:
    path = Path(model_dir) / CONFIG_FILE
    if not path.is_file():
        raise ModelError(f"{model_dir}: model directory has no {CONFIG_FILE}")
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path}: not a readable JSON file ({type(exc).__name__})") from None
    if not isinstance(raw, dict):
        raise ModelError(f"{path}: expected a JSON object, found {type(raw).__name__}")
    known = ModelConfig.__dataclass_fields__
    config = ModelConfig(**{k: v for k, v in raw.items() if k in known})
    _validate(config, path)
    return config


def _validate(config: ModelConfig, path: Path) -> None:
    """A hand-edited or damaged config.json is refused here, before any store or model file is touched."""
    from .._checks import check_crop, check_int

    try:
        check_int(config.image_size, "image_size", minimum=1, maximum=65536)
        if config.channels not in (1, 3) or isinstance(config.channels, bool):
            raise ModelError(f"channels: expected 1 or 3, got {config.channels!r}")
        check_int(config.z_dim, "z_dim", minimum=1, maximum=1_000_000)
        check_int(config.epochs_done, "epochs_done", minimum=0)
        check_int(config.epochs, "epochs", minimum=0)
        check_crop(config.crop or None, "crop")
        if not isinstance(config.data, dict):
            raise ModelError(f"data: expected an object, got {config.data!r}")
    except ValueError as exc:  # LatentlabError is a ValueError
        raise ModelError(f"{path}: {exc}") from None
