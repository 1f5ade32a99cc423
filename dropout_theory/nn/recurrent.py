r"""Variational (locked) dropout for recurrent networks (Gal & Ghahramani, NeurIPS 2016).

Gal & Ghahramani write :math:`p` for the *keep* probability; here ``p_input``, ``p_hidden``
and ``p_output`` are *drop* probabilities, as in ``torch.nn.LSTM(dropout=...)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from dropout_theory import functional as F
from dropout_theory.functional.masks import bernoulli_mask
from dropout_theory.validation import check_float_tensor, check_generator, check_positive_int, check_probability


class LockedDropout(nn.Module):
    r"""Dropout with one mask per sequence, shared by all time steps.

    Training: :math:`y_t = m \odot x_t/(1-p)` with :math:`m` drawn once per sequence;
    evaluation: the identity. See :func:`dropout_theory.functional.locked_dropout`.

    Args:
        p: drop probability in [0, 1]. Default: 0.5.
        batch_first: inputs are ``(N, T, F)`` instead of ``(T, N, F)``. Default: False.
        inplace: overwrite the input. Default: False.
        generator: optional ``torch.Generator`` for every mask this module draws.

    Shape:
        Input :math:`(T, N, F)`, :math:`(N, T, F)` or :math:`(T, F)`; output the same.

    Example:
        >>> m = LockedDropout(0.3, generator=torch.Generator().manual_seed(0))
        >>> y = m(torch.ones(6, 2, 4))
        >>> bool((y == y[0]).all())
        True

    Reference: Gal & Ghahramani (2016), NeurIPS; Merity et al. (2018), ICLR (AWD-LSTM).
    """

    def __init__(
        self, p: float = 0.5, *, batch_first: bool = False, inplace: bool = False, generator: torch.Generator | None = None
    ) -> None:
        super().__init__()
        self.p = check_probability("p", p)
        self.batch_first = bool(batch_first)
        self.inplace = bool(inplace)
        self.generator = check_generator(generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.locked_dropout(
            x, self.p, self.training, batch_first=self.batch_first, inplace=self.inplace, generator=self.generator
        )

    def extra_repr(self) -> str:
        return f"p={self.p}, batch_first={self.batch_first}, inplace={self.inplace}"


@dataclass(frozen=True)
class LSTMMasks:
    """Keep-masks (0/1) for one forward pass of :class:`VariationalLSTM`.

    ``inputs[k]`` and ``hidden[k]`` belong to layer ``k`` (``None`` where that probability is
    0); ``output`` to the last layer's output. Tied masks have shape ``(N, F)``; per-step
    masks ``(T, N, F)``.
    """

    inputs: tuple[torch.Tensor | None, ...]
    hidden: tuple[torch.Tensor | None, ...]
    output: torch.Tensor | None


class VariationalLSTM(nn.Module):
    r"""An LSTM with variational dropout: the same masks at every time step.

    For each layer, with keep-masks drawn once per sequence and forward call,

    .. math::
        \begin{aligned}
        (i, f, g, o) &= W_{ih}\,\frac{m_x \odot x_t}{1 - p_{\mathrm{in}}} + b_{ih}
                      + W_{hh}\,\frac{m_h \odot h_{t-1}}{1 - p_{\mathrm{hid}}} + b_{hh}, \\
        c_t &= \sigma(f) \odot c_{t-1} + \sigma(i) \odot \tanh(g), \qquad
        h_t = \sigma(o) \odot \tanh(c_t),
        \end{aligned}

    and the last layer's outputs get a locked mask :math:`m_y` with ``p_output``. One input
    mask and one recurrent mask serve all four gates. ``p_input`` applies to every layer's
    input (for layers after the first, the previous layer's output). Evaluation is the
    deterministic LSTM: with the same parameters, it computes exactly what
    ``torch.nn.LSTM`` computes (the parameter names and layout are the same, so
    ``load_state_dict`` works both ways).

    ``per_step_masks=True`` draws a fresh mask at every step instead (the naive scheme that
    Gal & Ghahramani argue against); it exists to compare the two.

    Args:
        input_size: features of the input :math:`x_t`.
        hidden_size: features of the hidden state.
        num_layers: stacked layers. Default: 1.
        p_input: drop probability of each layer's input. Default: 0.
        p_hidden: drop probability of the recurrent state :math:`h_{t-1}`. Default: 0.
        p_output: drop probability of the last layer's outputs. Default: 0.
        bias: use ``b_ih`` and ``b_hh``. Default: True.
        batch_first: inputs and outputs are ``(N, T, F)``. Default: False.
        per_step_masks: fresh masks at every time step (naive dropout). Default: False.
        generator: optional ``torch.Generator`` for every mask this module draws.

    Shape:
        Input :math:`(T, N, H_{in})` (or :math:`(N, T, H_{in})` with ``batch_first``, or an
        unbatched :math:`(T, H_{in})`), optional ``hx = (h_0, c_0)`` each
        :math:`(L, N, H)` (or :math:`(L, H)`). Returns ``(output, (h_n, c_n))`` with output
        :math:`(T, N, H)` and :math:`h_n, c_n` of shape :math:`(L, N, H)`, as ``nn.LSTM``.

    Example:
        >>> lstm = VariationalLSTM(3, 5, p_input=0.25, p_hidden=0.25, generator=torch.Generator().manual_seed(0))
        >>> out, (h, c) = lstm(torch.randn(7, 2, 3))
        >>> out.shape, h.shape
        (torch.Size([7, 2, 5]), torch.Size([1, 2, 5]))

    Reference: Gal & Ghahramani (2016), "A theoretically grounded application of dropout
    in recurrent neural networks", NeurIPS.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        p_input: float = 0.0,
        p_hidden: float = 0.0,
        p_output: float = 0.0,
        *,
        bias: bool = True,
        batch_first: bool = False,
        per_step_masks: bool = False,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.input_size = check_positive_int("input_size", input_size)
        self.hidden_size = check_positive_int("hidden_size", hidden_size)
        self.num_layers = check_positive_int("num_layers", num_layers)
        self.p_input = check_probability("p_input", p_input)
        self.p_hidden = check_probability("p_hidden", p_hidden)
        self.p_output = check_probability("p_output", p_output)
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.per_step_masks = bool(per_step_masks)
        self.generator = check_generator(generator)
        factory = {"device": device, "dtype": dtype}
        for k in range(self.num_layers):
            layer_input = self.input_size if k == 0 else self.hidden_size
            setattr(self, f"weight_ih_l{k}", nn.Parameter(torch.empty(4 * hidden_size, layer_input, **factory)))
            setattr(self, f"weight_hh_l{k}", nn.Parameter(torch.empty(4 * hidden_size, hidden_size, **factory)))
            if self.bias:
                setattr(self, f"bias_ih_l{k}", nn.Parameter(torch.empty(4 * hidden_size, **factory)))
                setattr(self, f"bias_hh_l{k}", nn.Parameter(torch.empty(4 * hidden_size, **factory)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Uniform on :math:`[-1/\\sqrt{H}, 1/\\sqrt{H}]`, as ``torch.nn.LSTM``."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            nn.init.uniform_(weight, -bound, bound)

    def _layer_params(self, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        w_ih, w_hh = getattr(self, f"weight_ih_l{k}"), getattr(self, f"weight_hh_l{k}")
        if not self.bias:
            return w_ih, w_hh, None, None
        return w_ih, w_hh, getattr(self, f"bias_ih_l{k}"), getattr(self, f"bias_hh_l{k}")

    def sample_masks(
        self,
        batch_size: int,
        seq_len: int | None = None,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> LSTMMasks:
        """Draw the keep-masks of one forward pass from this module's generator.

        ``seq_len`` is needed only with ``per_step_masks=True``.
        """
        batch_size = check_positive_int("batch_size", batch_size)
        if self.per_step_masks:
            seq_len = check_positive_int("seq_len", seq_len)
        lead = (seq_len,) if self.per_step_masks else ()

        def draw(p: float, features: int) -> torch.Tensor | None:
            if p == 0.0:
                return None
            return bernoulli_mask((*lead, batch_size, features), 1.0 - p, generator=self.generator, device=device, dtype=dtype)

        inputs = tuple(draw(self.p_input, self.input_size if k == 0 else self.hidden_size) for k in range(self.num_layers))
        hidden = tuple(draw(self.p_hidden, self.hidden_size) for _ in range(self.num_layers))
        return LSTMMasks(inputs, hidden, draw(self.p_output, self.hidden_size))

    def forward(
        self,
        input: torch.Tensor,
        hx: tuple[torch.Tensor, torch.Tensor] | None = None,
        *,
        masks: LSTMMasks | None = None,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """Run the LSTM. In training, masks are drawn (or taken from ``masks``, e.g. to replay
        a mask); in evaluation no mask is applied unless ``masks`` is given explicitly."""
        check_float_tensor("input", input)
        if input.ndim not in (2, 3):
            raise ValueError(f"input must be (T, N, F), (N, T, F) with batch_first, or unbatched (T, F); got shape {tuple(input.shape)}")
        if input.shape[-1] != self.input_size:
            raise ValueError(f"input has {input.shape[-1]} features, expected input_size={self.input_size}")
        weight = self.weight_ih_l0
        if input.dtype != weight.dtype:
            raise TypeError(f"input dtype {input.dtype} does not match the parameters' dtype {weight.dtype}")
        batched = input.ndim == 3
        x = input if batched else input.unsqueeze(1)
        if batched and self.batch_first:
            x = x.transpose(0, 1)
        seq_len, batch = x.shape[0], x.shape[1]
        h0, c0 = self._initial_state(hx, batch, batched, x)
        if masks is None and self.training:
            masks = self.sample_masks(batch, seq_len, device=x.device, dtype=x.dtype)
        h_n, c_n = [], []
        for k in range(self.num_layers):
            x, (h, c) = self._run_layer(k, x, h0[k], c0[k], masks)
            h_n.append(h)
            c_n.append(c)
        if masks is not None and masks.output is not None:
            x = self._masked(x, masks.output, self.p_output)
        if batched and self.batch_first:
            x = x.transpose(0, 1)
        h_stack, c_stack = torch.stack(h_n), torch.stack(c_n)
        if not batched:
            return x.squeeze(1), (h_stack.squeeze(1), c_stack.squeeze(1))
        return x, (h_stack, c_stack)

    def _initial_state(
        self, hx: tuple[torch.Tensor, torch.Tensor] | None, batch: int, batched: bool, x: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        shape = (self.num_layers, batch, self.hidden_size)
        if hx is None:
            zeros = torch.zeros(shape, device=x.device, dtype=x.dtype)
            return zeros, zeros
        expected = shape if batched else (self.num_layers, self.hidden_size)
        for name, state in zip(("h_0", "c_0"), hx):
            check_float_tensor(name, state)
            if tuple(state.shape) != expected:
                raise ValueError(f"{name} must have shape {expected}, got {tuple(state.shape)}")
        h0, c0 = hx
        if not batched:
            h0, c0 = h0.unsqueeze(1), c0.unsqueeze(1)
        return h0, c0

    @staticmethod
    def _masked(x: torch.Tensor, mask: torch.Tensor, p: float) -> torch.Tensor:
        # Tied masks (N, F) broadcast over time (T, N, F); per-step masks match it.
        return F.apply_dropout_mask(x, mask, p)

    def _run_layer(
        self, k: int, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor, masks: LSTMMasks | None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        w_ih, w_hh, b_ih, b_hh = self._layer_params(k)
        input_mask = masks.inputs[k] if masks is not None else None
        hidden_mask = masks.hidden[k] if masks is not None else None
        if input_mask is not None:
            x = self._masked(x, input_mask, self.p_input)
        # The input half of every gate does not depend on the recurrence: one matmul for all steps.
        from_input = x @ w_ih.T
        if b_ih is not None:
            from_input = from_input + b_ih + b_hh
        outputs = []
        for t in range(x.shape[0]):
            h_in = h
            if hidden_mask is not None:
                step_mask = hidden_mask[t] if self.per_step_masks else hidden_mask
                h_in = self._masked(h, step_mask, self.p_hidden)
            gates = from_input[t] + h_in @ w_hh.T
            i, f, g, o = gates.chunk(4, dim=-1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            outputs.append(h)
        return torch.stack(outputs), (h, c)

    def extra_repr(self) -> str:
        return (
            f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, p_input={self.p_input}, "
            f"p_hidden={self.p_hidden}, p_output={self.p_output}, bias={self.bias}, batch_first={self.batch_first}, "
            f"per_step_masks={self.per_step_masks}"
        )
