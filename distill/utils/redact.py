"""Keep secrets (API keys, hub tokens, passwords) out of printed, saved and logged configs and logs.

A secret is:

* the value of a secret environment variable (:data:`SECRET_ENV_VARS`: ``WANDB_API_KEY``,
  ``HF_TOKEN``, ...), wherever it turns up (``hub.token: ${oc.env:HF_TOKEN}`` resolves to one);
* the value of a config key whose name looks like a secret (:func:`is_secret_key`: ``token``,
  ``api_key``, ``secret``, ``password``, ``credentials``, ``auth``, ... as a whole part of the name,
  so ``logger.wandb.api_key`` and ``+hub.token=...`` are secret, ``tokenizer`` and ``author`` not).

Each is replaced by :data:`REDACTED`. The console scripts collect the secrets of their config once
(:func:`known_secrets`), rewrite the files Hydra saved before the task ran
(:func:`redact_hydra_output`), scrub ``sys.argv`` (which W&B and the model card record) and put a
:class:`SecretFilter` on every logging handler (:func:`install_secret_filter`).

Example:
    >>> for logger in loggers:
    ...     logger.log_hyperparams(redacted_container(cfg))  # resolved, secrets masked
"""

from __future__ import annotations

import itertools
import logging
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from distill.utils.atomic import write_text_atomic
from distill.utils.config import leaf_values

