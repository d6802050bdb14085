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
        path = Path(model_dir) / CONFIG_FILE
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2))
        os.replace(tmp, path)


def read_config(model_dir: str | os.PathLike) -> ModelConfig:
    path = Path(model_dir) / CONFIG_FILE
    if not path.is_file():
        raise ModelError(f"{model_dir}: model directory has no {CONFIG_FILE}")
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path}: not a readable JSON file ({type(exc).__name__})") from None
    known = ModelConfig.__dataclass_fields__
    return ModelConfig(**{k: v for k, v in raw.items() if k in known})
