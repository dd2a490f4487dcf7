"""JupyterHub for an mTLS Lab workshop room on one host (`hub/start.sh` runs it, as root).

What each learner gets, on their first login:
- a system account of their own (LocalAuthenticator's ``create_system_users``), in the
  learners' group, with a home only they can open (mode 0700);
- their own copy of the course in ``~/mtls-lab`` (a ``git clone`` of MTLS_HUB_COURSE), so
  their own ``certs/``, ``.lab-state/``, servers and nginx: nothing is shared but the
  read-only Python environment of the hub (HUB_PREFIX/venv, made by hub/install.sh);
- their own PKI, made as them (``python -m lab pki init``), keys 0600;
- a Jupyter server running as them (LocalProcessSpawner), which opens notebook 00.

Everything is set by environment variables (hub/start.sh lists them), so the same file serves
the room test (loopback, free ports) and a real room (the facilitator's address).
"""

import asyncio
import grp
import os
import pwd
import shutil
import subprocess
from pathlib import Path

from jupyterhub.auth import LocalAuthenticator
from jupyterhub.authenticators.shared import SharedPasswordAuthenticator

c = get_config()  # noqa: F821 (JupyterHub's config loader defines it)

HERE = Path(__file__).resolve().parent
PREFIX = Path(os.environ.get("HUB_PREFIX", HERE / ".prefix"))
VENV_BIN = PREFIX / "venv" / "bin"
STATE = Path(os.environ.get("MTLS_HUB_STATE", PREFIX / "state"))
COURSE = os.environ.get("MTLS_HUB_COURSE", str(HERE.parent))
GROUP = os.environ.get("MTLS_HUB_GROUP", "mtls-learners")
COPY = "mtls-lab"  # the course's folder in each learner's home

STATE.mkdir(parents=True, exist_ok=True, mode=0o700)


def learners_gid() -> int:
    """The learners' group (made on first use): only its members may get a server here."""
    try:
        return grp.getgrnam(GROUP).gr_gid
    except KeyError:
        subprocess.run(["groupadd", GROUP], check=True)
        return grp.getgrnam(GROUP).gr_gid


# ---------------------------------------------------------------- the hub itself, over TLS
c.JupyterHub.ip = os.environ.get("MTLS_HUB_IP", "127.0.0.1")
c.JupyterHub.port = int(os.environ.get("MTLS_HUB_PORT", "8443"))
c.JupyterHub.ssl_cert = os.environ["MTLS_HUB_CERT"]
c.JupyterHub.ssl_key = os.environ["MTLS_HUB_KEY"]
# The hub's API and the proxy's API stay on loopback, on ports the room test can choose.
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = int(os.environ.get("MTLS_HUB_API_PORT", "8081"))
c.ConfigurableHTTPProxy.api_url = (
    f"http://127.0.0.1:{os.environ.get('MTLS_HUB_PROXY_API_PORT', '8001')}"
)
c.ConfigurableHTTPProxy.command = [
    str(PREFIX / "node" / "node_modules" / ".bin" / "configurable-http-proxy")
]
c.ConfigurableHTTPProxy.pid_file = str(STATE / "proxy.pid")
c.JupyterHub.db_url = f"sqlite:///{STATE / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(STATE / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(STATE / "jupyterhub.pid")


# ---------------------------------------------------------------- who may log in
class WorkshopAuthenticator(LocalAuthenticator, SharedPasswordAuthenticator):
    """One workshop password for the room, and a system account per learner name.

    A name that is already a system account outside the learners' group (root, the
    facilitator, a service) is refused: the shared password must never open a server that
    runs as anybody but a learner this hub created.
    """

    def check_blocked_users(self, username, authentication=None):
        # The block check, because allow_all skips check_allowed. True means "not blocked".
        try:
            account = pwd.getpwnam(username)
        except KeyError:  # a new learner: useradd puts them in the learners' group
            return super().check_blocked_users(username, authentication)
        if account.pw_gid != learners_gid():
            self.log.warning("%s is a system account outside %s: refused", username, GROUP)
            return False
        return super().check_blocked_users(username, authentication)