REDACTED = "***"
SECRET_ENV_VARS = ("WANDB_API_KEY", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_API_TOKEN")
# Name parts that make a key secret; matched against whole parts of the name (split on `_ - .` and
# camelCase), so that `tokenizer`, `max_tokens` or `author` stay visible.
_SECRET_PARTS = frozenset(
    {
        "token",
        "apikey",
        "secret",
        "secrets",
        "password",
        "passwords",
        "passwd",
        "credential",
        "credentials",
        "auth",
    }
)
_PARTS = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
# A secret shorter than this is only masked where it is a whole value, never inside longer text
# (masking every "ab" in a log would garble it and reveal nothing).
MIN_SECRET_LEN = 4
# `key=value` command-line overrides (Hydra's `+key`, `++key`, `~key`, `key@pkg` forms).
_OVERRIDE = re.compile(r"^(?P<key>[+~]{0,2}[\w.\-/]+(?:@[\w.\-/]*)?)=(?P<value>.*)$", re.DOTALL)
# A comma that starts the next `key=value` of a joined list (not one inside `[a,b]`).
_JOINED = re.compile(r",(?=[+~]{0,2}[\w.\-/]+(?:@[\w.\-/]*)?=)")
# An unresolved value that only points at an environment variable holds no secret itself.
_ENV_REF = re.compile(r"^\$\{oc\.env:[A-Za-z_][A-Za-z0-9_]*\}$")


def is_secret_key(name: str) -> bool:
    """Whether a config key (or dotted path) names a secret: ``api_key``, ``hub.token``, ``WANDB_API_KEY``."""
    last = str(name).lstrip("+~").split("@")[0].rsplit(".", 1)[-1]
    parts = [p.lower() for p in _PARTS.findall(last)]
    if any(p in _SECRET_PARTS for p in parts):
        return True
    return any(a == "api" and b == "key" for a, b in itertools.pairwise(parts))


def secret_env_values(environ: Mapping[str, str] | None = None) -> set[str]:
    """The non-empty values of the secret environment variables."""
    env = os.environ if environ is None else environ
    return {v for k in SECRET_ENV_VARS if (v := env.get(k, "").strip())}


def _to_container(cfg: Any, resolve: bool) -> Any:
    if not isinstance(cfg, DictConfig | ListConfig):
        return cfg
    if resolve:
        try:
            return OmegaConf.to_container(cfg, resolve=True)
        except Exception:  # an interpolation that cannot resolve here: its secrets stay unresolved
            pass
    return OmegaConf.to_container(cfg, resolve=False)


def _secret_scalar(value: Any) -> bool:
    return value is not None and not isinstance(value, bool) and str(value) != ""


def config_secrets(cfg: Any) -> set[str]:
    """The values of every secret-looking key in ``cfg`` (resolved where possible), as strings."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):
            for k, v in node.items():
                if is_secret_key(str(k)):
                    found.update(str(s) for s in leaf_values(v) if _secret_scalar(s))
                else:
                    walk(v)
        elif isinstance(node, list | tuple):
            for v in node:
                walk(v)

    walk(_to_container(cfg, resolve=True))
    return {s for s in found if not _ENV_REF.match(s)}


def known_secrets(cfg: Any = None, environ: Mapping[str, str] | None = None) -> set[str]:
    """The secret environment values plus the values of ``cfg``'s secret keys."""
    return secret_env_values(environ) | (config_secrets(cfg) if cfg is not None else set())


def redact_text(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of a secret (at least :data:`MIN_SECRET_LEN` long) masked."""
    # Longest first, so a secret that contains another is masked whole.
    for s in sorted((s for s in secrets if len(s) >= MIN_SECRET_LEN), key=len, reverse=True):
        text = text.replace(s, REDACTED)
    return text


def redact_override(arg: str, secrets: Iterable[str] = ()) -> str:
    """A command-line argument with a secret value masked: ``+hub.token=abc`` -> ``+hub.token=***``."""
    # Hydra's `override_dirname` joins the overrides with commas: mask each one.
    parts = _JOINED.split(arg)
    if len(parts) > 1:
        return ",".join(redact_override(p, secrets) for p in parts)
    m = _OVERRIDE.match(arg)
    if m and is_secret_key(m["key"]) and m["value"] and not _ENV_REF.match(m["value"]):
        return f"{m['key']}={REDACTED}"
    return redact_text(arg, secrets)


def redact_argv(argv: Iterable[str], secrets: Iterable[str] = ()) -> list[str]:
    """Every argument of a command line through :func:`redact_override`."""
    secrets = set(secrets)
    return [redact_override(a, secrets) for a in argv]


def redact_obj(value: Any, secrets: Iterable[str] = (), *, overrides: bool = False) -> Any:
    """A plain container (dicts, lists, scalars) with secret keys' values and known secrets masked.

    Args:
        value: What to redact; it is not modified.
        secrets: Known secret values: masked wherever they occur (whole values always, inside longer
            strings when at least :data:`MIN_SECRET_LEN` long).
        overrides: Also read strings as ``key=value`` overrides (Hydra's ``overrides.yaml``).
    """
    secrets = set(secrets)

    def scalar(v: Any) -> Any:
        if isinstance(v, str):
            if v in secrets:
                return REDACTED
            return redact_override(v, secrets) if overrides else redact_text(v, secrets)
        if _secret_scalar(v) and str(v) in secrets:
            return REDACTED
        return v

    def walk(v: Any, secret: bool) -> Any:
        if isinstance(v, Mapping):
            return {k: walk(x, secret or is_secret_key(str(k))) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [walk(x, secret) for x in v]
        if secret and _secret_scalar(v) and not (isinstance(v, str) and _ENV_REF.match(v)):
            return REDACTED
        return scalar(v)

    return walk(value, False)


def redacted_container(cfg: Any, *, resolve: bool = True, secrets: Iterable[str] | None = None) -> Any:
    """``OmegaConf.to_container(cfg, resolve=resolve)`` with every secret masked (see the module).

    What the loggers get as hyperparameters and what the console prints. Unresolved
    (``resolve=False``), a ``${oc.env:HF_TOKEN}`` reference is kept as written: it holds no secret.

    Args:
        cfg: A config (or a plain container).
        resolve: Resolve interpolations first.
        secrets: Known secret values; default :func:`known_secrets` of ``cfg`` and the environment.
    """
    known = known_secrets(cfg) if secrets is None else set(secrets)
    return redact_obj(_to_container(cfg, resolve), known)


def redacted_yaml(cfg: Any, *, resolve: bool = False, secrets: Iterable[str] | None = None) -> str:
    """``cfg`` as YAML with its secrets masked (``config.yaml`` of a run, the printed config)."""
    return OmegaConf.to_yaml(OmegaConf.create(redacted_container(cfg, resolve=resolve, secrets=secrets)))


def redact_yaml_file(
    path: str | os.PathLike[str], secrets: Iterable[str], *, overrides: bool = False
) -> bool:
    """Rewrite a saved YAML config (or override list) with its secrets masked, atomically.

    Returns:
        Whether the file changed.
    """
    path = Path(path)
    if not path.is_file():
        return False
    before = path.read_text(encoding="utf-8")
    loaded = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    clean = redact_obj(loaded, secrets, overrides=overrides)
    if clean == loaded and redact_text(before, secrets) == before:
        return False
    write_text_atomic(path, redact_text(OmegaConf.to_yaml(OmegaConf.create(clean)), secrets))
    return True


HYDRA_FILES = {"config.yaml": False, "hydra.yaml": True, "overrides.yaml": True}


def redact_hydra_output(secrets: Iterable[str]) -> list[Path]:
    """Mask secrets in the files Hydra wrote before the task ran; returns those it rewrote.

    ``<run dir>/<hydra.output_subdir>/{config,hydra,overrides}.yaml`` (the overrides hold the command
    line), and in a multirun the sweep's ``multirun.yaml``. Does nothing outside a Hydra app.
    """
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return []
    hc = HydraConfig.get()
    secrets = set(secrets)
    files: list[tuple[Path, bool]] = []
    if hc.output_subdir is not None:
        folder = Path(hc.runtime.output_dir) / str(hc.output_subdir)
        files += [(folder / name, ov) for name, ov in HYDRA_FILES.items()]
    if hc.mode == RunMode.MULTIRUN:
        files.append((Path(hc.sweep.dir) / "multirun.yaml", True))
    return [p for p, ov in files if redact_yaml_file(p, secrets, overrides=ov)]


class SecretFilter(logging.Filter):
    """A logging filter that masks known secret values in every record it sees (never drops one)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets: set[str] = set()
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        """Mask these values too."""
        self.secrets |= {s for s in secrets if len(s) >= MIN_SECRET_LEN}

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to the handler to report
            return True
        clean = redact_text(message, self.secrets)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text, self.secrets)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info, self.secrets)
        return True


def _handlers() -> Iterable[logging.Handler]:
    yield from logging.getLogger().handlers
    for logger in list(logging.Logger.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger):
            yield from logger.handlers


def install_secret_filter(secrets: Iterable[str]) -> SecretFilter:
    """Put one :class:`SecretFilter` on every handler now configured (the root's and any other's).

    A second call adds its secrets to the filter already installed.
    """
    secret_filter = (
        next((f for h in _handlers() for f in h.filters if isinstance(f, SecretFilter)), None)
        or SecretFilter()
    )
    secret_filter.add(secrets)
    for handler in _handlers():
        if secret_filter not in handler.filters:
            handler.addFilter(secret_filter)
    return secret_filter
