"""Secrets are masked in configs, command lines, saved YAML and log records."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from distill.cli import print_config, warn_trust_remote_code
from distill.utils.redact import (
    REDACTED,
    SecretFilter,
    install_secret_filter,
    is_secret_key,
    known_secrets,
    redact_argv,
    redact_text,
    redact_yaml_file,
    redacted_container,
    redacted_yaml,
)

TOKEN = "hf_secret123"


@pytest.fixture
def env_token(monkeypatch: pytest.MonkeyPatch) -> str:
    for name in ("WANDB_API_KEY", "HUGGING_FACE_HUB_TOKEN", "HF_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    return TOKEN


@pytest.mark.parametrize(
    "key",
    [
        "api_key",
        "logger.wandb.api_key",
        "+hub.token",
        "apiKey",
        "WANDB_API_KEY",
        "hf_token",
        "password",
        "passwd",
        "db.credentials",
        "auth",
        "client_secret",
        "APIKEY",
    ],
)
def test_secret_keys(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize("key", ["tokenizer", "max_tokens", "author", "monitor", "keys", "api", "model"])
def test_ordinary_keys(key: str) -> None:
    assert not is_secret_key(key)


def test_redacted_container_masks_keys_and_env_values(env_token: str) -> None:
    cfg = OmegaConf.create(
        {
            "logger": {"wandb": {"api_key": "abc123456", "project": "x"}},
            "hub": {"token": "${oc.env:HF_TOKEN}"},
            "notes": "${oc.env:HF_TOKEN}",
            "message": f"uses {env_token} inside",
            "creds": {"credentials": {"user": "me", "port": 22}},
            "auth": None,
            "tokenizer": "bert",
            "seed": 42,
        }
    )
    out = redacted_container(cfg)
    assert out["logger"]["wandb"] == {"api_key": REDACTED, "project": "x"}
    assert out["hub"]["token"] == REDACTED and out["notes"] == REDACTED
    assert out["message"] == f"uses {REDACTED} inside"
    assert out["creds"]["credentials"] == {"user": REDACTED, "port": REDACTED}
    assert out["auth"] is None and out["tokenizer"] == "bert" and out["seed"] == 42
    # Unresolved, an environment reference is kept as written (it holds no secret); literals go.
    raw = redacted_container(cfg, resolve=False)
    assert raw["hub"]["token"] == "${oc.env:HF_TOKEN}" and raw["logger"]["wandb"]["api_key"] == REDACTED
    text = redacted_yaml(cfg) + redacted_yaml(cfg, resolve=True)
    assert env_token not in text and "abc123456" not in text
    assert cfg.logger.wandb.api_key == "abc123456"  # the config itself is untouched


def test_known_secrets_and_text(env_token: str) -> None:
    cfg = OmegaConf.create({"a": {"token": "literal-1"}, "b": "${oc.env:HF_TOKEN}"})
    assert known_secrets(cfg) == {env_token, "literal-1"}
    assert redact_text(f"x {env_token} y literal-1", known_secrets(cfg)) == "x *** y ***"
    assert redact_text("ab abc", {"ab"}) == "ab abc"  # too short to mask inside text


def test_redact_argv(env_token: str) -> None:
    argv = [
        "/bin/distill-run",
        "+logger_token=abc",
        "++hub.token=${oc.env:HF_TOKEN}",
        f"x={env_token}",
        "logger=[wandb,csv]",
        "a=1,+b.api_key=zz,c=[1,2]",
    ]
    assert redact_argv(argv, {env_token}) == [
        "/bin/distill-run",
        "+logger_token=***",
        "++hub.token=${oc.env:HF_TOKEN}",
        "x=***",
        "logger=[wandb,csv]",
        "a=1,+b.api_key=***,c=[1,2]",
    ]


def test_redact_yaml_files(tmp_path: Path, env_token: str) -> None:
    overrides = tmp_path / "overrides.yaml"
    overrides.write_text(f"- debug=tiny\n- +logger_token=lit-9999\n- +x={env_token}\n")
    hydra = tmp_path / "hydra.yaml"
    hydra.write_text(
        "hydra:\n  job:\n    override_dirname: +logger_token=lit-9999,debug=tiny\n"
        "    env_set:\n      WANDB_API_KEY: wandb-key-1\n  run:\n    dir: outputs/${now:%H}\n"
    )
    secrets = {env_token, "lit-9999"}
    assert redact_yaml_file(overrides, secrets, overrides=True)
    assert redact_yaml_file(hydra, secrets, overrides=True)
    assert not redact_yaml_file(hydra, secrets, overrides=True)  # nothing left to mask
    assert not redact_yaml_file(tmp_path / "missing.yaml", secrets)
    assert OmegaConf.load(overrides) == ["debug=tiny", "+logger_token=***", "+x=***"]
    saved = OmegaConf.load(hydra).hydra
    assert saved.job.override_dirname == "+logger_token=***,debug=tiny"
    assert saved.job.env_set.WANDB_API_KEY == REDACTED
    assert OmegaConf.to_container(saved.run)["dir"] == "outputs/${now:%H}"  # interpolations kept


def test_secret_filter_masks_messages_args_and_tracebacks() -> None:
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    handler = Collect()
    handler.addFilter(SecretFilter({TOKEN}))
    logger = logging.getLogger("test_redact.filter")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("token %s and %d", TOKEN, 3)
        logger.warning(f"inline {TOKEN}")
        try:
            raise ValueError(f"bad {TOKEN}")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    assert records[:2] == ["token *** and 3", "inline ***"]
    assert "ValueError: bad ***" in records[2] and all(TOKEN not in r for r in records)


def test_install_secret_filter_covers_every_handler_once() -> None:
    handler = logging.StreamHandler()
    other = logging.getLogger("test_redact.install")
    other.addHandler(handler)
    try:
        first = install_secret_filter({"first-secret"})
        again = install_secret_filter({"second-secret"})
        assert first is again and {"first-secret", "second-secret"} <= again.secrets
        assert handler.filters.count(first) == 1
        assert all(first in h.filters for h in logging.getLogger().handlers)
    finally:
        other.removeHandler(handler)
        for h in logging.getLogger().handlers:
            h.removeFilter(first)


def test_print_config_is_redacted(capsys: pytest.CaptureFixture[str], env_token: str) -> None:
    print_config(
        OmegaConf.create({"hub": {"token": "${oc.env:HF_TOKEN}"}, "key": "literal-77", "api_key": "k-88"})
    )
    out = capsys.readouterr().out
    assert env_token not in out and "k-88" not in out and "literal-77" in out


def test_trust_remote_code_true_is_named(caplog: pytest.LogCaptureFixture) -> None:
    cfg = OmegaConf.create({"teacher": {"trust_remote_code": True}, "student": {"trust_remote_code": False}})
    with caplog.at_level(logging.WARNING, logger="distill"):
        assert warn_trust_remote_code(cfg) == ["teacher.trust_remote_code"]
    assert "teacher.trust_remote_code=true" in caplog.text
