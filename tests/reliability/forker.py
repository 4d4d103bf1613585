"""Run `cooplog` commands many times, fast: this process imports cooplog once, then forks a
child per command, which runs the real command-line entry point (`cooplog.cli.main`) with
its arguments. A kill test pays Python's start-up once, not per run, so its random kill
points fall in the command's own work.

Protocol, one JSON object per line: `{"argv": [...], "out": FILE}` forks a child (stdout
and stderr to FILE) and answers `{"pid": N}`; `{"wait": N}` answers `{"code": C}` once the
child has ended (negative: the signal that ended it). End of input ends the forker.

Not a test module: tests/reliability/faults.py starts it as a subprocess.
"""

from __future__ import annotations

import json
import os
import signal
import sys


def preload() -> None:
    """What the commands import lazily, imported here once for every child."""
    import msgspec  # noqa: F401
    import pycountry  # noqa: F401
    import sqlite_utils  # noqa: F401
    import ulid  # noqa: F401
    import watchdog.observers  # noqa: F401
    import watchdog.observers.polling  # noqa: F401

    import cooplog.append  # noqa: F401
    import cooplog.cli  # noqa: F401
    import cooplog.projection  # noqa: F401
    import cooplog.watch  # noqa: F401
    from cooplog import places

    places.locate("Geneva", "CH")  # the gazetteer, decoded once
    try:  # what typer loads to convert a command's options, the first time it parses one
        import typer._adapters  # noqa: F401
    except ImportError:
        pass


def child(argv: list[str], out: str) -> None:
    code = 1
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        sys.argv = ["cooplog", *argv]
        from cooplog.cli import main

        try:
            main()
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def main() -> None:
    preload()
    print(json.dumps({"ready": os.getpid()}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        if "argv" in request:
            pid = os.fork()
            if pid == 0:
                child(request["argv"], request["out"])
            print(json.dumps({"pid": pid}), flush=True)
        else:
            _, status = os.waitpid(request["wait"], 0)
            print(json.dumps({"code": os.waitstatus_to_exitcode(status)}), flush=True)


if __name__ == "__main__":
    main()
