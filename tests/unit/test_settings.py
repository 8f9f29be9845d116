"""Settings: one definition, environment overrides, and a README table that matches it."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import SETTINGS_DOC, load_settings, without_password

README = Path(__file__).resolve().parents[2] / "README.md"


def test_environment_overrides_defaults_and_explicit_values_override_both():
    settings = load_settings({"web_port": 7000}, environ={"TAGSTREAM_WEB_PORT": "6500", "TAGSTREAM_CLOCK": "event"})
    assert settings.web_port == 7000
    assert settings.clock == "event"
    assert settings.partitions == 8


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"TAGSTREAM_PARTITIONS": "eight"}, "TAGSTREAM_PARTITIONS='eight' is not a valid int"),
        ({"TAGSTREAM_CLOCK": "wall"}, "clock must be 'live' or 'event'"),
        ({"TAGSTREAM_TOPIC_CLICKS": "orders"}, "topic names must be distinct"),
    ],
)
def test_bad_settings_are_refused_with_a_clear_message(environ, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        load_settings(environ=environ)


def test_readme_configuration_table_lists_every_setting_with_its_default():
    readme = README.read_text()
    for name, (variable, default, doc) in SETTINGS_DOC.items():
        shown = ("(empty)" if default == "" else ".local/worker" if name == "data_dir"
                 else str(default).lower() if isinstance(default, bool) else str(default))
        row = f"| `{variable}` | " + (shown if shown == "(empty)" else f"`{shown}`") + f" | {doc} |"
        assert row in readme, f"README configuration table lacks or misstates {variable}: expected {row!r}"


def test_readme_starts_with_the_two_commands():
    head = README.read_text().splitlines()[:6]
    assert any(line.startswith("make run") for line in head)
    assert any(line.startswith("make test") for line in head)


def test_a_boolean_setting_reads_the_usual_spellings_and_refuses_others():
    assert load_settings(environ={"TAGSTREAM_FAUST_WEB_ENDPOINTS": "true"}).faust_web_endpoints is True
    assert load_settings(environ={"TAGSTREAM_FAUST_WEB_ENDPOINTS": "0"}).faust_web_endpoints is False
    with pytest.raises(ValueError, match="TAGSTREAM_FAUST_WEB_ENDPOINTS='maybe' is not true or false"):
        load_settings(environ={"TAGSTREAM_FAUST_WEB_ENDPOINTS": "maybe"})


@pytest.mark.parametrize("url, shown", [
    ("redis://:hunter2@redis:6379/0", "redis://:***@redis:6379/0"),
    ("rediss://app:hunter2@cache.example.com/1", "rediss://app:***@cache.example.com/1"),
    ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
])
def test_a_printed_redis_url_never_shows_its_password(url, shown):
    assert without_password(url) == shown
