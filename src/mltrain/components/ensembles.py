"""TabM (Gorishniy et al., "TabM: Advancing Tabular Deep Learning with Parameter-Efficient Ensembling",
ICLR 2025): k MLPs that share their weights but for a rank-one scaling each, built from the ``tabm`` and
``rtdl_num_embeddings`` packages (``pip install 'mltrain[tabular]'``).

    model = TabMNet(n_numeric=4, n_other=3, out_features=2, task="multiclass", k=32, ...)
    model.train(); model(x).shape   # (batch, k, out): each member's output, each trained on its own loss
    model.eval();  model(x).shape   # (batch, out): the members' mean prediction, as the loss's raw outputs

In training the model returns every member's output and the trainer applies the loss to each member
(``Loss.members``), as the paper trains TabM; in eval mode it returns the mean prediction in the form the
loss's head gives: for classes, the log of the members' mean probabilities (softmax of it = the mean
probabilities), for two classes the logit of the mean probability, for regression the mean value. So
``evaluate``, ``predict``, export and monitoring see a model like any other, ``(batch, out)``.

The input matrix holds the ``n_numeric`` scaled numeric columns first, then the one-hot columns
(``data/preprocessing.py``). Numeric columns go through numeric embeddings (``embedding``):
``piecewise``: piecewise-linear embeddings (rtdl_num_embeddings' version B) with ``n_bins`` bins whose edges
are the standard normal's quantiles: with ``dataset.numeric=quantile`` the training rows of each column are
normal scores of their ranks, so these are the training rows' quantile bins (the paper's choice), fixed by
the saved ``preprocessing.json`` rather than stored apart; ``periodic``: periodic embeddings; ``none``.
"""

from __future__ import annotations

from statistics import NormalDist

import torch
from torch import Tensor, nn

from mltrain.components.losses import mean_prediction
from mltrain.errors import ConfigError

EMBEDDINGS = ("piecewise", "periodic", "none")
ARCHITECTURES = ("tabm", "tabm-mini", "tabm-packed")
EDGE = 5.2  # outermost bin edges: the normal scores of the quantile scaling's end knots (+-5.1993)


def normal_bins(n_bins: int) -> Tensor:
    """``n_bins + 1`` increasing edges: -5.2, the normal's quantiles at 1/n_bins ... 1 - 1/n_bins, 5.2."""
    normal = NormalDist()
    inner = [normal.inv_cdf(i / n_bins) for i in range(1, n_bins)]
    return torch.tensor([-EDGE, *inner, EDGE], dtype=torch.float32)


class TabMNet(nn.Module):
    """Numeric embeddings, then TabM's ensemble backbone and one linear head per member."""

    def __init__(
        self,
        n_numeric: int,
        n_other: int,
        out_features: int,
        task: str,
        k: int,
        n_blocks: int,
        d_block: int,
        dropout: float,
        embedding: str,
        n_bins: int,
        d_embedding: int,
        arch: str,
    ) -> None:
        super().__init__()
        try:
            import rtdl_num_embeddings
            import tabm
        except ImportError as e:
            raise ConfigError(
                f"model=tabm needs the packages tabm and rtdl-num-embeddings ({e}); "
                "pip install 'mltrain[tabular]'"
            ) from e
        self.n_numeric, self.task, self.k = n_numeric, task, k
        # their TracerWarnings check feature widths only (x.shape[-1]): an ONNX or TorchScript trace is exact
        self.trace_shape_checks = (tabm.__file__, rtdl_num_embeddings.__file__)
        self.num: nn.Module | None = None
        d_features = [1] * (n_numeric + n_other)  # the width each input column has after its embedding
        if n_numeric and embedding == "piecewise":
            self.num = rtdl_num_embeddings.PiecewiseLinearEmbeddings(
                [normal_bins(n_bins)] * n_numeric, d_embedding, activation=False, version="B"
            )
        elif n_numeric and embedding == "periodic":
            self.num = rtdl_num_embeddings.PeriodicEmbeddings(n_numeric, d_embedding, lite=False)
        if self.num is not None:
            d_features[:n_numeric] = [d_embedding] * n_numeric
        self.ensemble = tabm.EnsembleView(k=k)
        self.backbone = tabm.make_tabm_backbone(
            d_in=sum(d_features),
            n_blocks=n_blocks,
            d_block=d_block,
            dropout=dropout,
            k=k,
            arch_type=arch,
            start_scaling_init=None if arch == "tabm-packed" else "normal" if self.num else "random-signs",
            start_scaling_init_chunks=None if arch == "tabm-packed" else d_features,
        )
        self.head = tabm.LinearEnsemble(d_block, out_features, k=k)

    def forward(self, x: Tensor) -> Tensor:
        if self.num is not None:
            x = torch.cat([self.num(x[:, : self.n_numeric]).flatten(1), x[:, self.n_numeric :]], 1)
        members = self.head(self.backbone(self.ensemble(x)))  # (batch, k, out)
        return members if self.training else mean_prediction(members, self.task, self.k)
