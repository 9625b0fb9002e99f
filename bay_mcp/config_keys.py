"""Strict configuration keys: a key no setting has, found in a settings source or the
environment, and said for a person (where it was, the likely intended key, the keys
accepted there).

A source's unknown key stops the start (`ConfigError`, raised by `KnownKeysOnly`); an
unknown `BAY_*` environment variable is only warned about (`unknown_variables`), as the
environment holds other programs' variables too. The models whose fields are the
accepted keys come in as `SettingsKeys`, so this module needs nothing from settings.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import AliasChoices, BaseModel
from pydantic_settings import PydanticBaseSettingsSource


class ConfigError(ValueError):
    """A settings source holds a key no setting has, or cannot be read: the message
    names the key, where it was, the likely intended key and the keys accepted there."""


@dataclass(frozen=True)
class SettingsKeys:
    """The models whose fields are the accepted keys: the top level, its tables (a
    nested model under one key, e.g. `kubernetes`) and each item of `profiles`."""

    top: type[BaseModel]
    tables: Mapping[str, type[BaseModel]]
    profile: type[BaseModel]


def _close(name: str, names: list[str]) -> str | None:
    import difflib  # only when something is unknown: not on every start's import path

    found = difflib.get_close_matches(name, names, n=1, cutoff=0.85)
    return found[0] if found else None


def _suggestion(name: str, accepted: list[str], profile_keys: list[str] | None) -> str:
    """A close accepted key; outside a profile (`profile_keys` given), a profile's key
    is said to go in one."""
    close = _close(name.lower(), accepted)
    if close:
        return f" (did you mean {close!r}?)"
    close = _close(name.lower(), profile_keys) if profile_keys is not None else None
    if close:
        return f" ({close!r} is a profile's key: set it in a profile)"
    return ""


def _not_in(keys: Mapping[str, Any], accepted: list[str], lower: bool = False) -> list[str]:
    known = {key.lower() for key in accepted} if lower else set(accepted)
    return [key for key in keys if (key.lower() if lower else key) not in known]


def unknown_keys(
    values: Mapping[str, Any], where: str, keys: SettingsKeys, profiles_only: bool = False
) -> str:
    """What in `values` (a source's raw settings, from `where`) names no setting, said
    for a person: the key, its place, a close match, the keys accepted there; '' when
    all is known. The top level matches as pydantic-settings does (names and aliases,
    any case); profiles and tables match exactly, as their models do."""
    problems: list[str] = []
    profile_keys = list(keys.profile.model_fields)

    def check(found: Mapping[str, Any], model: type[BaseModel], place: str, lower: bool) -> None:
        accepted = list(model.model_fields)
        names = accepted + [alias.lower() for alias in _aliases(model)] if lower else accepted
        outside = None if model is keys.profile else profile_keys
        for key in _not_in(found, names, lower):
            hint = _suggestion(key, accepted, outside)
            problems.append(
                f"{where}{place}: unknown key {key!r}{hint}; accepted there: {', '.join(accepted)}."
            )

    if not profiles_only:
        check(values, keys.top, ", top level", lower=True)
        for table, model in keys.tables.items():
            found = values.get(table)
            if isinstance(found, Mapping):
                check(found, model, f", {table}", lower=False)
    profiles = values.get("profiles")
    if isinstance(profiles, list):
        for index, profile in enumerate(profiles):
            if isinstance(profile, Mapping):
                name = f" {profile['id']!r}" if isinstance(profile.get("id"), str) else ""
                check(profile, keys.profile, f", profile{name} (profiles[{index}])", lower=False)
    return " ".join(problems)


def _aliases(model: type[BaseModel]) -> list[str]:
    aliases: list[str] = []
    for field in model.model_fields.values():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            aliases += [choice for choice in alias.choices if isinstance(choice, str)]
        elif isinstance(alias, str):
            aliases.append(alias)
    return aliases


class KnownKeysOnly(PydanticBaseSettingsSource):
    """Another source's values, refused (ConfigError) when they hold an unknown key."""

    def __init__(
        self,
        source: PydanticBaseSettingsSource,
        where: str,
        keys: SettingsKeys,
        profiles_only: bool = False,
    ) -> None:
        super().__init__(source.settings_cls)
        self._source = source
        self._where = where
        self._keys = keys
        self._profiles_only = profiles_only

    def _set_current_state(self, state: dict[str, Any]) -> None:
        self._source._set_current_state(state)

    def _set_settings_sources_data(self, states: dict[str, dict[str, Any]]) -> None:
        self._source._set_settings_sources_data(states)

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._source.get_field_value(field, field_name)

    def __call__(self) -> dict[str, Any]:
        values = self._source()
        problems = unknown_keys(values, self._where, self._keys, self._profiles_only)
        if problems:
            raise ConfigError(problems)
        return values

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._source!r})"


# BAY_* variables that are no setting but are read by Bay's own scripts and tests
# (scripts/test, scripts/ensure-docker, tests/databases.py, …): never warned about.
_TOOL_VARIABLES = frozenset(
    {"BAY_CONFIG_FILE", "BAY_VENV", "BAY_DOCKERD_LOG", "BAY_DOCKER_WAIT_S", "BAY_IMAGE_BUILD"}
)
_TOOL_PREFIXES = ("BAY_TEST_", "BAY_BENCH_", "BAY_UPDATE_")


def _environment_names(model: type[BaseModel], prefix: str) -> tuple[set[str], set[str]]:
    """The variables that set `model`'s fields, and the prefixes of those that set one
    key of a mapping (BAY_KUBERNETES__BAY_POD_LABELS__APP)."""
    names: set[str] = set()
    prefixes: set[str] = set()
    for field_name, field in model.model_fields.items():
        name = f"{prefix}{field_name.upper()}"
        names.add(name)
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            nested_names, nested_prefixes = _environment_names(annotation, name + "__")
            names |= nested_names
            prefixes |= nested_prefixes
        elif getattr(annotation, "__origin__", None) is dict:
            prefixes.add(name + "__")
    names |= {alias.upper() for alias in _aliases(model) if alias.upper().startswith(prefix)}
    return names, prefixes


def unknown_variables(environ: Mapping[str, str], keys: SettingsKeys) -> list[str]:
    """One warning per `BAY_*` variable in `environ` that names no setting of `keys.top`
    (any case, as settings are read), with the likely intended one when a name is close."""
    names, prefixes = _environment_names(keys.top, "BAY_")
    warnings: list[str] = []
    for variable in sorted(environ):
        upper = variable.upper()
        if not upper.startswith("BAY_") or upper in names or upper in _TOOL_VARIABLES:
            continue
        if upper.startswith(_TOOL_PREFIXES) or upper.startswith(tuple(prefixes)):
            continue
        close = _close(upper, sorted(names))
        hint = f"; did you mean {close}?" if close else ""
        if not close and upper.removeprefix("BAY_").lower() in keys.profile.model_fields:
            hint = "; it is a profile's setting: set it in BAY_PROFILES or the config file"
        warnings.append(f"the environment variable {variable} names no setting, ignored{hint}")
    return warnings
