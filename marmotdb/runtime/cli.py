"""The ``marmotdb`` command line."""

from __future__ import annotations

import argparse
import getpass
import sys

from marmotdb import __version__, config as config_mod
from marmotdb.config import ConfigError


# The short forms of the issue's `marmotdb serve --node-id ID --peer-port P --admin-port P
# --seed-nodes host:port,...` (--node-id is a top-level setting already).
_SERVE_ALIASES = {"--peer-port": "peer_port", "--admin-port": "admin_port",
                  "--seed-nodes": "seed_nodes"}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="marmotdb", description=(
        "A leaderless, distributed SQLite cluster that speaks the MySQL wire protocol."))
    parser.add_argument("--version", action="version", version=f"marmotdb {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="start a node")
    serve.add_argument("--config", help="TOML config file")
    config_mod.add_flags(serve)
    for alias, name in _SERVE_ALIASES.items():
        serve.add_argument(alias, dest=f"cfg__cluster__{name}", default=None,
                           help=f"same as --cluster-{name.replace('_', '-')}")
    from marmotdb.runtime import cluster_cli
    cluster_cli.add_parser(commands)
    show = commands.add_parser("config", help="show configuration")
    show.add_argument("--print-defaults", action="store_true",
                      help="print every setting with its default and meaning, as TOML")
    show.add_argument("--config", help="TOML config file to load and print")
    user = commands.add_parser("user", help="user administration")
    user_commands = user.add_subparsers(dest="user_command", required=True)
    hash_cmd = user_commands.add_parser(
        "hash", help="print the credential string for [[auth.users]] (password from stdin)")
    hash_cmd.add_argument("--password", help="password (default: read from stdin/prompt)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            cfg = config_mod.load(args.config, args=args)
            from marmotdb.runtime import logs, serve
            logs.setup(cfg.logging.format, cfg.logging.level)
            serve.run(cfg)
            return 0
        if args.command == "cluster":
            from marmotdb.runtime import cluster_cli
            return cluster_cli.main(args)
        if args.command == "config":
            if args.print_defaults or not args.config:
                sys.stdout.write(config_mod.render_defaults())
            else:
                cfg = config_mod.load(args.config)
                sys.stdout.write(repr(cfg) + "\n")
            return 0
        if args.command == "user":
            from marmotdb.mysql.auth import make_credential
            password = args.password
            if password is None:
                password = getpass.getpass() if sys.stdin.isatty() else sys.stdin.readline()
            print(make_credential(password.rstrip("\n")))
            return 0
    except ConfigError as exc:
        print(f"marmotdb: {exc}", file=sys.stderr)
        return 2
    return 1


if __name__ == "__main__":
    sys.exit(main())
