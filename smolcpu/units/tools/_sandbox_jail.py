"""Isolation layers of the code sandbox: bubblewrap, unshare, rlimits only.

A jail turns the interpreter's command line into one that runs confined, and names what it
isolates and what it does not, so that a result can say how its snippet was confined.
Which jails work depends on the host (is bubblewrap installed, may this user make
namespaces, are we root), so each is probed once by running an empty snippet through it.

The two namespace jails build the same view (``system_view``): a fresh root holding only
what Python and its standard library need, read-only (the system directories, the
interpreter's prefix, a few device nodes), ``/proc`` of the snippet's own pid namespace,
and one writable place, the scratch tmpfs at ``/scratch`` of ``scratch_bytes``; ``/tmp``
and ``/dev/shm`` are links into it, so the cap counts every byte a snippet can write. No
home directory, no project folder, no host socket is in that view, and the network, ipc
and uts namespaces are new too. bubblewrap builds it from its options; without
bubblewrap, unshare builds it with a small program of ours (tmpfs root, read-only binds,
``pivot_root``). ``auto`` picks only these two, and refuses, saying how to install
bubblewrap, where neither works: it fails closed.

The rlimits jail has no namespaces: it runs only when asked for by name, and its
``not_isolated`` says what it leaves open (network, the host's files, other processes).

Running as root, every snippet runs as a uid of its own (``snippet_uid``: one of
SNIPPET_UIDS, locked for the snippet's lifetime), so no snippet shares the process cap of
another, and no file only root may read is readable. Not running as root, the namespace
jails make a user namespace, whose process count is the snippet's own.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import functools
import os
import platform
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from smolcpu import config
from smolcpu.errors import UsageError
from smolcpu.units._tool import ToolFailed
from smolcpu.units.tools import _sandbox_seccomp as seccomp

JAILS = ("bwrap", "unshare", "rlimits")
"""Every jail, strongest first."""

CONFINING = ("bwrap", "unshare")
"""The jails that isolate files, network and processes: the only ones ``auto`` picks."""

INSTALL_BUBBLEWRAP = "install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install bubblewrap)"
"""What to do where no confining jail works (``smol doctor`` says it too)."""

SCRATCH = "/scratch"
"""Where a namespace jail's snippet sees its scratch tmpfs (also its cwd, HOME and /tmp)."""

SNIPPET_UIDS = range(0x5C00_0000, 0x5C00_0000 + 65_536)
"""The uids snippets run as when Smol runs as root: one each, never a real user's."""

UID_LOCKS = Path("/run/smol-sandbox")
"""Where a root runtime locks the snippet uids in use (one small file per uid ever used)."""

PROBE_TIMEOUT_S = 10.0
"""How long probing one jail (or removing a scratch tree with rm) may take."""

SWEEP_ROUNDS = 50
"""Rounds of killing the processes a snippet uid left, before giving up on a fork race."""

MAX_TREE_ENTRIES = 10_000
"""Entries of a scratch directory looked at when collecting or unlocking what a snippet wrote."""

MAX_TREE_DEPTH = 32
"""Directory levels of a scratch directory looked into (removal goes all the way down)."""

INTERPRETER = Path(os.path.realpath(sys.executable))
"""The Python that runs snippets: this one's real binary, without the venv (``-I -S``)."""

PREFIX = Path(os.path.realpath(sys.base_prefix))
"""Where that Python's standard library lives; the namespace jails bind it read-only."""

SYSTEM_PYTHON = "/usr/bin/python3"
"""The interpreter the rlimits jail falls back to when a snippet uid cannot reach ours."""

SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
"""Where the unshare jail looks for the tools it runs inside the new root (all under /usr or /bin)."""

PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41}
"""The pivot_root call's number by machine (the C library has no wrapper for it)."""

_SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64")
_ETC = ("/etc/ld.so.cache", "/etc/localtime")
_DEVICES = ("null", "zero", "full", "random", "urandom")
_DEVICE_LINKS = {"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1",
                 "stderr": "/proc/self/fd/2", "shm": SCRATCH}

