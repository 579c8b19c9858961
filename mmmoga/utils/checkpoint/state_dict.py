"""State dicts out of checkpoints: unwrapping (``state_dict`` / ``model`` / EMA, prefixes) and
loading with missing and unexpected keys reported by name."""
import logging
import re
from collections import OrderedDict
from typing import Dict, Iterable, Optional, Pattern, Tuple

import torch
from mmengine.logging import MMLogger

# ------------------------------------------------------------------------------------------------
# state dicts


def extract_state_dict(checkpoint: dict,
                       prefix: Optional[str] = None,
                       use_ema: bool = False) -> Dict[str, torch.Tensor]:
    """Unwrap the state dict of a backbone from the layouts the official repositories use.

    Args:
        checkpoint: what ``torch.load`` returned.
        prefix: keep only keys starting with this prefix and strip it (e.g. ``'backbone.'`` for a
            full detector or mmpretrain checkpoint). ``None`` strips ``backbone.`` automatically
            when the checkpoint has such keys; ``''`` keeps every key as it is.
        use_ema: take ``state_dict_ema`` when the file has one (timm/MogaNet releases carry both;
            the official downstream runs used the plain ``state_dict``).
    """
    if not isinstance(checkpoint, dict):
        raise TypeError(f'A checkpoint must hold a dict of tensors (or wrap one under state_dict '
                        f'/ model), got {type(checkpoint).__name__}')
    wrappers = ('state_dict_ema', 'state_dict', 'model') if use_ema else ('state_dict', 'model',
                                                                          'state_dict_ema')
    state_dict = checkpoint
    for key in wrappers:
        if isinstance(checkpoint, dict) and isinstance(checkpoint.get(key), dict):
            state_dict = checkpoint[key]
            break
    state_dict = OrderedDict((re.sub(r'^module\.', '', k), v) for k, v in state_dict.items()
                             if isinstance(v, torch.Tensor))
    if prefix is None and any(k.startswith('backbone.') for k in state_dict):
        prefix = 'backbone.'
    if prefix:
        state_dict = OrderedDict(
            (k[len(prefix):], v) for k, v in state_dict.items() if k.startswith(prefix))
        if not state_dict:
            raise KeyError(f'No key of the checkpoint starts with {prefix!r}')
    return state_dict


def load_state_dict_verbose(module: torch.nn.Module,
                            state_dict: Dict[str, torch.Tensor],
                            source: str,
                            ignore_missing: Iterable[str] = (),
                            logger: Optional[logging.Logger] = None) -> None:
    """``load_state_dict(strict=False)`` that reports missing and unexpected keys by name.

    ``ignore_missing`` lists key prefixes that are expected to be fresh (e.g. HorNet's output
    norms, which no ImageNet checkpoint holds); they are reported at INFO level, everything else at
    WARNING.

    Raises:
        ValueError: keys whose shapes differ (named with both shapes), or a checkpoint of which no
            key belongs to the module: the checkpoint is of another architecture or variant.
    """
    logger = logger or MMLogger.get_current_instance()
    own = module.state_dict()
    name = type(module).__name__
    mismatched = [(k, tuple(v.shape), tuple(own[k].shape)) for k, v in state_dict.items()
                  if k in own and v.shape != own[k].shape]
    if mismatched:
        listed = '; '.join(f'{k}: checkpoint {a} vs model {b}' for k, a, b in mismatched[:10])
        more = f' (and {len(mismatched) - 10} more)' if len(mismatched) > 10 else ''
        shared = sum(k in own for k in state_dict)
        raise ValueError(
            f'{source} does not fit this {name}: {len(mismatched)} tensors have other shapes: '
            f'{listed}{more} ({shared} of the checkpoint\'s {len(state_dict)} keys exist in the '
            f'model). The checkpoint is of another architecture or variant; pick the checkpoint '
            f'of this arch (or the arch of this checkpoint).')
    if state_dict and not any(k in own for k in state_dict):
        raise ValueError(
            f'No key of {source} belongs to this {name} (checkpoint keys look like '
            f'{list(state_dict)[:3]}, the model\'s like {list(own)[:3]}). It is a checkpoint of '
            f'another model or key layout; tools/model_converters/ converts the timm/mmpretrain '
            f'layouts, and init_cfg.prefix selects a sub-module (e.g. prefix=\'backbone.\').')
    result = module.load_state_dict(state_dict, strict=False)
    ignore = tuple(ignore_missing)
    expected_missing = [k for k in result.missing_keys if ignore and k.startswith(ignore)]
    missing = [k for k in result.missing_keys if k not in expected_missing]
    loaded = len(state_dict) - len(result.unexpected_keys)
    logger.info(f'Loaded {loaded} tensors into {name} from {source}')
    if expected_missing:
        logger.info(f'Freshly initialised (not in the checkpoint, as expected): {expected_missing}')
    if missing:
        logger.warning(f'Missing keys in {source}: {missing}')
    if result.unexpected_keys:
        logger.warning(f'Unexpected keys in {source}: {result.unexpected_keys}')


def official_state_dict(pairs: Iterable[Tuple[str, str, torch.Tensor]], official_key: Pattern,
                        family: str) -> 'OrderedDict[str, torch.Tensor]':
    """The state dict a family's converter produces from ``(source key, official key, tensor)``
    triples, checked: every official key must match ``official_key`` and come from one source key.

    Raises:
        ValueError: the source keys with no official ``family`` counterpart (listed by name), or
            two source keys that map to the same official key.
    """
    converted: 'OrderedDict[str, torch.Tensor]' = OrderedDict()
    unknown = []
    for key, new_key, value in pairs:
        if not official_key.match(new_key):
            unknown.append(key)
            continue
        if new_key in converted:
            raise ValueError(
                f'Two keys map to the official key {new_key!r} (the second is {key!r})')
        converted[new_key] = value
    if unknown:
        raise ValueError(f'{len(unknown)} keys have no official {family} counterpart: {unknown}')
    return converted
