"""The `protokol` console script: Django's management commands under one name.

Hyphenated names map onto the commands, so `protokol import-appeals FILE` runs
`import_appeals`. `protokol verify FILE` without --export or --online runs
offline: a third party with only the root certificate needs no secret, database
or data directory.
"""

import os
import signal
import sys


def main(argv: list[str] | None = None) -> None:
    """Run a management command with Protokol's settings."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "protokol.settings")
    from django.core.management import execute_from_command_line

    args = list(sys.argv if argv is None else argv)
    args[0] = "protokol"
    if len(args) > 1 and not args[1].startswith("-"):
        args[1] = args[1].replace("-", "_")
    # `protokol help generate` names the command as the second argument.
    if args[1:2] == ["help"] and len(args) > 2 and not args[2].startswith("-"):
        args[2] = args[2].replace("-", "_")
    if is_offline_check(args):
        os.environ.setdefault("PROTOKOL_OFFLINE", "1")
    from django.db import OperationalError

    try:
        execute_from_command_line(args)
    except RuntimeError as error:
        # Settings raise RuntimeError for a missing secret or key, and a traceback
        # would hide the one line that names the setting.
        if "PROTOKOL_" not in str(error):
            raise
        sys.stderr.write(f"protokol: {error}\n")
        raise SystemExit(2) from None
    except OperationalError as error:
        # An unreachable or locked database is an operating problem, not a bug.
        # --traceback still shows where it happened.
        if "--traceback" in args:
            raise
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
        sys.stderr.write(
            f"protokol: database error: {first_line}; check PROTOKOL_DATABASE_URL "
            "and that the database server is running, or rerun with --traceback.\n"
        )
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        # Ctrl-C is the operator's decision, not a failure, so one line
        # replaces the traceback. Open transactions have rolled back and
        # context managers have cleaned up while the exception unwound.
        if "--traceback" in args:
            raise
        sys.stderr.write("\nprotokol: interrupted.\n")
        sys.stderr.flush()
        # Dying by SIGINT, as Python does on an uncaught KeyboardInterrupt,
        # makes a calling shell script stop as well.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)


def is_offline_check(args: list[str]) -> bool:
    """Return whether the command line checks a file without the installation.

    The verify command turns off abbreviated options, so "--export" and
    "--online" are the only spellings of the options that need it.
    """
    return args[1:2] == ["verify"] and not {"--export", "--online"} & set(args[2:])


if __name__ == "__main__":
    main()
