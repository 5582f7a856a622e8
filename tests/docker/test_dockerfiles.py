"""Static checks of the container files (no Docker engine runs here): parse with the official
Dockerfile parser and check the rules we rely on."""

from __future__ import annotations

from pathlib import Path

import pytest

dockerfile = pytest.importorskip("dockerfile", reason="the 'dockerfile' parser package is not installed")

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted((ROOT / "docker").glob("Dockerfile*"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_dockerfile_is_valid_and_follows_rules(path: Path) -> None:
    commands = dockerfile.parse_file(str(path))
    names = [c.cmd.upper() for c in commands]
    assert names[0] == "FROM"
    assert "latest" not in commands[0].value[0], "pin the base image"
    assert names[-1] == "CMD" and list(commands[-1].value) == ["xactor", "serve"]
    assert "HEALTHCHECK" in names and "EXPOSE" in names
    user = [c for c in commands if c.cmd.upper() == "USER"]
    assert user and user[-1].value[0] != "root", "run as a non-root user"
    runs = " ".join(" ".join(c.value) for c in commands if c.cmd.upper() == "RUN")
    assert "torch==2.13.0" in runs and "constraints.txt" in runs
    assert "rm -rf /var/lib/apt/lists" in runs
    for copied in (c.value[0] for c in commands if c.cmd.upper() == "COPY"):
        for part in copied.split():
            assert (ROOT / part).exists() or part.endswith("/") or part == ".", f"COPY of missing {part}"


def test_dockerignore_keeps_secrets_and_venv_out() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".venv" in ignored and ".git" in ignored and "data" in ignored


def test_compose_file_runs_the_server_with_a_turn_relay() -> None:
    """docker/compose.yaml: xactor + coturn; the ICE servers it gives xactor parse as settings,
    with the TURN credentials coturn is started with."""
    import re

    yaml = pytest.importorskip("yaml")
    compose = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"xactor", "coturn"}
    assert "3478:3478/udp" in services["coturn"]["ports"] and "8000:8000" in services["xactor"]["ports"]
    assert services["xactor"]["build"]["dockerfile"] == "docker/Dockerfile"
    env = {"PUBLIC_IP": "203.0.113.7", "TURN_USER": "u", "TURN_PASSWORD": "p"}

    def substitute(text: str) -> str:  # compose's ${VAR}, ${VAR:-default}, ${VAR:?error}
        return re.sub(r"\$\{(\w+)(?::[-?][^}]*)?\}", lambda m: env[m.group(1)], text)

    from xactor.server.settings import Settings

    raw = substitute(services["xactor"]["environment"]["XACTOR_ICE_SERVERS"])
    settings = Settings.model_validate({"ice_servers": __import__("json").loads(raw)})
    (server,) = settings.ice_servers
    assert server.urls[0] == "turn:203.0.113.7:3478?transport=udp" and server.username == "u"
    user = next(a for a in services["coturn"]["command"] if a.startswith("--user="))
    assert substitute(user) == "--user=u:p" and server.credential == "p"