# Runs as root (real, or of a new user namespace) in new mount and pid namespaces, in our
# interpreter (-I -S), then runs the snippet's command: build VIEW in a tmpfs mounted on
# argv[1], add the scratch tmpfs of argv[2] bytes and /proc, pivot into it, drop the old
# root, make the new one read-only. One process doing it all costs a fraction of a shell
# running mount, mkdir and ln some forty times. It stays as the namespace's pid 1 (which
# ignores signals it has no handler for), so that the snippet is an ordinary process; its
# status comes back as this one's (128 + N for signal N). The snippet's command starts
# with the seccomp filter loaded (the setup has ctypes at hand; the snippet need not
# import it). Read-only remounts keep the
# flags the kernel locks on a mount from outside a user namespace (nosuid, nodev, ...).
_UNSHARE_SETUP = """\
import ctypes, os, sys
VIEW = {view!r}
libc = ctypes.CDLL(None, use_errno=True)
RDONLY, NOSUID, NODEV, NOEXEC, REMOUNT, BIND, RELATIME = 1, 2, 4, 8, 32, 4096, 1 << 21
def mount(source, target, kind, flags, data=None):
    if libc.mount(source.encode(), target.encode(), kind and kind.encode(), flags, data and data.encode()):
        error = ctypes.get_errno()
        raise OSError(error, f"mount {{source}} on {{target[1:] or '/'}}: {{os.strerror(error)}}")
def read_only(target):
    kept = os.statvfs(target).f_flag
    locked = (kept & (NOSUID | NODEV | NOEXEC | 1024 | 2048)) | (RELATIME if kept & 4096 else 0)
    mount("none", target, None, REMOUNT | BIND | RDONLY | locked)
os.umask(0o022)
mount("smol", sys.argv[1], "tmpfs", NOSUID | NODEV, "mode=0755,size=1m")
os.chdir(sys.argv[1])
for kind, path, source in VIEW:
    here = "." + path
    os.makedirs(here if kind == "dir" else os.path.dirname(here), exist_ok=True)
    if kind == "link":
        os.symlink(source, here)
    elif kind != "dir":
        os.mkdir(here) if os.path.isdir(source) else open(here, "x").close()
        mount(source, here, None, BIND)
        if kind == "ro":
            read_only(here)
os.mkdir(".{scratch}")
mount("smol", ".{scratch}", "tmpfs", NOSUID | NODEV, "mode=1777,size=" + sys.argv[2])
os.mkdir("proc")
mount("proc", "proc", "proc", NOSUID | NODEV | NOEXEC)
os.mkdir(".old")
if libc.syscall({pivot_root}, b".", b".old"):
    raise OSError(ctypes.get_errno(), "pivot_root failed")
os.chdir("/")
if libc.umount2(b"/.old", 2):
    raise OSError(ctypes.get_errno(), "cannot unmount the old root")
os.rmdir("/.old")
read_only("/")
os.chdir("{scratch}")
child = os.fork()
if child == 0:
    exec({seccomp!r})
    os.execv(sys.argv[3], sys.argv[3:])
while True:
    pid, status = os.waitpid(-1, 0)
    if pid == child:
        break
code = os.waitstatus_to_exitcode(status)
sys.exit(128 - code if code < 0 else code)
"""


def is_root() -> bool:
    """Whether Smol runs as root, so that each snippet must be dropped to a uid of its own."""
    return os.geteuid() == 0


@dataclasses.dataclass(frozen=True, slots=True)
class Entry:
    """One thing a namespace jail puts in the snippet's root (see ``system_view``)."""

    kind: str
    """``dir`` (an empty directory, mode 0755), ``ro`` (read-only bind of ``source``),
    ``device`` (bind of the device node ``source``) or ``link`` (a symlink to ``source``)."""
    path: str
    source: str = ""


def system_view() -> list[Entry]:
    """What a namespace jail's snippet sees of the host, in the order it is built.

    Only the system directories, the dynamic linker's cache and the time zone, the
    interpreter's prefix (its parents opened to 0755: /root is 0700), five device nodes and
    the links /dev/fd... and /tmp and /dev/shm, which lead into the scratch tmpfs. The
    jails add /proc (of the snippet's pid namespace) and the scratch tmpfs itself.
    """
    view = []
    for path in _SYSTEM:
        if os.path.islink(path):
            view.append(Entry("link", path, os.readlink(path)))
        elif os.path.isdir(path):
            view.append(Entry("ro", path, path))
    view += [Entry("ro", path, path) for path in _ETC if os.path.exists(path)]
    for tree in (PREFIX,) if INTERPRETER.is_relative_to(PREFIX) else (PREFIX, INTERPRETER.parent):
        if not any(tree.is_relative_to(path) for path in _SYSTEM):
            view += [Entry("dir", str(parent)) for parent in reversed(tree.parents[:-1])]
            view.append(Entry("ro", str(tree), str(tree)))
    view.append(Entry("dir", "/dev"))
    view += [Entry("device", f"/dev/{name}", f"/dev/{name}") for name in _DEVICES]
    view += [Entry("link", f"/dev/{name}", target) for name, target in _DEVICE_LINKS.items()]
    view.append(Entry("link", "/tmp", SCRATCH))
    return view


