"""Subcommands of a management command that take the common options after them.

Django adds -v/--verbosity and --traceback to the command's own parser only.
Without these copies, `protokol journal verify -v0` fails with "unrecognized
arguments" and only `protokol journal -v0 verify` works.
"""

import argparse


def add_subcommands(parser, **options):
    """Add subparsers to `parser` whose parsers also accept -v and --traceback.

    The options default to SUPPRESS, so a value given before the subcommand
    stays in effect unless the subcommand's own option overrides it.
    """
    commands = parser.add_subparsers(**options)
    add_parser = commands.add_parser

    def add_parser_with_common_options(name, **parser_options):
        subparser = add_parser(name, **parser_options)
        subparser.add_argument(
            "-v",
            "--verbosity",
            type=int,
            choices=[0, 1, 2, 3],
            default=argparse.SUPPRESS,
            help="Verbosity level: 0 minimal output without progress bars, "
            "1 normal, 2 verbose, 3 very verbose.",
        )
        subparser.add_argument(
            "--traceback",
            action="store_true",
            default=argparse.SUPPRESS,
            help="Show a full stack trace on errors.",
        )
        return subparser

    commands.add_parser = add_parser_with_common_options
    return commands
