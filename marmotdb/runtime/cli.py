"""The ``marmotdb`` command line.

Every mistake a user can make on the command line or in the configuration (an unknown flag, a
value of the wrong type, a port in use, a missing cluster secret) ends in one line on stderr
saying what, where and how to fix it, and exit code 2; never a traceback.
"""

from __future__ import annotations

import argparse
import difflib
import getpass
import sys

from marmotdb import __version__, config as config_mod
from marmotdb.config import ConfigError

# The short forms of the cluster flags, as in `marmotdb serve --node-id ID --peer-port P
# --admin-port P --seed-nodes host:port,...` (--node-id is a top-level setting already).
_SERVE_ALIASES = {"--peer-port": "peer_port", "--admin-port": "admin_port",
                  "--metrics-port": "metrics_port", "--seed-nodes": "seed_nodes"}
SERVE_USAGE = "marmotdb serve [--config FILE] [--SETTING VALUE ...]"
SERVE_EPILOG = (
    "Each setting comes from, in increasing priority: its default, the TOML file (--config), "
    "the environment variable MARMOTDB_<SECTION>_<NAME>, the flag --<section>-<name>. "
    "`marmotdb config --print-defaults` prints them all as a commented TOML file.")


class _Parser(argparse.ArgumentParser):
    """Errors as one line (plus where to look), not the whole usage of 50 flags."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: {message} (see `{self.prog} --help`)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="marmotdb", description=(
        "A leaderless, distributed SQLite cluster that speaks the MySQL wire protocol."))
    parser.add_argument("--version", action="version", version=f"marmotdb {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                     parser_class=_Parser)
    serve = commands.add_parser("serve", help="start a node", usage=SERVE_USAGE,
                                epilog=SERVE_EPILOG, description="Start one marmotdb node.")
    serve.add_argument("--config", metavar="FILE", help="TOML config file")
    config_mod.add_flags(serve)
    short = serve.add_argument_group("short forms")
    for alias, name in _SERVE_ALIASES.items():
        short.add_argument(alias, dest=f"cfg__cluster__{name}", default=None, metavar="VALUE",
                           help=f"same as --cluster-{name.replace('_', '-')}")
    from marmotdb.runtime import cluster_cli
    cluster_cli.add_parser(commands)
    from marmotdb.torture import command as torture_command
    torture_command.add_parser(commands)
    show = commands.add_parser("config", help="show configuration")
    show.add_argument("--print-defaults", action="store_true",
                      help="print every setting with its default and meaning, as TOML")
    show.add_argument("--config", metavar="FILE",
                      help="print the settings in effect with this file and the environment "
                           "(secrets masked)")
    user = commands.add_parser("user", help="user administration")
    user_commands = user.add_subparsers(dest="user_command", required=True, metavar="COMMAND",
                                        parser_class=_Parser)
    hash_cmd = user_commands.add_parser(
        "hash", help="print the credential string for [[auth.users]] (password from stdin)")
    hash_cmd.add_argument("--password", help="password (default: read from stdin/prompt)")
    return parser


def _serve(args: argparse.Namespace) -> int:
    cfg = config_mod.load(args.config, args=args)
    from marmotdb.runtime import logs, serve
    logs.setup(cfg.logging.format, cfg.logging.level)
    serve.run(cfg)
    return 0


def _config(args: argparse.Namespace) -> int:
    if args.print_defaults or not args.config:
        sys.stdout.write(config_mod.render_defaults())
    else:
        sys.stdout.write(config_mod.render(config_mod.load(args.config)))
    return 0


def _user(args: argparse.Namespace) -> int:
    from marmotdb.mysql.auth import make_credential
    password = args.password
    if password is None:
        password = getpass.getpass() if sys.stdin.isatty() else sys.stdin.readline()
    print(make_credential(password.rstrip("\n")))
    return 0


def _cluster(args: argparse.Namespace) -> int:
    from marmotdb.runtime import cluster_cli
    return cluster_cli.main(args)


def _torture(args: argparse.Namespace) -> int:
    from marmotdb.torture import command as torture_command
    return torture_command.main(args)


_COMMANDS = {"serve": _serve, "cluster": _cluster, "config": _config, "user": _user,
             "torture": _torture}


def _unrecognized(parser: argparse.ArgumentParser, args: argparse.Namespace,
                  extra: list[str]) -> int:
    """One line naming the unknown flag, the closest known one and where to look."""
    command = " ".join(str(getattr(args, k)) for k in ("command", "cluster_command",
                                                       "user_command") if getattr(args, k, None))
    known: list[str] = []
    for action in parser._actions:  # the subcommand's flags, for a suggestion
        if isinstance(action, argparse._SubParsersAction):
            sub = action.choices.get(args.command)
            known += [o for a in (sub._actions if sub else []) for o in a.option_strings]
    flag = next((e.split("=", 1)[0] for e in extra if e.startswith("--")), "")
    close = difflib.get_close_matches(flag, known, n=1) if flag else []
    hint = f"; did you mean {close[0]}?" if close else ""
    print(f"marmotdb {command}: unrecognized arguments: {' '.join(extra)}{hint} "
          f"(see `marmotdb {command} --help`)", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        return _unrecognized(parser, args, extra)
    try:
        return _COMMANDS[args.command](args)
    except ConfigError as exc:
        print(f"marmotdb: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