class Jail:
    """One way to confine a snippet: the command that wraps it and what it isolates."""

    name: str = ""
    signals_as_status: bool = False
    """Whether a snippet killed by signal N comes back as exit status 128 + N (our pid 1 or bwrap)."""
    scratch_inside: str | None = None
    """Where the snippet sees its scratch directory (``None``: at its real path)."""
    scratch_tmpfs: bool = False
    """Whether the jail mounts a size-capped tmpfs of its own as the scratch directory (else
    the snippet writes into the host's directory and the runtime watches its size)."""
    confining: bool = False
    """Whether the jail isolates files, network and processes (``auto`` picks only these)."""

    @property
    def layers(self) -> tuple[str, ...]:
        """What this jail puts in force, as named in a result's ``isolation``."""
        raise NotImplementedError

    @property
    def not_isolated(self) -> tuple[str, ...]:
        """What this jail leaves open, in plain words (empty for the namespace jails)."""
        return ()

    def prologue(self, uid: int | None) -> str:
        """Python lines the interpreter runs first, before any snippet code: the drop to ``uid``.

        Dropping in the interpreter, not in the spawn (``Popen(user=...)``) or with setpriv,
        keeps the spawn a vfork and saves an exec: ~10 ms per snippet each, measured here.
        """
        if uid is None:
            return ""
        return f"import os\nos.setgroups([])\nos.setresgid({uid}, {uid}, {uid})\nos.setresuid({uid}, {uid}, {uid})\n"

    def interpreter(self, uid: int | None) -> str:
        """The Python binary's path as seen inside the jail, by ``uid``."""
        return str(INTERPRETER)

    def command(
        self, python_args: Sequence[str], scratch: Path, *, scratch_bytes: int, uid: int | None, network: bool = False
    ) -> list[str]:
        """The command line that runs ``python python_args`` confined as ``uid`` from ``scratch``
        (the host directory it starts in); a jail with ``scratch_tmpfs`` gives the snippet a
        fresh tmpfs of ``scratch_bytes`` instead. ``network``: a run's policy lets the snippet
        reach the host's network (a namespace jail then keeps the host's network namespace)."""
        raise NotImplementedError

    @contextmanager
    def launch(
        self, python_args: Sequence[str], scratch: Path, *, scratch_bytes: int, uid: int | None, network: bool = False
    ) -> Iterator[tuple[list[str], tuple[int, ...]]]:
        """The ``command`` and the descriptors it must inherit, open for the ``with`` block (spawn in it)."""
        yield self.command(python_args, scratch, scratch_bytes=scratch_bytes, uid=uid, network=network), ()

    def __repr__(self) -> str:
        return f"<Jail {self.name}: {', '.join(self.layers)}>"


class _NamespaceJail(Jail):
    """A jail of Linux namespaces over the view of ``system_view``."""

    tool = ""
    signals_as_status = True
    scratch_inside = SCRATCH
    scratch_tmpfs = True
    confining = True

    @property
    def layers(self) -> tuple[str, ...]:
        who = "uid-per-snippet" if is_root() else "user-namespace"
        filtered = ("seccomp",) if seccomp.program() is not None else ()
        return (self.tool, who, "mount-namespace", "minimal-root", "read-only-system", "no-host-home",
                "net-namespace", "pid-namespace", "ipc-namespace", "scratch-tmpfs", "tmp-in-scratch", *filtered)


