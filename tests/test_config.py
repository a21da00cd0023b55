"""Config: defaults < TOML < environment < flags, with clear errors."""

import argparse
import ast
import pathlib

import pytest

from marmotdb import config
from marmotdb.config import ConfigError


def test_layers_override_in_order(tmp_path):
    path = tmp_path / "m.toml"
    path.write_text('data_dir = "/from/file"\n[mysql]\nport = 4000\nhost = "0.0.0.0"\n'
                    '[cluster]\nseed_nodes = ["a:1"]\n')
    parser = argparse.ArgumentParser()
    config.add_flags(parser)
    args = parser.parse_args(["--mysql-port", "5000"])
    cfg = config.load(str(path), {"MARMOTDB_MYSQL_PORT": "4500", "MARMOTDB_DATA_DIR": "/env",
                                  "MARMOTDB_MYSQL_TLS": "off"}, args)
    assert cfg.mysql.port == 5000          # flag beats env beats file
    assert cfg.data_dir == "/env"          # env beats file
    assert cfg.mysql.host == "0.0.0.0"     # file beats default
    assert cfg.mysql.tls is False
    assert cfg.cluster.seed_nodes == ["a:1"]


def test_root_password_and_cluster_secret_from_environment():
    cfg = config.load(None, {"MARMOTDB_ROOT_PASSWORD": "pw", "MARMOTDB_CLUSTER_SECRET": "s3"})
    assert cfg.auth.root_password == "pw"
    assert cfg.cluster.secret == "s3"


@pytest.mark.parametrize("text, message", [
    ("[mysql]\nport = 'abc'\n", "mysql.port"),
    ("[mysql]\nnope = 1\n", "unknown setting mysql.nope"),
    ("bogus = 1\n", "unknown setting bogus"),
    ("[storage]\ndurability = 'maybe'\n", "storage.durability"),
    ("[cluster]\nauto_increment_block_size = 0\n", "cluster.auto_increment_block_size"),
    ("[mysql\n", "config file"),
])
def test_bad_config_is_a_clear_error(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        config.load(str(path), {})
    assert message in str(info.value)


def test_print_defaults_documents_every_setting():
    text = config.render_defaults()
    for section, name, owner, field in config.iter_settings(config.Config()):
        assert f"\n{name} = " in text
        assert field.metadata["help"]
    assert "[mysql]" in text and "port = 3306" in text


def _reads(tree: ast.AST) -> set[tuple[str, str]]:
    """(owner, name) of every ``owner.name`` attribute read (owner: the last name before the
    dot) and ("", text) of every string constant."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            owner = node.value
            label = owner.attr if isinstance(owner, ast.Attribute) else \
                owner.id if isinstance(owner, ast.Name) else ""
            found.add((label, node.attr))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.add(("", node.value))
    return found


def test_every_setting_is_read_by_some_code():
    """A setting nothing reads is a setting that lies. Read means, in the code under marmotdb/
    other than config.py (comments and docstrings do not count): ``section.field`` attribute
    access (``config.mysql.port``, ``cluster.peer_port``; ``config.field`` at the top level), or
    the field's name as a string (settings read with ``getattr`` from a tuple of names)."""
    own = pathlib.Path(config.__file__)
    reads: set[tuple[str, str]] = set()
    for path in own.parent.rglob("*.py"):
        if path != own:
            reads |= _reads(ast.parse(path.read_text()))
    unread = [f"{section}.{name}" if section else name
              for section, name, _owner, _field in config.iter_settings(config.Config())
              if (section or "config", name) not in reads and ("", name) not in reads]
    assert unread == [], "read these where they belong, or remove them from config.py and docs"
