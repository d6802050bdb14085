"""A learned prior by conditional flow matching: a residual-MLP velocity field in Keras 3 on whitened z.

Why flow matching, and why this path. RCG (Li, Katabi, He 2024) showed that a small
MLP generative model over a frozen 256-d representation is the current recipe for a
learned prior; flow matching (Lipman et al. 2023; Liu et al. 2023, "rectified flow")
trains the same kind of network by plain regression and gives a *deterministic* ODE,
hence an exact-in-the-limit log-density through the probability-flow ODE, which a
DDPM/EDM denoiser only gives after converting its score into that ODE. The
conditional path is the straight line ``x_t = (1 − t)·x₀ + t·x₁`` between a standard
normal ``x₀`` and a whitened data point ``x₁`` (Lipman's "OT path" with σ_min = 0,
the rectified-flow path), with target velocity ``x₁ − x₀``: the simplest regression
target, and the straightest marginal trajectories of the common paths, so a
fixed-step Heun solver needs few steps. The coupling of ``x₀`` and ``x₁`` is
independent: minibatch optimal transport (OT-CFM, Tong et al. 2024) straightens the
paths further in low dimension, but with batches of a few hundred points in 256
dimensions a batch is far too sparse for its assignment to approximate the OT plan,
and it costs a Hungarian solve per batch.

The data are whitened with the project's PCA core (:class:`~latentlab.analysis.LatentPCA`):
``u = Vᵀ(z − mean)/√λ``, so the network sees unit-variance coordinates and the base
N(0, I) already matches the fitted Gaussian; the flow only has to learn the non-Gaussian
part. ``log p(z) = log p_u(u) − Σ log √λ``.

The log-density integrates ``d log p / dt = −∇·v`` backwards along the ODE with the
same Heun steps. The divergence is either exact (the Jacobian's trace; ``d`` backward
passes per step, fine for small ``d``) or Hutchinson's estimator ``εᵀ (∂v/∂x) ε`` with
Rademacher ``ε`` (one backward pass per probe and step). Because the same ε is used
along a trajectory, the estimate of ``log p`` is ``εᵀ M ε`` for the step-weighted
Jacobian sum ``M`` plus the exact part: unbiased, with variance
``2 (‖M_s‖²_F − Σᵢ M_ii²) / n_probes`` (``M_s`` the symmetric part) per point;
:meth:`FlowMatchingRegion.score_samples_error` estimates it from the probes. A mean over
many points (the held-out log-likelihood) averages the noise away.

TensorFlow/Keras are imported only when this region is fitted, sampled, scored or loaded;
the divergence uses TensorFlow's ``GradientTape`` (Keras 3 has no backend-neutral gradient),
so the region needs the TensorFlow backend, as the models of latentlab do.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from .._errors import LatentlabError
from ._base import MAX_SEED, DensityRegion
from ._progress import steps
from ._state import JSON, Array, Int, Model, StateError

__all__ = ["FlowMatchingRegion"]

_LOG_2PI = math.log(2.0 * math.pi)
_LAYERS: dict = {}


def _custom_objects() -> dict:
    """Define (once) and return the one custom layer of the velocity network (registered, no Lambda)."""
    if _LAYERS:
        return _LAYERS
    import keras
    from keras import ops

    @keras.saving.register_keras_serializable(package="latentlab")
    class FourierTime(keras.layers.Layer):
        """Fixed Fourier features of the time t ∈ [0, 1]: sin and cos of 2π·f·t for log-spaced f in [1, max_freq]."""

        def __init__(self, n_freq=16, max_freq=64.0, **kwargs):
            super().__init__(**kwargs)
            self.n_freq, self.max_freq = int(n_freq), float(max_freq)

        def call(self, t):
            freqs = ops.exp(ops.linspace(0.0, math.log(self.max_freq), self.n_freq))
            angle = 2.0 * math.pi * ops.cast(t, "float32") * ops.reshape(freqs, (1, -1))
            return ops.concatenate([ops.sin(angle), ops.cos(angle)], axis=1)

        def compute_output_shape(self, input_shape):
            return (input_shape[0], 2 * self.n_freq)

        def get_config(self):
            return {**super().get_config(), "n_freq": self.n_freq, "max_freq": self.max_freq}

    _LAYERS["FourierTime"] = FourierTime
    return _LAYERS


def _velocity_network(d: int, width: int, n_blocks: int):
    """Residual MLP v(x, t): each block is LayerNorm → Dense(width, SiLU) + time embedding → SiLU → Dense(width), added to its input."""
    import keras

    layers = keras.layers
    x = keras.Input((d,), name="x")
    t = keras.Input((1,), name="t")
    temb = _custom_objects()["FourierTime"]()(t)
    temb = layers.Dense(width, activation="silu")(temb)
    temb = layers.Dense(width, activation="silu")(temb)
    h = layers.Dense(width)(x)
    for _ in range(int(n_blocks)):
        y = layers.LayerNormalization()(h)
        y = layers.Dense(width, activation="silu")(y)
        y = layers.Add()([y, layers.Dense(width)(temb)])
        y = layers.Activation("silu")(y)
        y = layers.Dense(width)(y)
        h = layers.Add()([h, y])
    h = layers.Activation("silu")(layers.LayerNormalization()(h))
    out = layers.Dense(d, kernel_initializer="zeros", name="velocity")(h)
    return keras.Model([x, t], out, name="velocity")


class _Pairs:
    """Seeded flow-matching batches ``([x_t, t], x₁ − x₀)``, fresh noise and times every epoch.

    Each batch's noise comes from ``default_rng((seed, epoch, batch))``, so the draw does
    not depend on the order in which Keras asks for batches.
    """

    def __init__(self, X, batch_size, seed):
        import keras

        class Dataset(keras.utils.PyDataset):
            def __init__(inner):
                super().__init__(workers=1, use_multiprocessing=False)
                inner.epoch = 0
                inner.order = np.random.default_rng((seed, 0)).permutation(len(X))

            def __len__(inner):
                return math.ceil(len(X) / batch_size)

            def __getitem__(inner, i):
                rows = inner.order[i * batch_size:(i + 1) * batch_size]
                return _pairs(X[rows], np.random.default_rng((seed, inner.epoch, i)))

            def on_epoch_end(inner):
                inner.epoch += 1
                inner.order = np.random.default_rng((seed, inner.epoch)).permutation(len(X))

        self.dataset = Dataset()


def _Budget(seconds, stop):
    """A callback that ends training after the epoch that passes ``seconds``, restoring the early stopper's best weights."""
    import time

    import keras

    class Budget(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            if time.perf_counter() - self.start > seconds and not self.model.stop_training:
                self.model.stop_training = True
                if stop.best_weights is not None:
                    self.model.set_weights(stop.best_weights)

    return Budget()


def _pairs(x1, rng):
    x0 = rng.standard_normal(x1.shape).astype(np.float32)
    t = rng.uniform(size=(len(x1), 1)).astype(np.float32)
    return (t * x1 + (1.0 - t) * x0, t), (x1 - x0).astype(np.float32)


class FlowMatchingRegion(DensityRegion):
    """A flow-matching prior (Keras 3 residual MLP on whitened PCA coordinates) with a log-density.

    Parameters
    ----------
    width : int, default 512
        Width of the residual MLP.
    n_blocks : int, default 4
        Residual blocks.
    epochs : int, default 40
    batch_size : int, default 512
    learning_rate : float, default 1e-3
        Adam.
    patience : int, default 5
        Early stopping on the held-out 10 %'s flow-matching loss (fixed noise; best weights restored).
    n_steps : int, default 32
        Heun steps of the sampling ODE (two network evaluations each).
    score_steps : int, default 16
        Heun steps of the probability-flow ODE in :meth:`score_samples`.
    trace : {'hutchinson', 'exact'}, default 'hutchinson'
        Divergence in :meth:`score_samples`: Hutchinson's estimator with Rademacher probes,
        or the exact Jacobian trace (``z_dim`` backward passes per evaluation).
    n_probes : int, default 2
        Hutchinson probes per point.
    temperature : float, default 1.0
        Samples start from N(0, T² I) (the density is that of T = 1).
    max_seconds : float, optional
        Stop training after the epoch that passes this wall-clock budget (the best
        held-out weights so far are kept). A budget makes the number of epochs depend
        on the machine, so the fit is reproducible only without one (the default).
    random_state : int, default 0
        Seeds the network's initial weights, the training noise, and the probes.

    Attributes
    ----------
    velocity_ : keras.Model
        ``v([x, t])`` in whitened coordinates; saved as ``.keras`` with the region.
    mean_, components_, scales_ : ndarray
        The whitening (LatentPCA): ``u = components_ @ (z − mean_) / scales_``.
    history_ : dict
        ``loss`` and ``val_loss`` per epoch.
    epochs_ : int

    Examples
    --------
    >>> import numpy as np
    >>> Z = np.random.default_rng(0).normal(size=(200, 2))
    >>> r = FlowMatchingRegion(width=32, n_blocks=1, epochs=2, batch_size=64).fit(Z)  # doctest: +SKIP
    >>> r.sample(3, random_state=0).shape  # doctest: +SKIP
    (3, 2)
    """

    _parameter_constraints = {
        "width": [Interval(Integral, 1, None, closed="left")],
        "n_blocks": [Interval(Integral, 0, None, closed="left")],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "patience": [Interval(Integral, 1, None, closed="left")],
        "n_steps": [Interval(Integral, 1, None, closed="left")],
        "score_steps": [Interval(Integral, 1, None, closed="left")],
        "trace": [StrOptions({"hutchinson", "exact"})],
        "n_probes": [Interval(Integral, 1, None, closed="left")],
        "temperature": [Interval(Real, 0, None, closed="neither")],
        "max_seconds": [Interval(Real, 0, None, closed="neither"), None],
        "random_state": [Interval(Integral, 0, MAX_SEED, closed="both")],
    }
    _custom_objects = staticmethod(_custom_objects)
    _transient = ("_functions",)
    _fitted_schema = {"mean_": Array(("d",)), "components_": Array(("d", "d")), "scales_": Array(("d",), positive=True),
                      "history_": JSON(dict), "epochs_": Int(0), "velocity_": Model()}

    def _check_state(self):
        inputs = self.velocity_.inputs
        shapes = [tuple(t.shape) for t in inputs]
        d = self.n_features_in_
        if shapes != [(None, d), (None, 1)] or tuple(self.velocity_.output.shape) != (None, d):
            raise StateError("velocity_", f"takes {shapes} and gives {tuple(self.velocity_.output.shape)}, "
                                          f"not [(None, {d}), (None, 1)] -> (None, {d})")

    def __init__(self, width: int = 512, n_blocks: int = 4, epochs: int = 40, batch_size: int = 512,
                 learning_rate: float = 1e-3, patience: int = 5, n_steps: int = 32, score_steps: int = 16,
                 trace: str = "hutchinson", n_probes: int = 2, temperature: float = 1.0, max_seconds: float | None = None,
                 random_state: int = 0):
        self.width = width
        self.n_blocks = n_blocks
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.patience = patience
        self.n_steps = n_steps
        self.score_steps = score_steps
        self.trace = trace
        self.n_probes = n_probes
        self.temperature = temperature
        self.max_seconds = max_seconds
        self.random_state = random_state

    # -- whitening ------------------------------------------------------------
    def _whiten(self, Z):
        return ((Z - self.mean_) @ self.components_.T) / self.scales_

    def _unwhiten(self, U):
        return self.mean_ + (U * self.scales_) @ self.components_

    # -- fitting ----------------------------------------------------------------
    def _fit(self, Z):
        import keras

        from ..analysis._pca import LatentPCA

        pca = LatentPCA(method="exact").fit(Z)
        lam = np.asarray(pca.eigenvalues_, dtype=np.float64)
        lam = np.maximum(lam, 1e-6 * max(float(lam.mean()), 1e-12))  # flat directions: a floor, not a division by 0
        self.mean_, self.components_, self.scales_ = np.asarray(pca.mean_), np.asarray(pca.components_), np.sqrt(lam)
        U = self._whiten(Z).astype(np.float32)
        seed = int(self.random_state)
        keras.utils.set_random_seed(seed)
        perm = np.random.default_rng(seed).permutation(len(U))
        n_val = max(1, len(U) // 10) if len(U) >= 20 else 0
        val, tr = U[perm[:n_val]], U[perm[n_val:]]
        model = _velocity_network(U.shape[1], int(self.width), int(self.n_blocks))
        model.compile(optimizer=keras.optimizers.Adam(float(self.learning_rate)), loss="mean_squared_error")
        data = _Pairs(tr, int(self.batch_size), seed).dataset
        validation = _pairs(val, np.random.default_rng((seed, 1 << 20))) if n_val else None
        monitor = "val_loss" if n_val else "loss"
        with steps("flow-matching: training epochs", total=int(self.epochs)) as bar:
            report = keras.callbacks.LambdaCallback(
                on_epoch_end=lambda e, logs: bar.advance(1, **{k: float(v) for k, v in logs.items() if "loss" in k}))
            stop = keras.callbacks.EarlyStopping(monitor=monitor, patience=int(self.patience), restore_best_weights=True)
            callbacks = [stop, report]
            if self.max_seconds is not None:
                callbacks.append(_Budget(float(self.max_seconds), stop))
            hist = model.fit(data, validation_data=validation, epochs=int(self.epochs), verbose=0, callbacks=callbacks)
        self.history_ = {k: [float(v) for v in vals] for k, vals in hist.history.items()}
        self.epochs_ = len(self.history_["loss"])
        self.velocity_ = model

    # -- the ODE ------------------------------------------------------------------
    def _fns(self):
        fns = getattr(self, "_functions", None)
        if fns is None:
            import tensorflow as tf

            model = self.velocity_

            @tf.function(reduce_retracing=True)
            def velocity(x, t):
                return model([x, t], training=False)

            @tf.function(reduce_retracing=True)
            def velocity_and_hutchinson(x, t, eps):
                # x: (B, d); eps: (P, B, d) → v (B, d), the P probe estimates of the divergence (P, B)
                with tf.GradientTape(persistent=True) as tape:
                    tape.watch(x)
                    v = model([x, t], training=False)
                    dots = [tf.reduce_sum(v * eps[p], axis=1) for p in range(eps.shape[0])]
                est = tf.stack([tf.reduce_sum(tape.gradient(dot, x) * eps[p], axis=1) for p, dot in enumerate(dots)])
                del tape
                return v, est

            @tf.function(reduce_retracing=True)
            def velocity_and_trace(x, t):
                with tf.GradientTape() as tape:
                    tape.watch(x)
                    v = model([x, t], training=False)
                jac = tape.batch_jacobian(v, x)
                return v, tf.linalg.trace(jac)[None, :]

            fns = self._functions = (velocity, velocity_and_hutchinson, velocity_and_trace)
        return fns

    def _sample(self, n, rng):
        velocity = self._fns()[0]
        d = self.n_features_in_
        x = (rng.standard_normal((n, d)) * float(self.temperature)).astype(np.float32)
        h = 1.0 / int(self.n_steps)
        out = []
        with steps("flow-matching: sampling batches", total=math.ceil(n / 4096)) as bar:
            for s in range(0, n, 4096):
                xb = x[s:s + 4096]
                for i in range(int(self.n_steps)):
                    t0 = np.full((len(xb), 1), i * h, np.float32)
                    k1 = velocity(xb, t0).numpy()
                    k2 = velocity(xb + h * k1, t0 + h).numpy()
                    xb = xb + 0.5 * h * (k1 + k2)
                out.append(xb)
                bar.advance(1)
        return self._unwhiten(np.concatenate(out).astype(np.float64))

    def _integrate_back(self, U, probes):
        """Heun from t = 1 back to 0: the base point and the P divergence integrals per point."""
        _, hutch, exact = self._fns()
        h = 1.0 / int(self.score_steps)
        x = U.astype(np.float32)
        n_est = 1 if probes is None else len(probes)
        acc = np.zeros((n_est, len(x)))

        def field(x, t):
            tt = np.full((len(x), 1), t, np.float32)
            v, div = exact(x, tt) if probes is None else hutch(x, tt, probes)
            return v.numpy(), div.numpy().astype(np.float64)

        for i in range(int(self.score_steps)):
            t = 1.0 - i * h
            k1, d1 = field(x, t)
            x_pred = x - h * k1
            k2, d2 = field(x_pred, t - h)
            x = x - 0.5 * h * (k1 + k2)
            acc += 0.5 * h * (d1 + d2)
        return x.astype(np.float64), acc

    def _log_density(self, Z):
        """(mean estimate, per-probe estimates) of log p(z) for each row, in batches."""
        U = self._whiten(Z)
        d = U.shape[1]
        rng = np.random.default_rng((int(self.random_state), 7))
        P = int(self.n_probes)
        batch = 1024 if self.trace == "hutchinson" else max(1, 16384 // max(d, 1))
        ests = []
        with steps("flow-matching: scoring batches", total=math.ceil(len(U) / batch)) as bar:
            for s in range(0, len(U), batch):
                ub = U[s:s + batch]
                probes = None
                if self.trace == "hutchinson":
                    probes = (rng.integers(0, 2, size=(P, len(ub), d)) * 2 - 1).astype(np.float32)
                x0, acc = self._integrate_back(ub, probes)
                base = -0.5 * (x0**2).sum(axis=1) - 0.5 * d * _LOG_2PI
                ests.append(base[None, :] - acc)
                bar.advance(1)
        est = np.concatenate(ests, axis=1) - np.log(self.scales_).sum()
        return est.mean(axis=0), est

    def _score_samples(self, Z):
        return self._log_density(Z)[0]

    def score_samples_error(self, Z) -> tuple[np.ndarray, np.ndarray]:
        """Log-density and the standard error of its Hutchinson estimate per point (0 with ``trace='exact'``).

        The error is the sample standard deviation over the ``n_probes`` probes
        divided by √n_probes (``nan`` with a single probe); the ODE discretisation
        error is not included.
        """
        from ._base import check_Z

        self._check_fitted()
        Z = check_Z(Z, n_features=self.n_features_in_)
        mean, est = self._log_density(Z)
        if self.trace == "exact":
            return mean, np.zeros(len(mean))
        if len(est) < 2:
            return mean, np.full(len(mean), np.nan)
        return mean, est.std(axis=0, ddof=1) / math.sqrt(len(est))
