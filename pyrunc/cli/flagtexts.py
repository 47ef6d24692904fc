"""Option usage texts that several commands share (runc's, repeated in each of its files).

Each command's own texts stay next to its options; only these live here, so that the
commands' modules need not import each other for help.
"""

CONSOLE_SOCKET = (
    "path to an AF_UNIX socket which will receive a file descriptor referencing the master"
    " end of the console's pseudoterminal"
)
PID_FILE = "specify the file to write the process id to"
DETACH = "detach from the container's process"
NO_PIVOT = (
    "do not use pivot root to jail process inside rootfs.  This should be used whenever"
    " the rootfs is on top of a ramdisk"
)
PRESERVE_FDS = (
    "Pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N in total)"
)
BUNDLE = "path to the root of the bundle directory"
PIDFD_SOCKET_INIT = (
    "path to an AF_UNIX socket which will receive a file descriptor referencing the init"
    " process"
)
PIDFD_SOCKET_EXEC = (
    "path to an AF_UNIX socket which will receive a file descriptor referencing the exec"
    " process"
)