class BwrapJail(_NamespaceJail):
    """bubblewrap: builds the view from its own options.

    As root, bwrap leaves the interpreter only the capabilities to change uid and sets
    no-new-privileges; the interpreter then drops to the snippet's uid itself (see
    ``prologue``) and enters the scratch directory before it runs any code.
    """

    name = "bwrap"
    tool = "bubblewrap"

    @contextmanager
    def launch(
        self, python_args: Sequence[str], scratch: Path, *, scratch_bytes: int, uid: int | None, network: bool = False
    ) -> Iterator[tuple[list[str], tuple[int, ...]]]:
        """The command, and a pipe from which bwrap reads the seccomp program (``--seccomp``)."""
        program = seccomp.program()
        if program is None:
            yield self.command(python_args, scratch, scratch_bytes=scratch_bytes, uid=uid, network=network), ()
            return
        read, write = os.pipe()
        try:
            with open(write, "wb", closefd=True) as pipe:
                pipe.write(program)  # a few hundred bytes: far below a pipe's buffer
            args = self.command(
                python_args, scratch, scratch_bytes=scratch_bytes, uid=uid, network=network, seccomp_fd=read
            )
            yield args, (read,)
        finally:
            os.close(read)

    def command(
        self, python_args: Sequence[str], scratch: Path, *, scratch_bytes: int, uid: int | None,
        network: bool = False, seccomp_fd: int | None = None,
    ) -> list[str]:
        args = ["bwrap", *([] if network else ["--unshare-net"]), "--unshare-pid", "--unshare-ipc", "--unshare-uts",
                "--unshare-cgroup-try", "--hostname", "sandbox", "--die-with-parent", "--new-session"]
        if is_root():
            args += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
        else:
            args += ["--unshare-user", "--disable-userns"]
        options = {"dir": ["--perms", "0755", "--dir"], "ro": ["--ro-bind"], "device": ["--dev-bind"]}
        for entry in system_view():
            if entry.kind == "link":
                args += ["--symlink", entry.source, entry.path]
            else:
                args += [*options[entry.kind], *([entry.source] if entry.source else []), entry.path]
        args += ["--proc", "/proc", "--perms", "01777", "--size", str(scratch_bytes), "--tmpfs", SCRATCH,
                 "--remount-ro", "/"]
        if seccomp_fd is not None:
            args += ["--seccomp", str(seccomp_fd)]
        args.append("--")
        return [*args, self.interpreter(uid), *python_args]


