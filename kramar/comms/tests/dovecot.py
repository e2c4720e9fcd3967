"""A private Dovecot IMAP server for the tests: a generated configuration in a temporary folder (passwd-file
users with plain passwords (one file per user), maildirs, plain IMAP on a free 127.0.0.1 port, no SSL, no system services, a log
file), started in the foreground and stopped by the fixture. Without the dovecot binary (Debian's package
dovecot-imapd, which .ci/run installs) the tests that need it are skipped."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

DOVECOT = shutil.which("dovecot") or ("/usr/sbin/dovecot" if os.path.exists("/usr/sbin/dovecot") else None)

CONFIG = """
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
mail_location = maildir:{root}/mail/%u
first_valid_uid = 0
first_valid_gid = 0
{users}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users/%u.passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = 0
  }}
}}
service submission-login {{
  inet_listener submission {{
    port = 0
  }}
}}
service lmtp {{
  unix_listener lmtp {{
    mode = 0666
  }}
}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Dovecot:
    host: str
    port: int
    root: Path
    password: str = "s3cret"

    def add_user(self, name: str, password: str | None = None) -> str:
        # one passwd-file per user (the path holds %u): a user added while the server runs is seen at once
        (self.root / "users" / f"{name}.passwd").write_text(f"{name}:{{PLAIN}}{password or self.password}\n")
        return name

    def client(self, user: str, password: str | None = None):
        from imapclient import IMAPClient

        client = IMAPClient(self.host, port=self.port, ssl=False, timeout=10)
        client.login(user, password or self.password)
        return client

    def append(self, user: str, *messages: bytes, folder: str = "INBOX") -> None:
        client = self.client(user)
        try:
            for raw in messages:
                client.append(folder, raw)
        finally:
            client.logout()

    def channel_settings(self, user: str, **extra) -> dict:
        return {"host": self.host, "port": self.port, "security": "none", "username": user, "folder": "INBOX",
                **extra}


def dovecot_start() -> tuple[Dovecot, subprocess.Popen]:
    if DOVECOT is None:
        pytest.skip("Dovecot is not installed (Debian package dovecot-imapd; .ci/run installs it)")
    root = Path(tempfile.mkdtemp(prefix="kramar-dovecot-"))
    root.chmod(0o755)
    for sub in ("run", "state", "mail", "users"):
        (root / sub).mkdir()
    if os.geteuid() == 0:
        # root may not own mail: the mail processes run as nobody; the login processes as Dovecot's own users
        uid, gid, users = 65534, 65534, ""
        os.chown(root / "mail", uid, gid)
    else:
        import grp
        import pwd

        uid, gid = os.getuid(), os.getgid()
        name, group = pwd.getpwuid(uid).pw_name, grp.getgrgid(gid).gr_name
        users = (f"default_internal_user = {name}\ndefault_login_user = {name}\n"
                 f"default_internal_group = {group}\n")
    port = free_port()
    (root / "dovecot.conf").write_text(CONFIG.format(root=root, port=port, uid=uid, gid=gid, users=users))
    log = open(root / "stdout.log", "wb")  # noqa: SIM115 (closed with the process)
    proc = subprocess.Popen([DOVECOT, "-F", "-c", str(root / "dovecot.conf")], stdout=log, stderr=log)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                if s.recv(100).startswith(b"* OK"):
                    return Dovecot(host="127.0.0.1", port=port, root=root), proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    details = ""
    for name in ("stdout.log", "dovecot.log"):
        path = root / name
        if path.exists():
            details += path.read_text(errors="replace")[-2000:]
    raise RuntimeError(f"Dovecot did not start on 127.0.0.1:{port}: {details}")


def dovecot_stop(proc: subprocess.Popen, root: Path) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def dovecot_server():
    """One Dovecot per test worker; each test makes its own users (mailboxes)."""
    server, proc = dovecot_start()
    try:
        yield server
    finally:
        dovecot_stop(proc, server.root)


@pytest.fixture
def private_dovecot():
    """A Dovecot of the test's own: for failed logins, whose penalty (Dovecot delays further logins from the
    same IP by seconds) must not slow the other tests down."""
    server, proc = dovecot_start()
    try:
        yield server
    finally:
        dovecot_stop(proc, server.root)


@pytest.fixture
def imap_user(dovecot_server, request):
    """A fresh mailbox user on the test's Dovecot."""
    name = f"u{abs(hash(request.node.nodeid)) % 10**10}{os.getpid()}"
    return dovecot_server.add_user(name)
