"""A throwaway single-node SLURM cluster for the workflow's SLURM tests.

Debian bookworm's SLURM 22.05 with real accounting, because
snakemake-executor-plugin-slurm asks ``sacct`` for job states (without slurmdbd
it waits forever):

    munged -> mariadbd -> slurmdbd -> slurmctld -> slurmd

Every daemon runs in the foreground as a child of this process, on free
loopback ports, with its state, sockets and logs in one temporary folder.
The configuration has to be at the standard ``/etc/slurm/slurm.conf``: the
jobstep plugin drops every ``SLURM_*`` variable (``SLURM_CONF`` too) before its
inner ``srun``. Files already there are moved aside and put back on ``stop()``.

The node declares a fake GPU (``gres/gpu`` backed by ``/dev/null``) and more
CPUs and memory than the machine has (``SlurmdParameters=config_overrides``),
so jobs that ask for the profile's GPU and CPUs schedule on a 2-core laptop.

Used as a pytest fixture in ``tests/test_slurm.py``; runnable by hand:
``python tests/slurm/cluster.py`` starts a cluster and stops it on Ctrl-C.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

PACKAGES = ("slurm-wlm", "slurm-client", "munge", "slurmdbd", "mariadb-server", "mariadb-client")
#: programs the cluster needs; a missing one means the packages must be installed
PROGRAMS = (
    "munged",
    "munge",
    "mariadbd",
    "mariadb-install-db",
    "mariadb",
    "slurmdbd",
    "slurmctld",
    "slurmd",
    "slurmstepd",
    "sbatch",
    "srun",
    "sacct",
    "sacctmgr",
    "scontrol",
    "squeue",
    "sinfo",
    "scancel",
)
SBIN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SLURM_ETC = Path("/etc/slurm")
MANAGED = ("slurm.conf", "slurmdbd.conf", "gres.conf")
MARKER = "# written by mftl tests/slurm/cluster.py; removed when its cluster stops"
#: one test cluster per machine at a time: they share /etc/slurm
LOCK_FILE = Path(tempfile.gettempdir()) / "mftl-slurm-cluster.lock"
#: daemons of the running cluster, so that the next start can stop those of a killed test session
PIDS_FILE = Path(tempfile.gettempdir()) / "mftl-slurm-cluster.pids.json"

CLUSTER_NAME = "mftltest"
PARTITION = "mftl"
ACCOUNT = "mftl"
NODE_CPUS = 8
NODE_MEMORY_MB = 64000
NODE_GPUS = 1


class ClusterUnavailable(RuntimeError):
    """This machine cannot run the test cluster (not root, or the packages cannot be installed)."""


class ClusterError(RuntimeError):
    """A daemon did not come up; the message carries the tails of the daemon logs."""


def _which(program: str) -> str | None:
    return shutil.which(program, path=f"{os.environ.get('PATH', '')}:{SBIN_PATH}")


def missing_programs() -> list[str]:
    return [p for p in PROGRAMS if _which(p) is None]


def install_packages(timeout: int = 600) -> None:
    """apt-get install the SLURM, munge and MariaDB packages if a program is missing.

    Non-interactive, and with a temporary policy-rc.d so that the packages'
    maintainer scripts start no service. Raises :class:`ClusterUnavailable`
    when this cannot work (not root, no apt-get, or apt-get fails).
    """
    if not missing_programs():
        return
    if os.geteuid() != 0:
        raise ClusterUnavailable(f"SLURM test cluster needs root to install {', '.join(PACKAGES)}")
    apt = _which("apt-get")
    if apt is None:
        raise ClusterUnavailable("SLURM programs missing and no apt-get to install them")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive", "PATH": f"{os.environ.get('PATH', '')}:{SBIN_PATH}"}
    policy = Path("/usr/sbin/policy-rc.d")
    own_policy = not policy.exists()
    if own_policy:
        policy.write_text("#!/bin/sh\n# mftl tests/slurm: start no service while installing\nexit 101\n")
        policy.chmod(0o755)
    install = [
        apt,
        "install",
        "-y",
        "-q",
        "--no-install-recommends",
        "-o",
        "Dpkg::Options::=--force-confold",
        *PACKAGES,
    ]
    try:
        result = subprocess.run(install, env=env, capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:  # stale or missing package lists: update once and retry
            subprocess.run([apt, "update", "-q"], env=env, capture_output=True, text=True, timeout=timeout)
            result = subprocess.run(install, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise ClusterUnavailable(f"apt-get timed out after {exc.timeout} s installing {' '.join(PACKAGES)}") from exc
    finally:
        if own_policy:
            policy.unlink(missing_ok=True)
    if result.returncode != 0:
        raise ClusterUnavailable(f"apt-get install {' '.join(PACKAGES)} failed:\n{result.stderr[-2000:]}")
    if missing_programs():
        raise ClusterUnavailable(f"still missing after apt-get install: {', '.join(missing_programs())}")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _slurmstepd_pids() -> set[int]:
    pids = set()
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if (proc / "comm").read_text().strip() == "slurmstepd":
                    pids.add(int(proc.name))
            except OSError:
                pass
    return pids


class SlurmCluster:
    """One node (``NodeName`` = this host), one partition, accounting in MariaDB.

    ``start()`` brings everything up (a few seconds) and ``stop()`` cancels
    every job, stops each daemon it started by PID, and restores ``/etc/slurm``.
    """

    def __init__(self, base: Path | None = None, keep_files: bool = False):
        self.base = Path(base) if base else None  # a new temporary folder on start()
        self.keep_files = keep_files
        self.host = socket.gethostname().split(".")[0]
        self.partition = PARTITION
        self.account = ACCOUNT
        self.cluster_name = CLUSTER_NAME
        self.gpus = NODE_GPUS
        self.procs: dict[str, subprocess.Popen] = {}
        self._backups: dict[str, bytes | None] = {}
        self._stepds_before: set[int] = set()
        self._started = False
        self._lock = None

    # ---- paths and commands ---------------------------------------------------

    @property
    def munge_socket(self) -> Path:
        return self.base / "munge" / "munge.socket"

    def log(self, name: str) -> Path:
        return self.base / "log" / f"{name}.log"

    def env(self) -> dict[str, str]:
        """Environment for client commands: the SLURM programs on PATH, no stray SLURM_* settings."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SBATCH_", "SQUEUE_", "SACCT_"))}
        env["PATH"] = f"{env.get('PATH', '')}:{SBIN_PATH}"
        return env

    def run(self, *args: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
        """Run a client command (``sacct``, ``squeue``, ...) against this cluster."""
        result = subprocess.run(
            [_which(args[0]) or args[0], *args[1:]], env=self.env(), capture_output=True, text=True, timeout=timeout
        )
        if check and result.returncode != 0:
            raise ClusterError(
                f"{' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}\n{self.log_tails()}"
            )
        return result

    def log_tails(self, chars: int = 1500) -> str:
        parts = []
        if self.base is None:
            return ""
        for path in sorted((self.base / "log").glob("*.log")):
            try:
                parts.append(f"--- {path.name} ---\n{path.read_text(errors='replace')[-chars:]}")
            except OSError:
                pass
        return "\n".join(parts)

    # ---- bring-up -------------------------------------------------------------

    def start(self, timeout: float = 120, lock_timeout: float = 1800) -> SlurmCluster:
        if os.geteuid() != 0:
            raise ClusterUnavailable("the SLURM test cluster needs root (it writes /etc/slurm, daemons run as root)")
        install_packages()
        self._acquire_lock(lock_timeout)
        if self.base is None:
            self.base = Path(tempfile.mkdtemp(prefix="mftl-slurm-"))
        self._stop_stale_daemons()
        deadline = time.monotonic() + timeout
        self._stepds_before = _slurmstepd_pids()
        self._started = True
        try:
            for sub in ("munge", "log", "state", "spool", "mysql", "run"):
                (self.base / sub).mkdir(parents=True, exist_ok=True)
            # daemons and clients (all root here) must reach the munge socket through these folders
            for folder in (self.base, self.base / "munge", self.base / "run", self.base / "log"):
                folder.chmod(0o755)
            self.ports = {name: _free_port() for name in ("slurmctld", "slurmd", "slurmdbd", "mysql")}
            self._start_munge(deadline)
            self._write_configs()
            self._start_mariadb(deadline)
            self._start_slurmdbd(deadline)
            self._start_slurmctld(deadline)
            self._start_slurmd(deadline)
        except BaseException:
            self.stop()
            raise
        return self

    def _acquire_lock(self, timeout: float) -> None:
        """Wait while another test session on this machine runs its cluster (they share /etc/slurm)."""
        lock = open(LOCK_FILE, "a")
        end = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self._lock = lock
                return
            except BlockingIOError as exc:
                if time.monotonic() > end:
                    lock.close()
                    raise ClusterError(f"another SLURM test cluster held {LOCK_FILE} for {timeout:.0f} s") from exc
                time.sleep(1)

    def _stop_stale_daemons(self) -> None:
        """Stop the daemons a killed earlier session of this helper left (same PID, command and folder)."""
        try:
            record = json.loads(PIDS_FILE.read_text())
        except (OSError, ValueError):
            return
        stale_base = record.get("base", "")
        for pid, cmdline in record.get("pids", {}).items():
            proc = Path("/proc") / pid
            try:
                same = (proc / "cmdline").read_bytes().split(b"\0")[:-1] == [c.encode() for c in cmdline]
                same = same and os.readlink(proc / "cwd").startswith(stale_base)
            except OSError:
                continue
            if same and stale_base:
                os.kill(int(pid), signal.SIGKILL)
        if stale_base and Path(stale_base) != self.base:
            shutil.rmtree(stale_base, ignore_errors=True)
        PIDS_FILE.unlink(missing_ok=True)

    def _record_pids(self) -> None:
        pids = {str(p.pid): [str(a) for a in p.args] for p in self.procs.values() if p.poll() is None}
        if pids:
            PIDS_FILE.write_text(json.dumps({"base": str(self.base), "pids": pids}))
        else:
            PIDS_FILE.unlink(missing_ok=True)

    def _spawn(self, name: str, cmd: list[str]) -> subprocess.Popen:
        out = open(self.log(f"{name}.stdout"), "ab")
        # a session of its own: a Ctrl-C or timeout aimed at the tests reaches the daemons only through stop()
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=self.env(),
            cwd=self.base,
            start_new_session=True,
        )
        out.close()
        self.procs[name] = proc
        self._record_pids()
        return proc

    def _wait(self, what: str, ready, deadline: float, proc_name: str | None = None) -> None:
        while True:
            if ready():
                return
            proc = self.procs.get(proc_name) if proc_name else None
            if proc is not None and proc.poll() is not None:
                raise ClusterError(f"{proc_name} exited with {proc.returncode} before {what}\n{self.log_tails()}")
            if time.monotonic() > deadline:
                raise ClusterError(f"timed out waiting for {what}\n{self.log_tails()}")
            time.sleep(0.2)

    def _ok(self, *args: str) -> bool:
        try:
            return self.run(*args, check=False, timeout=10).returncode == 0
        except subprocess.TimeoutExpired:
            return False

    def _start_munge(self, deadline: float) -> None:
        key = self.base / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        self._spawn(
            "munged",
            [
                _which("munged"),
                "--foreground",
                "--force",
                f"--socket={self.munge_socket}",
                f"--key-file={key}",
                f"--log-file={self.log('munged')}",
                f"--pid-file={self.base / 'run' / 'munged.pid'}",
                f"--seed-file={self.base / 'munge' / 'munged.seed'}",
            ],
        )
        self._wait("munged", lambda: self._ok("munge", "-n", f"--socket={self.munge_socket}"), deadline, "munged")

    def _write_configs(self) -> None:
        base, ports, sock = self.base, self.ports, self.munge_socket
        slurm_conf = f"""{MARKER}
ClusterName={CLUSTER_NAME}
SlurmctldHost={self.host}(127.0.0.1)
SlurmctldPort={ports["slurmctld"]}
SlurmdPort={ports["slurmd"]}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={sock}
CredType=cred/munge
StateSaveLocation={base / "state"}
SlurmdSpoolDir={base / "spool"}
SlurmctldPidFile={base / "run" / "slurmctld.pid"}
SlurmdPidFile={base / "run" / "slurmd.pid"}
SlurmctldLogFile={self.log("slurmctld")}
SlurmdLogFile={self.log("slurmd")}
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SwitchType=switch/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort={ports["slurmdbd"]}
# slurmdbd is reached through this munge socket (22.05 reads it from here)
AccountingStoragePass={sock}
AccountingStorageTRES=gres/gpu
# keep sbatch --comment (the executor writes rule_<name>_wildcards_...) for sacct
AccountingStoreFlags=job_comment
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# without a default every job gets the whole node's memory and jobs run one at a time
DefMemPerCPU=500
ReturnToService=2
KillWait=5
InactiveLimit=0
MinJobAge=300
SlurmdTimeout=300
# trust the node line below: more CPUs and memory than this machine has, and a fake GPU
SlurmdParameters=config_overrides
GresTypes=gpu
NodeName={self.host} NodeAddr=127.0.0.1 CPUs={NODE_CPUS} RealMemory={NODE_MEMORY_MB} Gres=gpu:{NODE_GPUS} State=UNKNOWN
PartitionName={PARTITION} Nodes={self.host} Default=YES MaxTime=INFINITE State=UP
"""
        gres_conf = f"{MARKER}\nAutoDetect=off\nNodeName={self.host} Name=gpu File=/dev/null\n"
        self.db_password = os.urandom(12).hex()
        slurmdbd_conf = f"""{MARKER}
AuthType=auth/munge
AuthInfo=socket={sock}
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort={ports["slurmdbd"]}
SlurmUser=root
PidFile={base / "run" / "slurmdbd.pid"}
LogFile={self.log("slurmdbd")}
DebugLevel=info
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort={ports["mysql"]}
StorageUser=slurm
StoragePass={self.db_password}
StorageLoc=slurm_acct_db
"""
        SLURM_ETC.mkdir(parents=True, exist_ok=True)
        for name, text, mode in (
            ("slurm.conf", slurm_conf, 0o644),
            ("gres.conf", gres_conf, 0o644),
            ("slurmdbd.conf", slurmdbd_conf, 0o600),
        ):
            path = SLURM_ETC / name
            if name not in self._backups:
                existing = path.read_bytes() if path.exists() else None
                # a file left by an earlier, killed run of this helper is not worth keeping
                self._backups[name] = None if existing is not None and MARKER.encode() in existing else existing
            path.write_text(text)
            path.chmod(mode)

    def _mysql(self, sql: str) -> None:
        self.run("mariadb", "--no-defaults", f"--socket={self.base / 'run' / 'mysqld.sock'}", "-uroot", "-e", sql)

    def _start_mariadb(self, deadline: float) -> None:
        datadir = self.base / "mysql"
        result = self.run(
            "mariadb-install-db",
            "--no-defaults",
            f"--datadir={datadir}",
            "--user=root",
            "--auth-root-authentication-method=socket",
            "--skip-test-db",
            check=False,
            timeout=120,
        )
        if result.returncode != 0:
            raise ClusterError(f"mariadb-install-db failed:\n{result.stdout[-1500:]}\n{result.stderr[-1500:]}")
        sock = self.base / "run" / "mysqld.sock"
        self._spawn(
            "mariadbd",
            [
                _which("mariadbd"),
                "--no-defaults",
                f"--datadir={datadir}",
                f"--socket={sock}",
                f"--port={self.ports['mysql']}",
                "--bind-address=127.0.0.1",
                "--user=root",
                "--skip-name-resolve",
                f"--pid-file={self.base / 'run' / 'mysqld.pid'}",
                f"--log-error={self.log('mariadbd')}",
                "--innodb-buffer-pool-size=64M",
                "--innodb-log-file-size=16M",
                "--skip-log-bin",
                "--innodb-lock-wait-timeout=900",
            ],
        )
        self._wait(
            "mariadbd",
            lambda: self._ok("mariadb-admin", "--no-defaults", f"--socket={sock}", "-uroot", "ping"),
            deadline,
            "mariadbd",
        )
        self._mysql(
            f"CREATE USER 'slurm'@'%' IDENTIFIED BY '{self.db_password}';"
            " GRANT ALL ON slurm_acct_db.* TO 'slurm'@'%'; FLUSH PRIVILEGES;"
        )

    def _start_slurmdbd(self, deadline: float) -> None:
        self._spawn("slurmdbd", [_which("slurmdbd"), "-D"])
        self._wait("slurmdbd", lambda: self._ok("sacctmgr", "-n", "list", "cluster"), deadline, "slurmdbd")
        self.run("sacctmgr", "-i", "add", "cluster", CLUSTER_NAME)
        self.run("sacctmgr", "-i", "add", "account", ACCOUNT, "Description=mftl tests", "Organization=mftl")
        self.run("sacctmgr", "-i", "add", "user", "root", f"Account={ACCOUNT}")

    def _start_slurmctld(self, deadline: float) -> None:
        self._spawn("slurmctld", [_which("slurmctld"), "-D", "-i"])

        def up() -> bool:
            try:
                result = self.run("scontrol", "ping", check=False, timeout=10)
            except subprocess.TimeoutExpired:
                return False
            return result.returncode == 0 and "UP" in result.stdout

        self._wait("slurmctld", up, deadline, "slurmctld")

    def _start_slurmd(self, deadline: float) -> None:
        self._spawn("slurmd", [_which("slurmd"), "-D", "-N", self.host])

        def idle() -> bool:
            result = self.run("sinfo", "-h", "-N", "-o", "%t", check=False)
            return result.returncode == 0 and result.stdout.strip() == "idle"

        self._wait("the node to be idle", idle, deadline, "slurmd")

    # ---- queries used by tests --------------------------------------------------

    def jobs(self) -> list[dict[str, str]]:
        """Every job this cluster accounted (sacct, allocations only), as dicts."""
        fields = [
            "JobID",
            "JobName",
            "State",
            "Account",
            "Partition",
            "AllocTRES",
            "ReqTRES",
            "Timelimit",
            "Elapsed",
            "ExitCode",
            "Comment",
        ]
        result = self.run(
            "sacct", "-X", "-a", "--parsable2", "--noheader", "--starttime", "now-1days", f"--format={','.join(fields)}"
        )
        return [dict(zip(fields, line.split("|"), strict=True)) for line in result.stdout.splitlines() if line.strip()]

    def steps(self, job_id: str) -> list[dict[str, str]]:
        """The numbered steps (``srun``) of one job as sacct accounted them, in order; no batch step."""
        fields = ["JobID", "Start", "End", "State", "AllocTRES"]
        result = self.run("sacct", "-j", job_id, "--parsable2", "--noheader", f"--format={','.join(fields)}")
        steps = [dict(zip(fields, line.split("|"), strict=True)) for line in result.stdout.splitlines() if line.strip()]
        numbered = [step for step in steps if step["JobID"].split(".")[-1].isdigit() and "." in step["JobID"]]
        return sorted(numbered, key=lambda step: int(step["JobID"].split(".")[-1]))

    def cancel_all(self, timeout: float = 30) -> None:
        self.run("scancel", "--full", "--state=PENDING", check=False)
        ids = self.run("squeue", "-h", "-o", "%i", check=False).stdout.split()
        if ids:
            self.run("scancel", "--full", *ids, check=False)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if not self.run("squeue", "-h", "-o", "%i", check=False).stdout.strip():
                return
            time.sleep(0.5)

    # ---- teardown -------------------------------------------------------------

    def stop(self) -> None:
        """Cancel jobs, stop every daemon started here (by PID), restore /etc/slurm."""
        if not self._started:
            return
        self._started = False
        if "slurmctld" in self.procs and self.procs["slurmctld"].poll() is None:
            try:
                self.cancel_all()
            except (OSError, subprocess.SubprocessError, ClusterError):
                pass
        for name in ("slurmd", "slurmctld", "slurmdbd", "mariadbd", "munged"):
            proc = self.procs.get(name)
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        self._record_pids()
        # step daemons of this cluster's jobs outlive slurmd only if a job could not be cancelled
        for pid in _slurmstepd_pids() - self._stepds_before:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for name, content in self._backups.items():
            path = SLURM_ETC / name
            if content is None:
                path.unlink(missing_ok=True)
            else:
                path.write_bytes(content)
        self._backups.clear()
        if not self.keep_files:
            shutil.rmtree(self.base, ignore_errors=True)
        if self._lock is not None:
            self._lock.close()  # releases the flock
            self._lock = None

    def running_daemons(self) -> list[str]:
        return [name for name, proc in self.procs.items() if proc.poll() is None]

    def __enter__(self) -> SlurmCluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


if __name__ == "__main__":
    with SlurmCluster(keep_files=True) as cluster:
        print(f"cluster up in {cluster.base}; daemons: {', '.join(cluster.running_daemons())}")
        print(cluster.run("sinfo").stdout)
        try:
            signal.pause()
        except KeyboardInterrupt:
            pass
