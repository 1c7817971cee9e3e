"""Settings: where each value comes from, and one clear message for each wrong one."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.config import load_settings
from shipyard.errors import InvalidConfig


def test_defaults_live_in_the_home(tmp_path: Path) -> None:
    settings = load_settings(env={}, cwd=tmp_path)
    home = tmp_path / ".shipyard"
    assert settings.home == home
    assert settings.metadata_url == f"sqlite:///{home / 'metadata.db'}"
    assert settings.artifact_url == str(home / "artifacts")
    assert settings.online_url == f"sqlite:///{home / 'online.db'}"
    assert settings.is_embedded and settings.principal


def test_environment_beats_file_and_arguments_beat_environment(tmp_path: Path) -> None:
    (tmp_path / "shipyard.toml").write_text(
        'home = "from-file"\nprincipal = "file-user"\nartifact_url = "memory://file"\n'
    )
    env = {"SHIPYARD_HOME": str(tmp_path / "from-env"), "SHIPYARD_PRINCIPAL": "env-user"}
    settings = load_settings(env=env, cwd=tmp_path, principal="arg-user")
    assert settings.home == tmp_path / "from-env"
    assert settings.principal == "arg-user"
    assert settings.artifact_url == "memory://file"
    assert settings.config_file == tmp_path / "shipyard.toml"


def test_relative_paths_in_the_file_are_relative_to_the_file(tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "team.toml").write_text('home = "ws"\nmetadata_url = "sqlite:///meta.db"\n')
    other = tmp_path / "elsewhere"
    other.mkdir()
    settings = load_settings(env={"SHIPYARD_CONFIG": str(conf / "team.toml")}, cwd=other)
    assert settings.home == conf / "ws"
    assert settings.metadata_url == f"sqlite:///{conf / 'meta.db'}"


def test_a_file_in_the_home_is_read(tmp_path: Path) -> None:
    home = tmp_path / "h"
    home.mkdir()
    (home / "shipyard.toml").write_text('principal = "homey"\n')
    assert load_settings(home, env={}, cwd=tmp_path).principal == "homey"


def test_postgres_urls_are_normalised_to_psycopg3(tmp_path: Path) -> None:
    for given in ["postgresql://u:p@h/db", "postgres://u:p@h/db", "postgresql+psycopg://u:p@h/db"]:
        settings = load_settings(env={"SHIPYARD_METADATA_URL": given}, cwd=tmp_path)
        assert settings.metadata_url == "postgresql+psycopg://u:p@h/db"
        assert not settings.is_embedded


def test_memory_and_object_store_urls_are_accepted(tmp_path: Path) -> None:
    settings = load_settings(
        env={"SHIPYARD_METADATA_URL": "sqlite://", "SHIPYARD_ARTIFACT_URL": "s3://bucket/p"},
        cwd=tmp_path,
    )
    assert settings.metadata_url == "sqlite://"
    assert settings.artifact_url == "s3://bucket/p"


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"SHIPYARD_METADATA_URL": "mysql://x/y"}, "SHIPYARD_METADATA_URL has unknown URL scheme"),
        ({"SHIPYARD_METADATA_URL": "just-a-path.db"}, "(none)"),
        ({"SHIPYARD_ARTIFACT_URL": "nosuchfs://b/p"}, "SHIPYARD_ARTIFACT_URL has unknown URL"),
        ({"SHIPYARD_ONLINE_URL": "memcached://h"}, "SHIPYARD_ONLINE_URL has unknown URL scheme"),
        ({"SHIPYARD_CONFIG": "missing.toml"}, "not a file"),
    ],
)
def test_bad_environment_values_name_the_setting(
    tmp_path: Path, env: dict[str, str], fragment: str
) -> None:
    with pytest.raises(InvalidConfig) as info:
        load_settings(env=env, cwd=tmp_path)
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("home = [", "not valid TOML"),
        ('colour = "blue"\n', "unknown key(s) 'colour'"),
        ("metadata_url = 42\n", "must be a URL string, got 42"),
        ('online_url = "ftp://x"\n', "'online_url' in"),
    ],
)
def test_bad_files_name_the_file_and_the_key(tmp_path: Path, text: str, fragment: str) -> None:
    (tmp_path / "shipyard.toml").write_text(text)
    with pytest.raises(InvalidConfig) as info:
        load_settings(env={}, cwd=tmp_path)
    assert fragment in str(info.value)
    assert str(tmp_path / "shipyard.toml") in str(info.value)


def test_unknown_overrides_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidConfig, match="Unknown setting 'metadata'"):
        load_settings(env={}, cwd=tmp_path, metadata="sqlite://")
