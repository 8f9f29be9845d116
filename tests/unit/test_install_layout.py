"""What an installed tagstream finds and where it writes: its version, the demo log shipped in
the package, and local files under the working directory or $XDG_STATE_HOME, never beside the
installed packages."""

from __future__ import annotations

from agents import cli
from agents.commands.demo import SAMPLE
from config.settings import ROOT, state_dir


def test_version_is_the_installed_distributions(capsys):
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"tagstream {cli.installed_version()}"
    assert cli.installed_version()[0].isdigit()


def test_the_demo_log_ships_inside_a_package():
    assert SAMPLE.is_file()
    assert SAMPLE.parent.parent == ROOT / "agents"  # inside `agents`, which maturin packages with its data files


def test_local_files_go_under_xdg_state_home_or_the_working_directory(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert state_dir() == tmp_path / "state" / "tagstream"
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.chdir(tmp_path)
    assert state_dir() == tmp_path / ".local"


def _pinned(lock: str) -> dict[str, str]:
    found = {}
    for line in (ROOT / lock).read_text().splitlines():
        if "==" in line and not line.startswith((" ", "#")):
            name, version = line.split(" ")[0].split("==")
            found[name.lower().replace("_", "-")] = version
    return found


def test_the_locks_pin_every_declared_dependency_to_a_version_it_allows():
    import tomllib

    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = [Requirement(text) for text in project["dependencies"]]
    test = runtime + [Requirement(text) for text in project["optional-dependencies"]["test"]]
    for lock, wanted in (("requirements.lock", runtime), ("requirements-test.lock", test)):
        pinned = _pinned(lock)
        for requirement in wanted:
            name = requirement.name.lower().replace("_", "-")
            assert name in pinned, f"{lock} lacks {name}: run scripts/lock.sh"
            assert requirement.specifier.contains(pinned[name]), f"{lock} pins {name}=={pinned[name]}, pyproject wants {requirement}"
