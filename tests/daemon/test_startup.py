"""The start-up checks ``run`` and ``check-config`` share (:mod:`smppcore.startup`)."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from smppcore.config import Config, load_config
from smppcore.gateway.privacy import open_configured_store
from smppcore.startup import StartupError, assemble, dry_run

from .test_config import PRODUCTION_ENV, REPO, production_example

LOCAL = REPO / "configs" / "local.toml"


def local_config(tmp_path: Path, edit: tuple[str, str] = ("", "")) -> Config:
    """configs/local.toml with ``edit`` (old, new) applied, its data dir in ``tmp_path``."""
    text = LOCAL.read_text()
    if edit[0]:
        assert edit[0] in text
        text = text.replace(edit[0], edit[1], 1)
    path = tmp_path / "smppcore.toml"
    path.write_text(text)
    return load_config(path, data_dir=tmp_path / "data", environ={})


async def test_the_local_config_passes_without_touching_its_data_dir(tmp_path: Path) -> None:
    with trio.fail_after(30):
        await dry_run(local_config(tmp_path))
    assert not (tmp_path / "data").exists()


async def test_the_production_example_passes(tmp_path: Path) -> None:
    """Three smpp connectors (one with a TLS CA file), a TLS listener, a Redis store: built
    over the scratch store, no Redis needed."""
    config = load_config(
        production_example(tmp_path), data_dir=tmp_path / "d", environ=PRODUCTION_ENV
    )
    with trio.fail_after(30):
        await dry_run(config)


@pytest.mark.parametrize(
    ("edit", "component", "why"),
    [
        (('type = "smpp"', 'type = "nope"'), "connector sim", "unknown type 'nope'"),
        (
            ("reconnect_max = 10\n",
             "reconnect_max = 10\n[connectors.options]\npoll_intervall = 1\n"),
            "connector sim",
            "unknown option 'poll_intervall'",
        ),
        (
            ("window = 10\n", 'window = 10\ntls_cert = "junk.pem"\ntls_key = "junk.pem"\n'),
            "listener local",
            "PEM",  # ssl's own words: the file is no certificate
        ),
    ],
)  # fmt: skip
async def test_what_run_could_not_build_is_named(
    tmp_path: Path, edit: tuple[str, str], component: str, why: str
) -> None:
    (tmp_path / "junk.pem").write_text("not a certificate\n")  # readable: the loader takes it
    config = local_config(tmp_path, edit)
    with trio.fail_after(30), pytest.raises(StartupError) as info:
        await dry_run(config)
    assert info.value.component == component
    assert why in info.value.reason


async def test_assemble_is_what_the_daemon_runs(tmp_path: Path) -> None:
    """Over the configured store, as ``run`` calls it: every part built, nothing started."""
    config = local_config(tmp_path)
    with trio.fail_after(30):
        async with open_configured_store(config) as store:
            parts = assemble(config, store)
            assert [c.name for c in parts.connectors] == ["sim"]
            assert parts.gateway.connectors["sim"] is parts.connectors[0]
            assert parts.simulator is not None  # [simulator] enabled
            assert not parts.connectors[0].is_up()