learners_gid()  # useradd --gid needs the group before the first login
c.JupyterHub.authenticator_class = WorkshopAuthenticator
c.WorkshopAuthenticator.user_password = os.environ["MTLS_HUB_PASSWORD"]
c.WorkshopAuthenticator.allow_all = True
c.WorkshopAuthenticator.create_system_users = True
# A home only its owner can open, a real shell for JupyterLab's terminal, no password (the
# account cannot log in by ssh or su: only the hub starts processes as it).
c.WorkshopAuthenticator.add_user_cmd = [
    "useradd",
    "--create-home",
    "--key",
    "HOME_MODE=0700",
    "--gid",
    GROUP,
    "--shell",
    "/bin/bash",
]
# Short lower-case names: they become system account names.
c.WorkshopAuthenticator.username_pattern = r"^[a-z][a-z0-9]{2,19}$"


# ---------------------------------------------------------------- each learner's own course
def course_for(spawner):
    """Before each start: the learner's own copy of the course and their own PKI.

    In a thread: a clone takes a second or two, and a room logs in at the same moment; the
    hub's event loop must keep serving the others meanwhile.
    """
    return asyncio.to_thread(prepare_course, spawner.user.name)


def prepare_course(name: str) -> None:
    account = pwd.getpwnam(name)
    if account.pw_gid != learners_gid():
        raise PermissionError(f"{name} is not in the group {GROUP}")
    home = Path(account.pw_dir)
    home.chmod(0o700)
    copy = home / COPY
    if not copy.exists():
        # Cloned by root (a learner may not read the facilitator's checkout), without hard
        # links (chown below must not reach the source's objects), then handed over.
        subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", COURSE, str(copy)], check=True)
        for path in [copy, *copy.rglob("*")]:
            os.lchown(path, account.pw_uid, account.pw_gid)
    subprocess.run(
        [str(VENV_BIN / "python"), "-m", "lab", "pki", "init", "--dir", "certs", "--if-missing"],
        cwd=copy,
        env=learner_env(account),
        user=account.pw_uid,
        group=account.pw_gid,
        extra_groups=[],
        check=True,
        capture_output=True,
    )


def learner_env(account) -> dict:
    """What a learner's processes see: the hub's Python first, `lab` from their own copy."""
    return {
        "HOME": account.pw_dir,
        "USER": account.pw_name,
        "PATH": f"{VENV_BIN}:/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin",
        "PYTHONPATH": str(Path(account.pw_dir) / COPY),
        "LANG": "C.UTF-8",
    }


c.Spawner.pre_spawn_hook = course_for
c.Spawner.cmd = [str(VENV_BIN / "jupyterhub-singleuser")]
c.Spawner.notebook_dir = f"~/{COPY}"
c.Spawner.default_url = "/lab/tree/notebooks/00_welcome.ipynb"
c.Spawner.environment = {
    key: (lambda spawner, key=key: learner_env(pwd.getpwnam(spawner.user.name))[key])
    for key in ("PATH", "PYTHONPATH", "LANG")
}
c.Spawner.http_timeout = 120
c.Spawner.start_timeout = 180
# Memory and CPU: LocalProcessSpawner does NOT enforce these; it only passes them to the
# server as MEM_LIMIT and CPU_LIMIT. To enforce them on one host, use systemdspawner
# (c.JupyterHub.spawner_class = "systemdspawner.SystemdSpawner"), whose mem_limit and
# cpu_limit become the systemd unit's MemoryMax and CPUQuota; on Kubernetes, hub/z2jh.
# Figures from the sizing table in docs/facilitator-guide.md.
c.Spawner.mem_limit = os.environ.get("MTLS_HUB_MEM_LIMIT", "1G")
c.Spawner.cpu_limit = float(os.environ.get("MTLS_HUB_CPU_LIMIT", "1"))


# ---------------------------------------------------------------- idle culling
c.JupyterHub.services = [
    {
        "name": "idle-culler",
        "command": [
            str(VENV_BIN / "python"),
            "-m",
            "jupyterhub_idle_culler",
            f"--timeout={os.environ.get('MTLS_HUB_CULL_TIMEOUT', '3600')}",
        ],
    }
]
c.JupyterHub.load_roles = [
    {
        "name": "idle-culler",
        "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
        "services": ["idle-culler"],
    }
]

if shutil.which("git") is None:
    raise SystemExit("the hub clones the course for each learner: install git")
