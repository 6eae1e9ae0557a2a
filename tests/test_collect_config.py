from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from usage.collect.config import (
    SETTINGS,
    AddressingStyle,
    Layout,
    Location,
    load_config,
)
from usage.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
RECORDS = {"USAGE_RECORDS_URL": "sqlite:///records.db"}


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "usage.toml"
    path.write_text(body)
    return path


def test_defaults_need_only_the_records_url(tmp_path: Path) -> None:
    config = load_config(environ=RECORDS, cwd=tmp_path)
    assert config.origin == "environment"
    assert config.records.url == "sqlite:///records.db"
    assert (config.records.table, config.records.bucket_column) == ("records", "bucket_id")
    assert config.records.query is None
    assert config.storage.layout is Layout.BUCKET_PER_CLIENT
    assert config.storage.endpoint_url is None  # boto3's own chain decides
    assert config.storage.locate("acme-corp") == Location("acme-corp", "")
    assert config.workers == 4


def test_the_example_file_is_a_valid_config(tmp_path: Path) -> None:
    shutil.copy(PROJECT_ROOT / "usage.example.toml", tmp_path / "usage.toml")
    config = load_config(environ={}, cwd=tmp_path)
    assert config.origin == str(tmp_path / "usage.toml")
    assert config.storage.locate("acme-corp") == Location("usage-acme-corp", "")


def test_usage_config_names_the_file_and_the_environment_wins(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[storage]\nlayout = "shared-bucket"\nbucket = "platform-data"\n'
        'prefix_template = "clients/{bucket_id}/"\naddressing_style = "path"\npage_size = 500\n'
        '[records]\nurl = "sqlite:///a.db"\nquery = "SELECT c, n FROM t WHERE b = :bucket_id"\n'
        "[collect]\nworkers = 8\n",
    )
    environ = {"USAGE_CONFIG": str(path), "USAGE_COLLECT_WORKERS": "2", "USAGE_RECORDS_URL": ""}
    config = load_config(environ=environ, cwd=Path("/nonexistent"))
    assert config.workers == 2  # from the environment
    assert config.records.url == "sqlite:///a.db"  # an empty variable is no override
    assert config.storage.locate("acme") == Location("platform-data", "clients/acme/")
    assert config.storage.addressing_style is AddressingStyle.PATH
    assert config.storage.page_size == 500


def test_every_setting_has_its_environment_variable() -> None:
    names = {setting.name: setting.env for setting in SETTINGS}
    assert names["storage.endpoint_url"] == "USAGE_STORAGE_ENDPOINT_URL"
    assert names["records.url"] == "USAGE_RECORDS_URL"
    assert names["collect.workers"] == "USAGE_COLLECT_WORKERS"
    documented = (PROJECT_ROOT / "docs" / "collection.md").read_text()
    example = (PROJECT_ROOT / "usage.example.toml").read_text()
    for setting in SETTINGS:
        assert f"`{setting.name}`" in documented
        assert setting.env in documented
        assert f"{setting.key} =" in example


@pytest.mark.parametrize(
    ("environ", "body", "message"),
    [
        ({}, "", "records.url is missing: set url in [records] of "),
        ({"USAGE_RECORDS_URL": "nonsense"}, "",
         "records.url must be a SQLAlchemy database URL (got 'nonsense' from USAGE_RECORDS_URL)"),
        ({"USAGE_RECORDS_URL": "nosuchdb://x/y"}, "",
         "records.url names an unknown database driver"),
        (RECORDS, "[storage]\nlayout = 'per-client'\n",
         "storage.layout must be one of: bucket-per-client, shared-bucket (got 'per-client' from "),
        (RECORDS, "[storage]\nlayout = 'shared-bucket'\n", "storage.bucket is missing: "),
        (RECORDS, "[storage]\nbucket_template = 'usage-{client}'\n",
         "storage.bucket_template must contain {bucket_id} and no other {field}"),
        (RECORDS, "[storage]\nprefix_template = 'clients/{bucket_id}'\n",
         "storage.prefix_template must end with '/' and not start with '/'"),
        (RECORDS, "[storage]\nbucket = 'Not_A_Bucket'\n",
         "storage.bucket must be an S3 bucket name"),
        (RECORDS, "[storage]\npage_size = 5000\n",
         "storage.page_size must be an integer from 1 to 1000"),
        (RECORDS, "[storage]\npage_size = true\n",
         "storage.page_size must be an integer from 1 to 1000"),
        ({**RECORDS, "USAGE_COLLECT_WORKERS": "four"}, "",
         "collect.workers must be an integer from 1 to 64 (got 'four' from USAGE_COLLECT_WORKERS)"),
        (RECORDS, "[storage]\ntimeout_seconds = 0\n",
         "storage.timeout_seconds must be a number of seconds from 1 to 3600"),
        (RECORDS, "[records]\nquery = 'SELECT collection, 1 FROM records'\n",
         "records.query must use the parameter :bucket_id"),
        (RECORDS, "[records]\ntable = 'records; DROP TABLE x'\n",
         "records.table must be a table name"),
        (RECORDS, "[records]\nbucket_column = 'bucket id'\n",
         "records.bucket_column must be a column name"),
        (RECORDS, "[storage]\nendpoint_url = ''\n",
         "storage.endpoint_url must be a non-empty string"),
        (RECORDS, "[storage]\nbucket_templat = 'x'\n", "unknown setting storage.bucket_templat;"),
        (RECORDS, "[s3]\nbucket = 'x'\n", "unknown section 's3'; expected: [storage], [records]"),
        (RECORDS, "[storage\n", "is not valid TOML: "),
        (RECORDS, "x = " + "[" * 5000 + "]" * 5000 + "\n", "is not valid TOML: nested too deeply"),
        (RECORDS, "storage = 5\n",
         "storage must be a section ([storage] and its settings below it), not a value"),
    ],
)  # fmt: skip
def test_a_wrong_setting_is_one_line_naming_it(
    tmp_path: Path, environ: dict[str, str], body: str, message: str
) -> None:
    write(tmp_path, body)
    with pytest.raises(ConfigError) as caught:
        load_config(environ=environ, cwd=tmp_path)
    text = str(caught.value)
    assert message in text
    assert "\n" not in text


@pytest.mark.parametrize("body", [b"[records]\nurl = 'caf\xe9'\n", b"\xff\xfe[\x00r\x00"])
def test_a_file_not_in_utf8_is_one_line_naming_it(tmp_path: Path, body: bytes) -> None:
    (tmp_path / "usage.toml").write_bytes(body)
    with pytest.raises(ConfigError) as caught:
        load_config(environ=RECORDS, cwd=tmp_path)
    assert str(caught.value).startswith(f"{tmp_path / 'usage.toml'} is not valid TOML: not UTF-8")


def test_usage_config_must_name_a_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^USAGE_CONFIG names no readable file: "):
        load_config(environ={"USAGE_CONFIG": str(tmp_path / "nope.toml"), **RECORDS})


def test_without_any_file_the_environment_is_enough(tmp_path: Path) -> None:
    environ = {
        **RECORDS,
        "USAGE_STORAGE_LAYOUT": "shared-bucket",
        "USAGE_STORAGE_BUCKET": "shared",
        "USAGE_STORAGE_ENDPOINT_URL": "http://127.0.0.1:9000",
        "USAGE_STORAGE_MAX_ATTEMPTS": "3",
    }
    config = load_config(environ=environ, cwd=tmp_path)
    assert config.storage.locate("globex") == Location("shared", "globex/")
    assert (config.storage.endpoint_url, config.storage.max_attempts) == (
        "http://127.0.0.1:9000",
        3,
    )
