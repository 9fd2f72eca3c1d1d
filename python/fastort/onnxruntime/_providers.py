"""onnxruntime's rules for the `providers` and `provider_options` of a session."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Union

from .._runtime import available_providers
from ._errors import InvalidArgument
from ._functions import get_all_providers

__all__ = ["CPU", "ProviderArg", "check_and_normalize_provider_args", "normalized_providers"]

ProviderArg = Union[str, tuple[str, Mapping[Any, Any]]]

CPU = "CPUExecutionProvider"
_CPU_OPTIONS = {"use_arena"}


def _provider_pairs(
    providers: Sequence[ProviderArg], provider_options: Sequence[Mapping[Any, Any]] | None
) -> list[tuple[Any, Any]]:
    """onnxruntime's forms: names or (name, options) pairs, or names with a parallel list of
    options, as (name, options) pairs."""
    if not isinstance(providers, Sequence) or isinstance(providers, str):
        raise InvalidArgument("'providers' should be a sequence.")
    if provider_options is not None:
        if not isinstance(provider_options, Sequence) or len(providers) != len(provider_options):
            raise InvalidArgument(
                "'providers' and 'provider_options' should be the same length if both are given."
            )
        if not all(isinstance(name, str) for name in providers):
            raise InvalidArgument(
                "Only string values for 'providers' are supported if 'provider_options' is given."
            )
        if not all(isinstance(options, dict) for options in provider_options):
            raise InvalidArgument("'provider_options' values must be dicts.")
        return list(zip(providers, provider_options))
    pairs: list[tuple[Any, Any]] = []
    for provider in providers:
        if isinstance(provider, str):
            pairs.append((provider, {}))
        elif (
            isinstance(provider, tuple)
            and len(provider) == 2
            and isinstance(provider[0], str)
            and isinstance(provider[1], dict)
        ):
            pairs.append(provider)
        else:
            raise InvalidArgument(
                "'providers' values must be either strings or (string, dict) tuples."
            )
    return pairs


def _unavailable(name: str, available: Sequence[str]) -> None:
    warnings.warn(
        f"Specified provider '{name}' is not in available provider names."
        f"Available providers: '{', '.join(available)}'",
        stacklevel=4,
    )


def normalized_providers(
    providers: Sequence[ProviderArg] | None,
    provider_options: Sequence[Mapping[Any, Any]] | None,
    fallback: bool,
) -> list[tuple[str, dict[str, str]]]:
    """onnxruntime's rules (see _provider_pairs); a provider this runtime lacks is left out
    with a warning, as is a repeated one. A name that is no provider at all is also an error
    unless `fallback` (onnxruntime's set_providers, and sessions made with enable_fallback=0,
    fail; other sessions fall back to the CPU)."""
    if providers is None:
        return []
    pairs = _provider_pairs(providers, provider_options)
    available = available_providers()
    result: dict[str, dict[str, str]] = {}
    for name, options in pairs:
        if name not in available:
            _unavailable(name, available)
            if not fallback and name not in get_all_providers():
                raise InvalidArgument(f"Unknown Provider Type: {name}")
        elif name in result:
            warnings.warn(f"Duplicate provider '{name}' encountered, ignoring.", stacklevel=4)
        else:
            result[name] = {str(key): str(value) for key, value in options.items()}
            if name == CPU:
                # ONNX Runtime's CPU provider ignores options it does not know.
                result[name] = {k: v for k, v in result[name].items() if k in _CPU_OPTIONS}
    return list(result.items())


def check_and_normalize_provider_args(
    providers: Sequence[ProviderArg] | None,
    provider_options: Sequence[Mapping[Any, Any]] | None,
    available_provider_names: Sequence[str],
) -> tuple[list[str], list[dict[str, str]]]:
    """onnxruntime's helper of the same name: the providers as a list of names and a parallel
    list of options (keys and values as str). A name not in `available_provider_names` is
    kept with a warning; a repeated one is dropped with a warning. ValueError for arguments of
    the wrong form."""
    if providers is None:
        return [], []
    names: list[str] = []
    options_list: list[dict[str, str]] = []
    for name, options in _provider_pairs(providers, provider_options):
        if name not in available_provider_names:
            _unavailable(name, available_provider_names)
        if name in names:
            warnings.warn(f"Duplicate provider '{name}' encountered, ignoring.", stacklevel=2)
            continue
        names.append(name)
        options_list.append({str(key): str(value) for key, value in options.items()})
    return names, options_list
