"""A learned prior: a RealNVP normalizing flow in Keras 3, fitted on the latent points.

The flow works in the whitened PCA frame of the fit points: the first
``flow_dims`` whitened coordinates go through ``n_layers`` affine coupling
layers (RealNVP, Dinh et al. 2017), the others stay standard normal. The
log-density is exact (change of variables), so the region has
``score_samples``. Training minimises the negative log-likelihood with Adam,
stops early on a held-out 10 % (best weights restored), is reproducible with
``random_state`` (``keras.utils.set_random_seed``) and reports each epoch.
TensorFlow/Keras are imported only when this region is fitted, sampled,
scored or loaded.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval

from .._errors import LatentlabError
from ._base import MAX_SEED, DensityRegion
from ._progress import steps
from ._state import JSON, Array, Int, Model, StateError

__all__ = ["FlowRegion"]

_LOG_2PI = math.log(2.0 * math.pi)
_LAYERS: dict = {}


def _custom_objects() -> dict:
    """Define (once) and return the Keras layer the flow is built from."""
    if _LAYERS:
        return _LAYERS
    import keras
    from keras import ops

    @keras.saving.register_keras_serializable(package="latentlab")
    class AffineCoupling(keras.layers.Layer):
        """Rotate by a fixed random orthogonal R (log-det 0), then y_b = x_b · exp(s(x_a)) + t(x_a), y_a = x_a.

        The rotation mixes the coordinates between layers (like Glow's 1×1
        convolutions), so a mode structure along one axis can be learned.
        """

        def __init__(self, dim, hidden, flip, seed=0, **kwargs):
            super().__init__(**kwargs)
            self.dim, self.hidden, self.flip, self.seed = int(dim), int(hidden), bool(flip), int(seed)
            self.d_a = self.dim // 2 if not self.flip else self.dim - self.dim // 2
            d_b = self.dim - self.d_a
            self.net = keras.Sequential([
                keras.layers.Dense(self.hidden, activation="relu"),
                keras.layers.Dense(self.hidden, activation="relu"),
                keras.layers.Dense(2 * d_b, kernel_initializer="zeros"),
            ])

        def build(self, input_shape):
            self.rotation = self.add_weight(shape=(self.dim, self.dim), trainable=False, name="rotation",
                                            initializer=keras.initializers.Orthogonal(seed=self.seed))
            self.net.build((None, self.d_a))

        def _split(self, x):
            return (x[:, self.dim - self.d_a:], x[:, : self.dim - self.d_a]) if self.flip else (x[:, : self.d_a], x[:, self.d_a:])

        def _join(self, a, b):
            return ops.concatenate([b, a] if self.flip else [a, b], axis=1)

        def _st(self, a):
            h = self.net(a)
            d_b = self.dim - self.d_a
            return ops.tanh(h[:, :d_b]) * 2.0, h[:, d_b:]

        def call(self, x):
            a, b = self._split(ops.matmul(x, self.rotation))
            s, t = self._st(a)
            return self._join(a, b * ops.exp(s) + t), ops.sum(s, axis=1)

        def inverse(self, y):
            a, b = self._split(y)
            s, t = self._st(a)
            return ops.matmul(self._join(a, (b - t) * ops.exp(-s)), ops.transpose(self.rotation))

        def get_config(self):
            return {**super().get_config(), "dim": self.dim, "hidden": self.hidden, "flip": self.flip, "seed": self.seed}

    _LAYERS["AffineCoupling"] = AffineCoupling
    return _LAYERS


class FlowRegion(DensityRegion):
    """A RealNVP normalizing flow (Keras 3) on the whitened PCA coordinates: a learned prior with exact density.

    Parameters
    ----------
    flow_dims : int, default 64
        Leading whitened PCA coordinates the flow models (capped at z_dim); the
        rest are independent standard normal.
    n_layers : int, default 6
        Affine coupling layers (alternating halves).
    hidden : int, default 256
        Width of the two hidden layers of each coupling network.
    epochs : int, default 60
    batch_size : int, default 512
    learning_rate : float, default 1e-3
    patience : int, default 5
        Early stopping on the held-out 10 %'s loss (best weights restored).
    temperature : float, default 1.0
        Samples are drawn from N(0, T² I) in the flow's base space (T < 1: fewer,
        more typical samples; the density is that of T = 1).
    random_state : int, default 0

    Attributes
    ----------
    flow_ : keras.Model
        Maps whitened coordinates to (base point, log|det J|); saved as ``.keras`` with the region.
    history_ : dict
        ``loss`` and ``val_loss`` per epoch.
    epochs_ : int
    """

    _parameter_constraints = {
        "flow_dims": [Interval(Integral, 1, None, closed="left")],
        "n_layers": [Interval(Integral, 1, None, closed="left")],
        "hidden": [Interval(Integral, 1, None, closed="left")],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "patience": [Interval(Integral, 1, None, closed="left")],
        "temperature": [Interval(Real, 0, None, closed="neither")],
        "random_state": [Interval(Integral, 0, MAX_SEED, closed="both")],
    }
    _custom_objects = staticmethod(_custom_objects)
    _fitted_schema = {"mean_": Array(("d",)), "components_": Array(("d", "d")), "scales_": Array(("d",), positive=True),
                      "flow_dims_": Int(2), "history_": JSON(dict), "epochs_": Int(0), "flow_": Model()}

    def _check_state(self):
        if self.flow_dims_ > self.n_features_in_:
            raise StateError("flow_dims_", f"{self.flow_dims_} exceeds z_dim {self.n_features_in_}")
        shape = tuple(self.flow_.input_shape) if not isinstance(self.flow_.input_shape, list) else None
        if shape != (None, self.flow_dims_) or len(self._coupling_layers()) < 1:
            raise StateError("flow_", f"takes {shape}, not (None, {self.flow_dims_}), or has no coupling layer")

    def __init__(self, flow_dims: int = 64, n_layers: int = 6, hidden: int = 256, epochs: int = 60,
                 batch_size: int = 512, learning_rate: float = 1e-3, patience: int = 5, temperature: float = 1.0,
                 random_state: int = 0):
        self.flow_dims = flow_dims
        self.n_layers = n_layers
        self.hidden = hidden
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.patience = patience
        self.temperature = temperature
        self.random_state = random_state

    def _whiten(self, Z):
        return ((Z - self.mean_) @ self.components_.T) / self.scales_

    def _fit(self, Z):
        import keras
        from keras import ops

        layers = _custom_objects()
        self.mean_ = Z.mean(axis=0)
        lam, vec = np.linalg.eigh(np.atleast_2d(np.cov(Z, rowvar=False)))
        order = np.argsort(lam)[::-1]
        lam = np.maximum(lam[order], 1e-6 * max(float(lam.mean()), 1e-12))
        self.components_, self.scales_ = vec[:, order].T, np.sqrt(lam)
        m = self.flow_dims_ = int(min(self.flow_dims, Z.shape[1]))
        if m < 2:
            raise LatentlabError(f"flow: needs flow_dims >= 2 and z_dim >= 2, got flow_dims={self.flow_dims}, n_features={Z.shape[1]}")
        U = self._whiten(Z)[:, :m].astype(np.float32)
        keras.utils.set_random_seed(int(self.random_state))
        x = keras.Input((m,))
        h, logdet = x, None
        for i in range(int(self.n_layers)):
            h, ld = layers["AffineCoupling"](m, int(self.hidden), bool(i % 2), seed=int(self.random_state) * 1000 + i)(h)
            logdet = ld if logdet is None else logdet + ld
        logp = -0.5 * ops.sum(h * h, axis=1) - 0.5 * m * _LOG_2PI + logdet
        model = keras.Model(x, [h, logp])
        trainer = keras.Model(x, logp)
        trainer.compile(optimizer=keras.optimizers.Adam(float(self.learning_rate)), loss=lambda y, lp: -lp)
        perm = np.random.default_rng(self.random_state).permutation(len(U))
        n_val = max(1, len(U) // 10)
        val, tr = U[perm[:n_val]], U[perm[n_val:]]
        with steps("flow: training epochs", total=int(self.epochs)) as bar:
            report = keras.callbacks.LambdaCallback(
                on_epoch_end=lambda e, logs: bar.advance(1, loss=float(logs["loss"]), val_loss=float(logs["val_loss"])))
            stop = keras.callbacks.EarlyStopping(patience=int(self.patience), restore_best_weights=True)
            hist = trainer.fit(tr, np.zeros(len(tr), np.float32), validation_data=(val, np.zeros(len(val), np.float32)),
                               epochs=int(self.epochs), batch_size=int(self.batch_size), shuffle=True, verbose=0,
                               callbacks=[stop, report])
        self.history_ = {k: [float(v) for v in vals] for k, vals in hist.history.items()}
        self.epochs_ = len(self.history_["loss"])
        self.flow_ = model

    def _coupling_layers(self):
        return [layer for layer in self.flow_.layers if type(layer).__name__ == "AffineCoupling"]

    def _sample(self, n, rng):
        m, d = self.flow_dims_, self.n_features_in_
        base = rng.standard_normal((n, d)) * float(self.temperature)
        h = base[:, :m].astype(np.float32)
        for layer in reversed(self._coupling_layers()):
            h = np.asarray(layer.inverse(h))
        U = np.concatenate([h.astype(np.float64), base[:, m:]], axis=1)
        return self.mean_ + (U * self.scales_) @ self.components_

    def _score_samples(self, Z):
        U = self._whiten(Z)
        m = self.flow_dims_
        _, logp = self.flow_.predict(U[:, :m].astype(np.float32), batch_size=4096, verbose=0)
        rest = -0.5 * (U[:, m:] ** 2).sum(axis=1) - 0.5 * (U.shape[1] - m) * _LOG_2PI
        return np.asarray(logp, np.float64) + rest - np.log(self.scales_).sum()
