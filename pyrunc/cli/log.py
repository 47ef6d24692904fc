"""runc-compatible logging: `--log FILE --log-format text|json`.

Engines read the last `"level":"error"` JSON line of the log file (containerd)
or stderr (podman without --log), so every error is one line in both places.
"""

from __future__ import annotations

import os
import sys
import time

from pyrunc import jsonio as json  # not json: CONTRIBUTING.md, Imports


def _now() -> str:
    # RFC 3339 with the local offset, as runc writes it (no datetime import per call).
    z = time.strftime("%z")
    return time.strftime("%Y-%m-%dT%H:%M:%S") + z[:3] + ":" + z[3:]


class Log:
    def __init__(self, path: str | None = None, fmt: str = "text", debug: bool = False) -> None:
        self.fmt = fmt
        self.debug_on = debug
        self.fd = -1
        if path:
            # Created even if nothing is ever logged: containerd opens it after every call.
            self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)

    def _line(self, level: str, msg: str) -> str:
        if self.fmt == "json":
            # Compact like runc's logrus: some log readers grep for "level":"error".
            record = {"level": level, "msg": msg, "time": _now()}
            return json.dumps(record, separators=(",", ":")) + "\n"
        return f'time="{_now()}" level={level} msg={json.dumps(msg)}\n'

    def _emit(self, level: str, msg: str, to_stderr: bool) -> None:
        line = self._line(level, msg)
        if self.fd >= 0:
            os.write(self.fd, line.encode())
            if to_stderr:  # as runc: the file gets the record, stderr the bare message
                _stderr(msg + "\n")
        elif to_stderr:  # no file: the record goes to stderr in the chosen format
            _stderr(line)

    def error(self, msg: str) -> None:
        self._emit("error", msg, to_stderr=True)

    def warning(self, msg: str) -> None:
        self._emit("warning", msg, to_stderr=self.fd < 0)

    def debug(self, msg: str) -> None:
        if self.debug_on:
            self._emit("debug", msg, to_stderr=self.fd < 0)


def _stderr(text: str) -> None:
    try:
        sys.stderr.write(text)
        sys.stderr.flush()
    except OSError:
        pass