class UnshareJail(_NamespaceJail):
    """util-linux unshare: new namespaces, and our setup program that builds the view in a tmpfs
    mounted on the (empty) host scratch directory, pivots into it and drops the host's root.

    The snippet's interpreter runs behind setpriv, which takes every capability away (the
    setup that built the view had them), sets no-new-privileges and, as root, the uid.
    """

    name = "unshare"
    tool = "unshare"

    def prologue(self, uid: int | None) -> str:
        return ""  # setpriv drops to ``uid``; the setup loaded the seccomp filter before it

    def command(
        self, python_args: Sequence[str], scratch: Path, *, scratch_bytes: int, uid: int | None, network: bool = False
    ) -> list[str]:
        args = ["unshare", *([] if network else ["--net"]), "--pid", "--fork", "--kill-child", "--mount", "--ipc", "--uts",
                "--propagation", "private"]
        if not is_root():
            args.append("--map-root-user")
        drop = ["--reuid", str(uid), "--regid", str(uid), "--clear-groups"] if uid is not None else []
        setpriv = [_system_tool("setpriv"), *drop, "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]
        return [*args, str(INTERPRETER), "-I", "-S", "-c", unshare_setup(), str(scratch), str(scratch_bytes),
                *setpriv, self.interpreter(uid), *python_args]


class RlimitsJail(Jail):
    """No namespaces: resource limits, a scrubbed environment and, as root, a uid of its own.

    It isolates neither files nor network nor processes, so ``auto`` never picks it; it
    must be asked for by name, and its results say what it leaves open.
    """

    name = "rlimits"

    @property
    def layers(self) -> tuple[str, ...]:
        return ("uid-per-snippet", "scratch-watchdog") if is_root() else ("scratch-watchdog",)

    @property
    def not_isolated(self) -> tuple[str, ...]:
        gaps = [
            "network: the snippet can open any connection the host can",
            "files: it reads every file its uid may read, and writes to the host's /tmp, /var/tmp "
            "and /dev/shm, which the scratch cap does not count",
            "host sockets: it can connect to any unix socket its uid may open",
            "processes: it sees every process on the host (/proc)",
        ]
        if not is_root():
            gaps += [
                "uid: it runs as the runtime's own uid, so it can signal or trace the runtime and "
                "read everything the runtime's user can (home directory, project, keys)",
                "children it detaches (setsid) may outlive it",
            ]
        return tuple(gaps)

    def interpreter(self, uid: int | None) -> str:
        # A snippet uid cannot reach a Python under /root (pyenv); the system's serves snippets as well.
        if uid is not None and _unreachable_by_others(INTERPRETER) and os.path.exists(SYSTEM_PYTHON):
            return SYSTEM_PYTHON
        return str(INTERPRETER)

    def command(
        self, python_args: Sequence[str], scratch: Path, *, scratch_bytes: int, uid: int | None, network: bool = False
    ) -> list[str]:
        return [self.interpreter(uid), *python_args]


_JAIL_TYPES: dict[str, type[Jail]] = {"bwrap": BwrapJail, "unshare": UnshareJail, "rlimits": RlimitsJail}


@functools.cache
def unshare_setup() -> str:
    """The unshare jail's setup program, with ``system_view`` in it as plain tuples.

    Raises:
        ToolFailed: this machine's pivot_root call number is not known.
    """
    number = PIVOT_ROOT.get(platform.machine())
    if number is None:
        raise ToolFailed(f"the unshare jail does not know pivot_root's number on {platform.machine()}; "
                         f"{INSTALL_BUBBLEWRAP}")
    view = [(entry.kind, entry.path, entry.source) for entry in system_view()]
    return _UNSHARE_SETUP.format(view=view, scratch=SCRATCH, pivot_root=number, seccomp=seccomp.loader())


def _system_tool(name: str) -> str:
    """A tool's path under the system directories (which the new root holds), or its bare name."""
    return shutil.which(name, path=SYSTEM_PATH) or name


def scrubbed_environment(jail: Jail, scratch: Path) -> dict[str, str]:
    """The whole environment of a snippet: nothing of the runtime's is passed on."""
    inside = jail.scratch_inside or str(scratch)
    tmp = "/tmp" if jail.scratch_inside else inside  # a namespace jail's /tmp leads into scratch
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": inside, "TMPDIR": tmp, "LANG": "C.UTF-8"}


@contextmanager
def snippet_uid(*, sweep: bool = False) -> Iterator[int | None]:
    """A uid of the snippet's own, locked until it ends (``None`` when Smol does not run as root).

    The lock is a ``flock`` on a file per uid, so that runtimes running side by side never
    hand out the same uid and a runtime that dies frees its uids. With ``sweep`` (a jail
    without a pid namespace, whose processes do not die with it), a uid is cleared of
    processes when it is given back: a child the snippet detached (setsid) does not live on.
    A uid whose last holder died holding it (the file still says ``busy``) is cleared before
    it is handed out, whatever the jail: that holder's jail may have been one without a pid
    namespace.

    Raises:
        ToolFailed: every uid in SNIPPET_UIDS is in use.
    """
    if not is_root():
        yield None
        return
    UID_LOCKS.mkdir(mode=0o700, exist_ok=True)
    for uid in SNIPPET_UIDS:
        fd = os.open(UID_LOCKS / str(uid), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        try:
            if os.pread(fd, 4, 0) == b"busy":  # its last holder died before clearing it
                end_processes(uid)
            os.pwrite(fd, b"busy", 0)
            yield uid
        finally:
            if sweep:
                end_processes(uid)
            os.ftruncate(fd, 0)
            os.close(fd)
        return
    raise ToolFailed(f"all {len(SNIPPET_UIDS):,} snippet uids are in use; wait for running snippets to end")


def end_processes(uid: int, *, rounds: int = SWEEP_ROUNDS) -> None:
    """SIGKILL every process whose real uid is ``uid``, until none is left (or ``rounds`` pass)."""
    for _ in range(rounds):
        found = _processes_of(uid)
        if not found:
            return
        for pid in found:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.01)


def _processes_of(uid: int) -> list[int]:
    """Live processes whose real uid is ``uid`` (zombies are dead already: their parent reaps them).

    One raw read of each /proc/PID/status (the owner of /proc/PID is no guide: a process
    that changed uid is not dumpable, and its /proc entry stays root's).
    """
    found = []
    wanted = f"\nUid:\t{uid}\t".encode()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            fd = os.open(f"/proc/{name}/status", os.O_RDONLY | os.O_CLOEXEC)
            try:
                status = os.read(fd, 4096)
            finally:
                os.close(fd)
        except OSError:
            continue
        if wanted in status and b"\nState:\tZ" not in status:
            found.append(int(name))
    return found


@contextmanager
def scratch_directory(uid: int | None) -> Iterator[Path]:
    """A fresh directory the snippet (and only it) may write; removed afterwards, whatever it holds."""
    path = Path(tempfile.mkdtemp(prefix="smol-sandbox-"))
    try:
        if uid is not None:
            os.chown(path, uid, uid)
        yield path
    finally:
        remove_tree(path)


def open_beneath(dir_fd: int, name: str, *, unlock: bool = False) -> int | None:
    """Open ``name`` in the directory ``dir_fd`` without following a link, or ``None``.

    Used on every component of a path in a scratch tree, so that a snippet that swaps a
    directory for a link (even with ``renameat2(RENAME_EXCHANGE)``) cannot lead the runtime
    out of its scratch directory. ``unlock`` (not as root) gives the runtime's user back a
    directory or file the snippet closed to it, through a descriptor of the inode itself.
    """
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY
    try:
        return os.open(name, flags, dir_fd=dir_fd)
    except PermissionError:
        if not unlock:
            return None
    except OSError:
        return None
    try:
        inode = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError:
        return None
    try:
        mode = os.fstat(inode).st_mode
        if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
            return None
        os.chmod(f"/proc/self/fd/{inode}", 0o700 if stat.S_ISDIR(mode) else 0o600)
        return os.open(f"/proc/self/fd/{inode}", flags)
    except OSError:
        return None
    finally:
        os.close(inode)


def scratch_files(root_fd: int, *, unlock: bool = False) -> Iterator[tuple[str, int, os.stat_result]]:
    """The regular files under the directory ``root_fd``: (relative path, open descriptor, stat).

    Every component is opened with ``open_beneath``, so a link is never followed; a file's
    descriptor is closed when the caller asks for the next. Iterative and capped
    (MAX_TREE_ENTRIES, MAX_TREE_DEPTH, one descriptor per level), because the snippet shapes
    this tree: a recursive walk of a few thousand nested directories would overflow the stack.
    ``unlock`` (not as root) opens every directory to the runtime's user on the way.
    """
    unlock = unlock and not is_root()
    stack: list[tuple[str, int, Iterator[str]]] = []
    seen = 0

    def enter(prefix: str, fd: int) -> None:
        if unlock:
            with contextlib.suppress(OSError):
                os.fchmod(fd, 0o700)
        try:
            names = iter(sorted(os.listdir(fd)))
        except OSError:
            names = iter(())
        stack.append((prefix, fd, names))

    enter("", os.dup(root_fd))
    try:
        while stack:
            prefix, dir_fd, names = stack[-1]
            name = next(names, None)
            if name is None or seen >= MAX_TREE_ENTRIES:
                os.close(stack.pop()[1])
                continue
            seen += 1
            fd = open_beneath(dir_fd, name, unlock=unlock)
            if fd is None:
                continue
            info = os.fstat(fd)
            if stat.S_ISDIR(info.st_mode) and len(stack) < MAX_TREE_DEPTH:
                enter(f"{prefix}{name}/", fd)
                continue
            try:
                if stat.S_ISREG(info.st_mode):
                    yield f"{prefix}{name}", fd, info
            finally:
                os.close(fd)
    finally:
        for _, dir_fd, _ in stack:
            os.close(dir_fd)


def tree_bytes(root_fd: int) -> int:
    """Apparent size of all regular files under the directory ``root_fd`` (links not followed)."""
    return sum(info.st_size for _, _, info in scratch_files(root_fd))


def remove_tree(path: Path) -> None:
    """Delete ``path`` however deep it is and even where the snippet took away its own permissions."""
    if not is_root():
        with contextlib.suppress(OSError):
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
            try:
                for _ in scratch_files(fd, unlock=True):
                    pass
            finally:
                os.close(fd)
    try:
        shutil.rmtree(path, ignore_errors=True)
    except RecursionError:  # shutil recurses once per level; rm does not
        subprocess.run(["rm", "-rf", "--", str(path)], check=False, timeout=PROBE_TIMEOUT_S)


def _unreachable_by_others(path: Path) -> bool:
    """Whether a directory on ``path`` is closed to other users (e.g. /root, 0700)."""
    return any(not os.stat(parent).st_mode & 0o001 for parent in path.parents)


@functools.cache
def probe(name: str) -> str | None:
    """Why the jail ``name`` cannot run snippets here, or ``None`` when it can (checked once)."""
    jail = make_jail(name)
    tools = {"bwrap": ("bwrap",), "unshare": ("unshare", "setpriv")}
    for tool in tools.get(name, ()):
        if shutil.which(tool, path=None if tool == name else SYSTEM_PATH) is None:
            return f"{tool} is not installed"
    # The prologue drops root where the jail asks; importing json then shows the stdlib is readable.
    with snippet_uid(sweep=not jail.confining) as uid, scratch_directory(uid) as scratch:
        python_args = ["-I", "-S", "-c", jail.prologue(uid) + "import json"]
        try:
            with jail.launch(python_args, scratch, scratch_bytes=config.SANDBOX_SCRATCH_BYTES, uid=uid) as (args, fds):
                done = subprocess.run(
                    args, cwd=scratch, env=scrubbed_environment(jail, scratch), capture_output=True, text=True,
                    timeout=PROBE_TIMEOUT_S, pass_fds=fds,
                )
        except (OSError, ValueError, subprocess.TimeoutExpired, ToolFailed) as exc:
            return f"{jail.name} failed: {exc}"
    if done.returncode != 0:
        return (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
    return None


def available_jails() -> list[str]:
    """The jails that work on this host, strongest first."""
    return [name for name in JAILS if probe(name) is None]


def make_jail(name: str) -> Jail:
    """The jail called ``name`` (one of JAILS), whether or not it works here."""
    return _JAIL_TYPES[name]()


def choose_jail(preference: str = "auto") -> Jail:
    """The jail to use: for ``auto`` the first of CONFINING that works here, else exactly the one named.

    Raises:
        UsageError: ``preference`` names no jail.
        ToolFailed: no confining jail (or not the one named) works here; says what to install.
    """
    if preference != "auto" and preference not in _JAIL_TYPES:
        raise UsageError(f"no isolation {preference!r}; choose auto, {', '.join(JAILS)}")
    tried = CONFINING if preference == "auto" else (preference,)
    for name in tried:
        if probe(name) is None:
            return make_jail(name)
    reasons = "; ".join(f"{name}: {probe(name)}" for name in tried)
    if preference == "auto":
        raise ToolFailed(
            f"the sandbox cannot isolate code here ({reasons}), so it runs none; {INSTALL_BUBBLEWRAP}, "
            "or allow user namespaces. The rlimits layer (no file, network or process isolation) "
            "runs only when chosen by name: isolation=rlimits"
        )
    raise ToolFailed(f"the {preference} isolation does not work here ({reasons}); {INSTALL_BUBBLEWRAP}")


@dataclasses.dataclass(frozen=True, slots=True)
class SandboxLayer:
    """Which jail the sandbox uses here and what it isolates: what ``smol doctor`` shows."""

    name: str | None
    """The jail in force (``bwrap``, ``unshare``, ``rlimits``), ``None`` when none may run."""
    isolates: tuple[str, ...]
    not_isolated: tuple[str, ...]
    available: tuple[str, ...]
    """Every jail that works here, strongest first."""
    problem: str | None
    """Why no jail is in force, and what to install; ``None`` when one is."""

    @property
    def confining(self) -> bool:
        """Whether the jail in force isolates files, network and processes."""
        return self.name in CONFINING


def sandbox_layer(preference: str | None = None) -> SandboxLayer:
    """Which jail ``preference`` (default: the configured isolation, normally ``auto``) gives
    here and what it isolates; never raises for a host that cannot run one (``problem`` says why).

    Raises:
        UsageError: ``preference`` names no jail.
    """
    available = tuple(available_jails())
    try:
        jail = choose_jail(preference or config.SANDBOX_ISOLATION)
    except ToolFailed as exc:
        return SandboxLayer(None, (), (), available, str(exc))
    return SandboxLayer(jail.name, jail.layers, jail.not_isolated, available, None)


__all__ = ["CONFINING", "JAILS", "Jail", "SandboxLayer", "available_jails", "choose_jail", "end_processes",
           "make_jail", "probe", "sandbox_layer", "scratch_directory", "scratch_files", "scrubbed_environment",
           "snippet_uid", "system_view", "tree_bytes"]
