"""The optimizer side of training: AdamW with its parameter groups, the grad scaler, and one update
(scheduled learning rate, forward under autocast, backward, clipping, step)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from multimodal_rnn.errors import ConfigError
from multimodal_rnn.training.schedules import learning_rate_factor
from multimodal_rnn.training.trainer_config import TrainerConfig


def build_optimizer(model: nn.Module, config: TrainerConfig) -> tuple[torch.optim.AdamW, torch.amp.GradScaler]:
    """AdamW over :func:`parameter_groups` and a grad scaler (enabled for ``float16`` AMP only)."""
    optimizer = torch.optim.AdamW(
        parameter_groups(model, config),
        lr=config.lr,
        betas=config.betas,
        eps=config.eps,
        weight_decay=config.weight_decay,
    )
    grad_scaler = torch.amp.GradScaler("cuda", enabled=config.amp and config.amp_dtype == "float16")
    return optimizer, grad_scaler


def parameter_groups(model: nn.Module, config: TrainerConfig) -> list[dict[str, Any]]:
    """AdamW groups ``main`` and (with ``encoder_lr``) ``encoder``; ``encoder_lr == 0`` freezes the encoder."""
    main: list[nn.Parameter] = []
    encoder: list[nn.Parameter] = []
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        in_encoder = config.encoder_lr is not None and name.startswith(config.encoder_prefix)
        (encoder if in_encoder else main).append(parameter)
    if config.encoder_lr is not None and not encoder:
        raise ConfigError(
            f"TrainerConfig: encoder_lr is set but no trainable parameter name starts with {config.encoder_prefix!r}"
        )
    groups = []
    if main:
        groups.append({"name": "main", "params": main, "lr": config.lr, "base_lr": config.lr})
    if config.encoder_lr == 0:
        for parameter in encoder:
            parameter.requires_grad_(False)
    elif encoder:
        groups.append({"name": "encoder", "params": encoder, "lr": config.encoder_lr, "base_lr": config.encoder_lr})
    if not groups:
        raise ConfigError(f"{type(model).__name__}: no trainable parameters")
    return groups


def optimizer_update(
    model: nn.Module,
    batch: Any,
    optimizer: torch.optim.Optimizer,
    grad_scaler: torch.amp.GradScaler,
    config: TrainerConfig,
    *,
    step: int,
    total_steps: int,
    model_name: str,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One update on ``batch`` (already on the model's device); returns the scalar loss and the total
    gradient norm before clipping (None without ``grad_clip``).

    The rate of every group is its ``base_lr`` times the schedule's factor at ``step`` (updates done
    before this one). ``model`` may be the DistributedDataParallel wrapper; ``model_name`` names the
    bare model in the TypeError raised when ``forward`` does not return a dict with a scalar ``"loss"``.
    """
    factor = learning_rate_factor(
        step,
        schedule=config.schedule,
        total_steps=total_steps,
        warmup_steps=config.warmup_steps,
        step_size=config.step_size,
        gamma=config.gamma,
        min_lr_ratio=config.min_lr_ratio,
    )
    for group in optimizer.param_groups:
        group["lr"] = group["base_lr"] * factor
    optimizer.zero_grad(set_to_none=True)
    amp_dtype = torch.float16 if config.amp_dtype == "float16" else torch.bfloat16
    device_type = next(model.parameters()).device.type
    with torch.autocast(device_type=device_type, dtype=amp_dtype, enabled=config.amp):
        outputs = model(batch)
    if not isinstance(outputs, Mapping) or "loss" not in outputs:
        raise TypeError(f"{model_name}.forward must return a dict with a 'loss' entry")
    loss = outputs["loss"]
    if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
        raise TypeError(f"{model_name}.forward: 'loss' must be a scalar tensor")
    grad_scaler.scale(loss).backward()
    grad_norm = None
    if config.grad_clip is not None:
        grad_scaler.unscale_(optimizer)
        trained = [p for group in optimizer.param_groups for p in group["params"]]
        grad_norm = torch.nn.utils.clip_grad_norm_(trained, config.grad_clip)
    grad_scaler.step(optimizer)
    grad_scaler.update()
    return loss, grad_norm
