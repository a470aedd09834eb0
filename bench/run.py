#!/usr/bin/env python3
"""The SCIM benchmark: our services against a database floor and a peer implementation.

    python3 bench/run.py [--smoke] [--bin-dir DIR] [--out FILE] [--only scenario,...]
                         [--skip-targets stack,standalone,peer,floor] [--rss-users N]

Starts its own PostgreSQL (production durability: fsync and synchronous_commit on) and its own
tansu Kafka broker, then measures, one after another and each started fresh:

  floor       pgbench on the core's own tables (bench/pgbench/*.sql): what the database alone
              does for the rows a create / a read / an update touches
  stack       gateway + provisioning-core + directory-store on that PostgreSQL and tansu
  standalone  the single `standalone` process on SQLite
  peer        scim2-server 0.8.3 (python-scim, in memory) from PyPI, in a cached venv

with the scenarios of bench/README.md, driven by the `scim-bench` load client (crate bench/).
Prints a table (rps, p50, p99, ratios ours/floor and ours/peer) and writes every figure as JSON
to --out (default /tmp/bench-results.json). Everything it starts is stopped at exit.
Python 3.11 standard library only.
"""
import argparse
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
SERVICES = ["gateway", "provisioning-core", "directory-store", "standalone"]
PEER_VERSION = "0.8.3"
CACHE = os.path.expanduser("~/.cache/scim-provisioning")

SCENARIOS = ["create", "get", "filter", "patch-user", "lag", "webhooks", "member-add-small", "member-add-large",
             "member-add-huge", "initial-sync", "rss"]
TARGETS = ["floor", "stack", "standalone", "peer"]

FULL = dict(seed_users=5000, seconds=10, clients=16, member_small=10, member_large=50000, member_huge=100000,
            member_requests=500, member_seconds=60, sync_users=100000, sync_groups=1000,
            sync_memberships=200000, sync_clients=16, sync_cap=3600, peer_sync_cap=900,
            peer_member_large_cap=900, lag_sample=50, rss_load_seconds=10)
SMOKE = dict(seed_users=200, seconds=2, clients=16, member_small=10, member_large=200, member_huge=300,
             member_requests=20, member_seconds=10, sync_users=500, sync_groups=10,
             sync_memberships=1000, sync_clients=16, sync_cap=60, peer_sync_cap=60,
             peer_member_large_cap=60, lag_sample=10, rss_load_seconds=2)


def log(message):
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def http_status(url, headers=None, method="GET", body=None, timeout=2):
    """(status, body) of one request, or (None, error) when nothing answers."""
    rest = url.split("://", 1)[1]
    hostport, _, path = rest.partition("/")
    host, _, port = hostport.partition(":")
    try:
        c = http.client.HTTPConnection(host, int(port or 80), timeout=timeout)
        c.request(method, "/" + path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, data
    except OSError as e:
        return None, str(e).encode()


def proc_usage(pid):
    """{cpu_s, rss_mib, hwm_mib} of a live process from /proc (VmHWM is the peak RSS)."""
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        status = {line.split(":")[0]: line.split()[1] for line in open(f"/proc/{pid}/status") if line.startswith("Vm")}
        return {"cpu_s": round((int(fields[11]) + int(fields[12])) / ticks, 2),
                "rss_mib": round(int(status.get("VmRSS", 0)) / 1024, 1),
                "hwm_mib": round(int(status.get("VmHWM", 0)) / 1024, 1)}
    except (OSError, IndexError, ValueError):
        return None


class Runner:
    """Owns every process and temporary directory it starts; `close` stops and removes them."""

    def __init__(self, keep_logs=False):
        self.work = tempfile.mkdtemp(prefix="scim-bench-")
        os.chmod(self.work, 0o755)
        self.processes = []  # (name, Popen)
        self.cleanups = []
        self.keep_logs = keep_logs

    def spawn(self, name, argv, env, cwd=None):
        self.spawned = getattr(self, "spawned", 0) + 1
        path = os.path.join(self.work, f"{self.spawned:02d}-{name}.log")
        out = open(path, "wb")
        p = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             start_new_session=True, cwd=cwd)
        p.log_path = path
        p.bench_name = name
        self.processes.append((name, p))
        return p

    def stop(self, p, grace=15):
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                p.wait(grace)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()
        self.processes = [(n, q) for n, q in self.processes if q is not p]

    def close(self):
        for _, p in list(reversed(self.processes)):
            self.stop(p, grace=10)
        for cleanup in reversed(self.cleanups):
            try:
                cleanup()
            except Exception as e:  # best effort: everything else must still be cleaned up
                log(f"cleanup: {e}")
        if self.keep_logs:
            log(f"logs kept in {self.work}")
        else:
            shutil.rmtree(self.work, ignore_errors=True)


def tail(path, lines=30):
    try:
        return "".join(open(path, errors="replace").readlines()[-lines:])
    except OSError:
        return ""


def wait_http(url, processes, what, deadline=60, headers=None):
    end = time.time() + deadline
    while time.time() < end:
        status, _ = http_status(url, headers=headers)
        if status == 200:
            return
        for p in processes:
            if p.poll() is not None:
                raise RuntimeError(f"{p.bench_name} exited ({p.returncode}) before {what} was ready:\n{tail(p.log_path)}")
        time.sleep(0.1)
    raise RuntimeError(f"{what} ({url}) not ready after {deadline} s:\n" +
                       "\n".join(f"--- {p.bench_name}\n{tail(p.log_path)}" for p in processes))


# --- PostgreSQL ---------------------------------------------------------------------------------

def as_postgres(argv):
    return ["runuser", "-u", "postgres", "--"] + argv if os.geteuid() == 0 else argv


def pg_bin_dir():
    dirs = sorted((d for d in (os.path.join("/usr/lib/postgresql", v, "bin")
                               for v in (os.listdir("/usr/lib/postgresql") if os.path.isdir("/usr/lib/postgresql") else []))
                   if os.path.isdir(d)), key=lambda d: [int(x) if x.isdigit() else x for x in d.split("/")[-2].split(".")])
    return dirs[-1] if dirs else None


class Postgres:
    def __init__(self, runner, extra_conf):
        if pg_bin_dir() is None:
            log("installing Debian's postgresql")
            env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
            subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
            subprocess.run(["apt-get", "install", "-y", "-qq", "postgresql"], check=True, env=env,
                           stdout=subprocess.DEVNULL)
        self.bin = pg_bin_dir()
        if subprocess.run(["id", "postgres"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode != 0:
            subprocess.run(["useradd", "--system", "--home", runner.work, "postgres"], check=True)
        self.data = os.path.join(runner.work, "pg")
        os.mkdir(self.data)
        if os.geteuid() == 0:
            shutil.chown(self.data, "postgres")
        self.port = free_port()
        subprocess.run(as_postgres([f"{self.bin}/initdb", "-D", self.data, "-U", "postgres", "--auth=trust",
                                    "-E", "UTF8", "--locale=C.UTF-8"]),
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c max_connections=300"
        for item in extra_conf:
            options += f" -c {item}"
        runner.cleanups.append(self.stop)
        subprocess.run(as_postgres([f"{self.bin}/pg_ctl", "-D", self.data, "-l", f"{self.data}/server.log", "-w",
                                    "-o", options, "start"]), check=True, stdout=subprocess.DEVNULL)
        self.server = f"postgres://postgres@127.0.0.1:{self.port}"
        log(f"PostgreSQL {os.path.basename(os.path.dirname(self.bin))} on 127.0.0.1:{self.port} "
            f"(fsync, synchronous_commit on)")

    def stop(self):
        if os.path.exists(os.path.join(self.data, "postmaster.pid")):
            subprocess.run(as_postgres([f"{self.bin}/pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop"]),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def psql(self, db, sql=None, file=None, variables=None, capture=False):
        argv = [f"{self.bin}/psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", db,
                "-v", "ON_ERROR_STOP=1", "-q", "-X", "-A", "-t"]
        for k, v in (variables or {}).items():
            argv += ["-v", f"{k}={v}"]
        argv += ["-c", sql] if sql is not None else ["-f", file]
        r = subprocess.run(argv, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"psql on {db} failed: {r.stderr.strip()}")
        return r.stdout if capture else None

    def create_db(self, prefix):
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        self.psql("postgres", f"CREATE DATABASE {name}")
        return name, f"{self.server}/{name}"


# --- tansu (Kafka API) --------------------------------------------------------------------------

def kafka_string(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise OSError("the broker closed the connection")
        data += chunk
    return data


def kafka_create_topic(port, topic, partitions=3):
    """CreateTopics v0 (the Kafka wire protocol, no client library): 0 or 36 (exists) is fine."""
    body = struct.pack(">i", 1) + kafka_string(topic) + struct.pack(">ihii", partitions, 1, 0, 0) + struct.pack(">i", 10000)
    message = struct.pack(">hhi", 19, 0, 7) + kafka_string("scim-bench") + body
    with socket.create_connection(("127.0.0.1", port), timeout=15) as s:
        s.sendall(struct.pack(">i", len(message)) + message)
        size = struct.unpack(">i", recv_exact(s, 4))[0]
        reply = recv_exact(s, size)
    count = struct.unpack(">i", reply[4:8])[0]
    offset = 8
    for _ in range(count):
        n = struct.unpack(">h", reply[offset:offset + 2])[0]
        offset += 2 + n
        error = struct.unpack(">h", reply[offset:offset + 2])[0]
        offset += 2
        if error not in (0, 36):
            raise RuntimeError(f"creating topic {topic}: Kafka error {error}")


class Tansu:
    def __init__(self, runner):
        # The same build and cache as scripts/test.sh (libsql: its fault suite needs sqlite://).
        root = os.environ.get("TANSU_ROOT", os.path.join(CACHE, "tansu-0.6.0-libsql"))
        binary = os.environ.get("TANSU_BIN", os.path.join(root, "bin", "tansu"))
        if not os.access(binary, os.X_OK):
            log(f"building tansu once (about 15 minutes); cached in {root}")
            subprocess.run(["cargo", "install", "--locked", "tansu", "--version", "0.6.0", "--features",
                            "dynostore,postgres,libsql", "--root", root], check=True)
        self.port = free_port()
        url = f"tcp://127.0.0.1:{self.port}"
        self.process = runner.spawn("tansu", [binary, "broker", "--listener-url", url, "--advertised-listener-url", url,
                                              "--storage-engine", "memory://tansu/"], dict(os.environ, RUST_LOG="warn"))
        end = time.time() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.time() > end or self.process.poll() is not None:
                    raise RuntimeError(f"tansu did not open port {self.port}:\n{tail(self.process.log_path)}")
                time.sleep(0.1)
        self.bootstrap = f"127.0.0.1:{self.port}"
        log(f"tansu on {self.bootstrap}")


# --- the targets --------------------------------------------------------------------------------

# The directory API needs a service credential: every target registers this one (global, read)
# as the core's (DIRECTORY_INTERNAL_TOKEN, DIRECTORY_TOKEN), and the bench reads with it too.
DIRECTORY_TOKEN = "dirsvc_bench_internal_credential_read_all"
DIRECTORY_AUTH = {"Authorization": f"Bearer {DIRECTORY_TOKEN}"}


def base_env(extra):
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TMPDIR") if k in os.environ}
    env.update({"DIRECTORY_INTERNAL_TOKEN": DIRECTORY_TOKEN, "DIRECTORY_TOKEN": DIRECTORY_TOKEN,
                # the webhooks scenario's receiver listens on 127.0.0.1
                "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true"})
    env.update(extra)
    return env


class Target:
    """A started system: its tenant URL and token, its directory, its processes."""
    name = ""
    directory = None
    tenant = None

    def __init__(self):
        self.processes = {}  # name → Popen

    def usage(self):
        return {name: proc_usage(p.pid) for name, p in self.processes.items()}

    def check_alive(self):
        """Raises when a service process has exited (with the end of its log)."""
        for name, p in self.processes.items():
            if p.poll() is not None:
                raise RuntimeError(f"{self.name}: {name} exited with status {p.returncode}:\n{tail(p.log_path, 40)}")


def warm_up(target, deadline=90):
    """One user and one group through the whole path: the topic exists and the directory consumes."""
    headers = {"Authorization": f"Bearer {target.token}", "Content-Type": "application/scim+json"}
    user = json.dumps({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                       "userName": f"warmup-{uuid.uuid4().hex}@example.com"})
    status, body = http_status(f"{target.url}/Users", headers, "POST", user, timeout=30)
    if status != 201:
        raise RuntimeError(f"{target.name}: warm-up POST /Users → {status}: {body[:500]!r}")
    if target.directory is None:
        return
    uid = json.loads(body)["id"]
    group = json.dumps({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": f"warmup-{uid}",
                        "members": [{"value": uid}]})
    status, body = http_status(f"{target.url}/Groups", headers, "POST", group, timeout=30)
    if status != 201:
        raise RuntimeError(f"{target.name}: warm-up POST /Groups → {status}: {body[:500]!r}")
    gid = json.loads(body)["id"]
    started = time.time()
    for kind, rid in (("accounts", uid), ("teams", gid)):
        while True:
            status, _ = http_status(f"{target.directory}/v1/tenants/{target.tenant}/{kind}/{rid}", DIRECTORY_AUTH)
            if status == 200:
                break
            if time.time() - started > deadline:
                raise RuntimeError(f"{target.name}: the warm-up {kind[:-1]} never reached the directory "
                                   f"(last status {status})")
            time.sleep(0.05)
    log(f"{target.name}: first events reached the directory in {time.time() - started:.1f} s")


class Stack(Target):
    name = "stack"

    def __init__(self, runner, bins, pg, tansu, extra_env):
        super().__init__()
        self.runner, self.pg = runner, pg
        suffix = uuid.uuid4().hex[:10]
        self.core_db_name, core_db = pg.create_db("bench_core")
        self.dir_db_name, dir_db = pg.create_db("bench_dir")
        topic = f"scim-bench-{suffix}"
        kafka_create_topic(tansu.port, topic)
        self.token = f"scim_local_{uuid.uuid4().hex}"
        ports = {k: free_port() for k in ("core", "admin", "gateway", "management", "dir_http", "dir_grpc")}
        self.tenant = "bench"
        common = {"RUST_LOG": "warn", "KAFKA_BOOTSTRAP_SERVERS": tansu.bootstrap, "KAFKA_TOPIC": topic}
        core_env = base_env({**common, "DATABASE_URL": core_db, "CORE_GRPC_ADDR": f"127.0.0.1:{ports['core']}",
                             "ADMIN_HTTP_ADDR": f"127.0.0.1:{ports['admin']}", "ADMIN_TOKEN": "bench-admin",
                             "BOOTSTRAP_TENANT": self.tenant, "SCIM_BOOTSTRAP_TOKEN": self.token,
                             "RATE_LIMIT_PER_SECOND": "1000000", "RATE_LIMIT_BURST": "1000000",
                             "DIRECTORY_GRPC_URL": f"http://127.0.0.1:{ports['dir_grpc']}", **extra_env})
        dir_env = base_env({**common, "DATABASE_URL": dir_db, "DIRECTORY_HTTP_ADDR": f"127.0.0.1:{ports['dir_http']}",
                            "DIRECTORY_GRPC_ADDR": f"127.0.0.1:{ports['dir_grpc']}",
                            "KAFKA_GROUP_ID": f"directory-{suffix}", **extra_env})
        gw_env = base_env({"RUST_LOG": "warn", "GATEWAY_HTTP_ADDR": f"127.0.0.1:{ports['gateway']}",
                           "MANAGEMENT_HTTP_ADDR": f"127.0.0.1:{ports['management']}",
                           "CORE_GRPC_URL": f"http://127.0.0.1:{ports['core']}", **extra_env})
        for binary, env in (("provisioning-core", core_env), ("directory-store", dir_env)):
            r = subprocess.run([bins[binary], "migrate"], env=env, capture_output=True, text=True)
            if r.returncode != 0:
                raise RuntimeError(f"{binary} migrate failed: {r.stdout}{r.stderr}")
        self.core_db, self.dir_db = core_db, dir_db
        core = runner.spawn("provisioning-core", [bins["provisioning-core"], "serve"], core_env)
        directory = runner.spawn("directory-store", [bins["directory-store"], "serve"], dir_env)
        gateway = runner.spawn("gateway", [bins["gateway"]], gw_env)
        self.processes = {"gateway": gateway, "provisioning-core": core, "directory-store": directory}
        every = list(self.processes.values())
        wait_http(f"http://127.0.0.1:{ports['admin']}/livez", every, "provisioning-core")
        wait_http(f"http://127.0.0.1:{ports['dir_http']}/readyz", every, "directory-store")
        wait_http(f"http://127.0.0.1:{ports['gateway']}/readyz", every, "gateway")
        self.url = f"http://127.0.0.1:{ports['gateway']}/scim/v2"
        self.directory = f"http://127.0.0.1:{ports['dir_http']}"
        self.admin = f"http://127.0.0.1:{ports['admin']}"
        warm_up(self)

    def largest_event(self):
        """The largest event payload in the core's outbox (bytes), and how many events it holds."""
        out = self.pg.psql(self.core_db_name, "SELECT COALESCE(MAX(LENGTH(payload)), 0), COUNT(*) FROM outbox",
                           capture=True)
        largest, count = out.strip().split("|")
        return int(largest), int(count)

    def stop(self):
        for p in self.processes.values():
            self.runner.stop(p)
        for name in (self.core_db_name, self.dir_db_name):
            try:
                self.pg.psql("postgres", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            except RuntimeError as e:
                log(str(e))


class Standalone(Target):
    name = "standalone"

    def __init__(self, runner, bins, extra_env):
        super().__init__()
        self.runner = runner
        self.data = tempfile.mkdtemp(prefix="standalone-", dir=runner.work)
        self.token = f"scim_local_{uuid.uuid4().hex}"
        ports = {k: free_port() for k in ("gateway", "dir_http", "dir_grpc", "admin")}
        env = base_env({"DATA_DIR": self.data, "GATEWAY_HTTP_ADDR": f"127.0.0.1:{ports['gateway']}",
                        "DIRECTORY_HTTP_ADDR": f"127.0.0.1:{ports['dir_http']}",
                        "DIRECTORY_GRPC_ADDR": f"127.0.0.1:{ports['dir_grpc']}",
                        "ADMIN_HTTP_ADDR": f"127.0.0.1:{ports['admin']}", "ADMIN_TOKEN": "bench-admin",
                        "SCIM_BOOTSTRAP_TOKEN": self.token, "RATE_LIMIT_PER_SECOND": "1000000",
                        "RATE_LIMIT_BURST": "1000000", "RUST_LOG": "warn", **extra_env})
        p = runner.spawn("standalone", [bins["standalone"]], env)
        self.processes = {"standalone": p}
        wait_http(f"http://127.0.0.1:{ports['gateway']}/readyz", [p], "standalone")
        wait_http(f"http://127.0.0.1:{ports['dir_http']}/readyz", [p], "standalone's directory")
        self.url = f"http://127.0.0.1:{ports['gateway']}/scim/v2"
        self.directory = f"http://127.0.0.1:{ports['dir_http']}"
        self.admin = f"http://127.0.0.1:{ports['admin']}"
        self.tenant = "default"
        warm_up(self)

    def largest_event(self):
        """The largest event payload in the core's outbox (bytes), and how many events it holds."""
        import sqlite3
        db = sqlite3.connect(f"file:{os.path.join(self.data, 'core.db')}?mode=ro", uri=True, timeout=30)
        try:
            largest, count = db.execute("SELECT COALESCE(MAX(LENGTH(payload)), 0), COUNT(*) FROM outbox").fetchone()
        finally:
            db.close()
        return int(largest), int(count)

    def stop(self):
        for p in self.processes.values():
            self.runner.stop(p)
        shutil.rmtree(self.data, ignore_errors=True)


def peer_venv():
    venv = os.path.join(CACHE, "bench-venv")
    binary = os.path.join(venv, "bin", "scim2-server")
    python = os.path.join(venv, "bin", "python")
    if os.access(binary, os.X_OK):
        r = subprocess.run([python, "-c", "import importlib.metadata as m; print(m.version('scim2-server'))"],
                           capture_output=True, text=True)
        if r.stdout.strip() == PEER_VERSION:
            return binary
    log(f"installing scim2-server {PEER_VERSION} into {venv}")
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    subprocess.run([python, "-m", "pip", "install", "-q", f"scim2-server=={PEER_VERSION}"], check=True)
    return binary


class Peer(Target):
    name = "peer"

    def __init__(self, runner):
        super().__init__()
        self.runner = runner
        binary = peer_venv()
        port = free_port()
        self.token = f"peer_{uuid.uuid4().hex}"
        p = runner.spawn("scim2-server", [binary, "--hostname", "127.0.0.1", "--port", str(port),
                                          "--bearer-token", self.token], base_env({"PYTHONUNBUFFERED": "1"}))
        self.processes = {"scim2-server": p}
        self.url = f"http://127.0.0.1:{port}/v2"
        wait_http(f"{self.url}/ServiceProviderConfig", [p], "scim2-server",
                  headers={"Authorization": f"Bearer {self.token}"})
        warm_up(self)

    def stop(self):
        for p in self.processes.values():
            self.runner.stop(p)


# --- the load client ----------------------------------------------------------------------------

class Bench:
    def __init__(self, binary, threads, work):
        self.binary, self.threads, self.work = binary, threads, work

    def run(self, subcommand, target, timeout, **options):
        argv = [self.binary, subcommand, "--url", target.url, "--token", target.token, "--threads", str(self.threads)]
        for k, v in options.items():
            if v is not None:
                argv += [f"--{k.replace('_', '-')}", str(v)]
        log(f"{target.name}: {subcommand} " + " ".join(argv[8:]))
        try:
            env = dict(os.environ, RUST_BACKTRACE="0", RUST_LIB_BACKTRACE="0", DIRECTORY_TOKEN=DIRECTORY_TOKEN)
            r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)
        except subprocess.TimeoutExpired:
            return {"scenario": subcommand, "failed": f"no answer within {timeout:.0f} s (killed)"}
        if r.stderr.strip():
            for line in r.stderr.strip().splitlines()[-5:]:
                log(f"  {line}")
        if r.returncode != 0:
            errors = [line for line in r.stderr.splitlines() if line.startswith("Error:")]
            return {"scenario": subcommand, "failed": (errors or r.stderr.strip().splitlines() or ["?"])[-1]}
        return json.loads(r.stdout.strip().splitlines()[-1])


# --- the floor (pgbench) ------------------------------------------------------------------------

def pgbench(pg, db, script, seconds, clients, seed_users, logs):
    prefix = os.path.join(logs, f"pgbench-{os.path.basename(script)[:-4]}")
    argv = [f"{pg.bin}/pgbench", "-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres", "-n", "-M", "prepared",
            "-c", str(clients), "-j", "2", "-T", str(seconds), "-D", f"seed_users={seed_users}",
            "-l", f"--log-prefix={prefix}", "-f", script, db]
    r = subprocess.run(argv, capture_output=True, text=True, cwd=logs)
    if r.returncode != 0:
        return {"failed": (r.stderr.strip() or r.stdout.strip())[-800:]}
    out = {}
    for line in r.stdout.splitlines():
        line = line.strip()
        if line.startswith("tps = "):
            out["tps"] = float(line.split()[2])
        elif line.startswith("latency average = "):
            out["latency_avg_ms"] = float(line.split()[3])
        elif line.startswith("number of transactions actually processed:"):
            out["requests"] = int(line.split(":")[1].split("/")[0].strip())
        elif line.startswith("number of failed transactions:"):
            out["errors"] = int(line.split(":")[1].split()[0])
    latencies = []
    for name in os.listdir(logs):
        if name.startswith(os.path.basename(prefix) + "."):
            with open(os.path.join(logs, name)) as f:
                for row in f:
                    parts = row.split()
                    if len(parts) >= 3 and parts[2].isdigit():
                        latencies.append(int(parts[2]))
            os.remove(os.path.join(logs, name))
    latencies.sort()
    pick = lambda q: round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] / 1000, 3) if latencies else 0.0
    out.update({"scenario": f"pgbench {os.path.basename(script)}", "rps": out.get("tps", 0.0), "seconds": seconds,
                "clients": clients, "p50_ms": pick(0.5), "p90_ms": pick(0.9), "p99_ms": pick(0.99),
                "errors": out.get("errors", 0)})
    return out


def run_floor(pg, bins, sizes, only, logs):
    db_name, url = pg.create_db("bench_floor")
    r = subprocess.run([bins["provisioning-core"], "migrate"], env=base_env({"DATABASE_URL": url}),
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"provisioning-core migrate (floor) failed: {r.stdout}{r.stderr}")
    pg.psql(db_name, file=os.path.join(BENCH, "pgbench", "seed.sql"), variables={"seed_users": sizes["seed_users"]})
    results = {}
    plan = [("create", "create.sql"), ("select", "select.sql"), ("update", "update.sql")]
    wanted = {"create": "create" in only, "select": bool({"get", "filter"} & only), "update": "patch-user" in only}
    for name, script in plan:
        if not wanted[name]:
            continue
        log(f"floor: pgbench {script} ({sizes['clients']} clients, {sizes['seconds']} s)")
        results[name] = pgbench(pg, db_name, os.path.join(BENCH, "pgbench", script), sizes["seconds"],
                                sizes["clients"], sizes["seed_users"], logs)
        if "failed" in results[name]:
            log(f"floor: {script} failed: {results[name]['failed']}")
    pg.psql("postgres", f"DROP DATABASE IF EXISTS {db_name} WITH (FORCE)")
    # The floor's figure for each SCIM scenario.
    mapping = {"create": "create", "get": "select", "filter": "select", "patch-user": "update"}
    return {scenario: results[source] for scenario, source in mapping.items() if source in results}


# --- the scenarios on one target ------------------------------------------------------------------

def snapshot(target, record, label, before=None):
    usage = target.usage()
    if before is not None:
        for name, u in usage.items():
            if u and before.get(name):
                u["cpu_s_delta"] = round(u["cpu_s"] - before[name]["cpu_s"], 2)
    record.setdefault("usage", {})[label] = usage
    return usage


def run_scenarios(target, bench, sizes, only, record, work, is_peer):
    """Phase A on a fresh target: seed, create, get, filter, patch-user, lag, member-add."""
    scenarios = record.setdefault("scenarios", {})
    seconds, clients = sizes["seconds"], sizes["clients"]
    slack = 120 + seconds * 3
    seed_file = os.path.join(work, f"seed-{target.name}.json")
    needs_seed = bool({"get", "filter", "patch-user", "member-add-small"} & only)
    if needs_seed:
        result = bench.run("seed", target, timeout=600 + sizes["seed_users"] / 10, users=sizes["seed_users"],
                           clients=clients, out=seed_file)
        record["seed"] = result
        target.check_alive()
        if result.get("errors") or "failed" in result:
            raise RuntimeError(f"{target.name}: seeding failed: {json.dumps(result)[:500]}")
        if isinstance(target, Stack):
            # Steady state, as pgbench measures after its own init: statistics of the seeded
            # tables (autovacuum would take up to a minute to gather them; until then PostgreSQL
            # plans from the empty tables' estimates, which is the initial sync's regime).
            for name in (target.core_db_name, target.dir_db_name):
                target.pg.psql(name, "ANALYZE")
    base = snapshot(target, record, "after-seed")

    def measure(name, subcommand, timeout, **options):
        nonlocal base
        before = target.usage()
        scenarios[name] = bench.run(subcommand, target, timeout, **options)
        base = snapshot(target, record, name, before)
        target.check_alive()

    if "create" in only:
        measure("create", "create", slack, clients=clients, seconds=seconds)
    for name in ("get", "filter", "patch-user"):
        if name in only:
            measure(name, name, slack, clients=clients, seconds=seconds, ids_file=seed_file)
    if "lag" in only and target.directory:
        measure("lag", "lag", slack + 60, clients=clients, seconds=seconds, directory_url=target.directory,
                tenant=target.tenant, sample_every=10)
    if "webhooks" in only and getattr(target, "admin", None):
        before = target.usage()
        scenarios["webhooks"] = run_webhooks(target, bench, clients, seconds, slack)
        snapshot(target, record, "webhooks", before)
        target.check_alive()
    if "member-add-small" in only:
        measure("member-add-small", "member-add", 600, group_size=sizes["member_small"],
                requests=sizes["member_requests"], seconds=sizes["member_seconds"], seed_file=seed_file)
    for name, size in (("member-add-large", "member_large"), ("member-add-huge", "member_huge")):
        if name not in only:
            continue
        cap = sizes["peer_member_large_cap"] if is_peer else None
        timeout = (cap or 3600) + sizes["member_seconds"] + 120
        measure(name, "member-add", timeout, group_size=sizes[size],
                requests=sizes["member_requests"], seconds=sizes["member_seconds"],
                seed_file=seed_file if os.path.exists(seed_file) else None, max_setup_seconds=cap)
    if hasattr(target, "largest_event"):
        largest, count = target.largest_event()
        record["largest_event_bytes"], record["outbox_events"] = largest, count
        log(f"{target.name}: largest event {largest} bytes of {count} events")


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else None


def run_webhooks(target, bench, clients, seconds, slack):
    """A webhook endpoint (a threaded HTTP receiver here, answering 204) for the tenant, then
    the create load: every user.created is delivered. Events per second at the endpoint (first
    to last arrival) and the delay from each event's commit (`time`) to its arrival."""
    import datetime
    import http.server
    import threading

    arrivals = []
    lock = threading.Lock()

    class Receiver(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            now = time.time()
            try:
                event = json.loads(body)
                at = datetime.datetime.fromisoformat(event["time"].replace("Z", "+00:00")).timestamp()
                with lock:
                    arrivals.append((now, now - at, event["id"]))
            except (ValueError, KeyError):
                pass
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    headers = {"Authorization": "Bearer bench-admin", "Content-Type": "application/json"}
    endpoint = None
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        status, reply = http_status(f"{target.admin}/admin/v1/webhooks", headers, "POST",
                                    json.dumps({"url": url, "tenant": target.tenant}), timeout=10)
        if status != 201:
            return {"failed": f"creating the endpoint → {status}: {reply[:200]!r}"}
        endpoint = json.loads(reply)["id"]
        load = bench.run("create", target, slack, clients=clients, seconds=seconds)
        deadline = time.time() + 300
        while True:
            status, reply = http_status(f"{target.admin}/admin/v1/webhooks/{endpoint}", headers, timeout=10)
            counts = json.loads(reply)["deliveries"] if status == 200 else {}
            if counts and counts["pending"] == 0 and counts["delivered"] > 0:
                break
            if time.time() > deadline:
                return {"failed": f"deliveries still pending after 300 s: {counts}", "load": load}
            time.sleep(0.2)
        with lock:
            got = list(arrivals)
        ids = {i for _, _, i in got}
        span = max(a for a, _, _ in got) - min(a for a, _, _ in got)
        delays = [d * 1000 for _, d, _ in got]
        return {"rps": round(len(ids) / span, 1) if span > 0 else None, "p50_ms": percentile(delays, 0.5),
                "p99_ms": percentile(delays, 0.99), "max_ms": max(delays), "events": len(ids),
                "requests": len(got), "delivered": counts["delivered"], "dead": counts["dead"],
                "errors": counts["dead"] + (len(ids) != counts["delivered"]), "load_rps": load.get("rps")}
    finally:
        if endpoint:
            http_status(f"{target.admin}/admin/v1/webhooks/{endpoint}", headers, "DELETE", timeout=10)
        server.shutdown()


def run_initial_sync(target, bench, sizes, record, work, is_peer):
    """Phase B on a fresh target: the initial sync, with directory lag sampled along."""
    cap = sizes["peer_sync_cap"] if is_peer else sizes["sync_cap"]
    options = dict(users=sizes["sync_users"], groups=sizes["sync_groups"], memberships=sizes["sync_memberships"],
                   clients=sizes["sync_clients"], max_seconds=cap)
    if target.directory:
        options.update(directory_url=target.directory, tenant=target.tenant, lag_sample=sizes["lag_sample"])
    before = target.usage()
    result = bench.run("seed", target, timeout=cap + 300, **options)
    record.setdefault("scenarios", {})["initial-sync"] = result
    snapshot(target, record, "initial-sync", before)
    target.check_alive()
    if result.get("complete") is False:
        log(f"{target.name}: the initial sync did not finish within {cap} s: "
            f"{json.dumps({k: v.get('done') for k, v in result.get('phases', {}).items()})}")


def run_rss(runner, pg, bins, tansu, bench, sizes, users, record, work, extra_env):
    """Phase C: N users written straight into the stack's tables, then RSS after a short load."""
    stack = Stack(runner, bins, pg, tansu, extra_env)
    try:
        headers = {"Authorization": f"Bearer {stack.token}", "Content-Type": "application/scim+json"}
        template_name = f"rss-template-{uuid.uuid4().hex[:12]}@example.com"
        body = json.dumps({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": template_name,
                           "name": {"givenName": "Given", "familyName": "Bench"}, "displayName": "Given Bench",
                           "emails": [{"value": template_name, "type": "work", "primary": True}], "active": True})
        status, reply = http_status(f"{stack.url}/Users", headers, "POST", body, timeout=30)
        if status != 201:
            raise RuntimeError(f"rss: template user → {status}: {reply[:300]!r}")
        template_id = json.loads(reply)["id"]
        end = time.time() + 60
        while http_status(f"{stack.directory}/v1/tenants/{stack.tenant}/accounts/{template_id}", DIRECTORY_AUTH)[0] != 200:
            if time.time() > end:
                raise RuntimeError("rss: the template user never reached the directory")
            time.sleep(0.05)
        salt = uuid.uuid4().hex[:8]
        record["rss_before_insert"] = stack.usage()
        started = time.time()
        step = 100000
        for db, tables in ((stack.core_db.rsplit("/", 1)[1], [("scim_users", "id"), ("scim_user_emails", "user_id")]),
                           (stack.dir_db.rsplit("/", 1)[1], [("accounts", "id")])):
            for table, key in tables:
                columns = pg.psql(db, "SELECT column_name || ' ' || data_type FROM information_schema.columns "
                                      f"WHERE table_name = '{table}' ORDER BY ordinal_position", capture=True).split("\n")
                columns = [c.split(" ", 1) for c in columns if c.strip()]
                new_id = f"md5('rss{salt}' || g)::uuid::text"
                new_name = f"'rss-' || g || '-{salt}@example.com'"
                exprs = [f"replace(replace(t.{c}, '{template_id}', {new_id}), '{template_name}', {new_name})"
                         if kind == "text" else f"t.{c}" for c, kind in columns]
                names = ", ".join(c for c, _ in columns)
                for low in range(1, users + 1, step):
                    high = min(users, low + step - 1)
                    pg.psql(db, f"INSERT INTO {table} ({names}) SELECT {', '.join(exprs)} FROM {table} t, "
                                f"generate_series({low}, {high}) g WHERE t.{key} = '{template_id}'")
            pg.psql(db, "ANALYZE")
        record["rss_insert_seconds"] = round(time.time() - started, 1)
        log(f"rss: {users} users written into the stack's databases in {record['rss_insert_seconds']} s")
        ids_file = os.path.join(work, "rss-ids.json")
        sample = range(1, users + 1, max(1, users // 10000))
        with open(ids_file, "w") as f:
            json.dump({"users": [{"id": str(uuid.UUID(hashlib.md5(f"rss{salt}{g}".encode()).hexdigest())),
                                  "userName": f"rss-{g}-{salt}@example.com"} for g in sample], "groups": []}, f)
        record["rss_after_insert"] = stack.usage()
        load = {}
        for name in ("get", "filter", "create"):
            options = dict(clients=sizes["clients"], seconds=sizes["rss_load_seconds"])
            if name != "create":
                options["ids_file"] = ids_file
            load[name] = bench.run(name, stack, sizes["rss_load_seconds"] * 3 + 120, **options)
        record["rss_load"] = load
        record["rss_after_load"] = stack.usage()
        record["rss_users"] = users
    finally:
        stack.stop()


# --- the report -----------------------------------------------------------------------------------

def fmt(x, digits=0):
    if x is None:
        return "-"
    return f"{x:,.{digits}f}"


def table(results, order):
    targets = [t for t in TARGETS if t in results["targets"]]
    floor = results["targets"].get("floor", {}).get("scenarios", {})
    peer = results["targets"].get("peer", {}).get("scenarios", {})
    lines = [f"{'scenario':<20}{'target':<12}{'rps':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}"
             f"{'/floor':>9}{'/peer':>9}  note"]
    rows = []
    for scenario in order:
        for t in targets:
            r = results["targets"][t].get("scenarios", {}).get(scenario)
            if r is None:
                continue
            label = scenario
            if scenario.startswith("member-add") and "group_size" in r:
                label = f"member-add K={r['group_size']}"
            note = ""
            if "failed" in r:
                note = f"FAILED: {r['failed'][:60]}"
            if t == "floor":
                note = r.get("scenario", "") + (f", avg {r.get('latency_avg_ms')} ms" if "latency_avg_ms" in r else "")
            if scenario == "webhooks" and "events" in r:
                note = (f"events/s at one endpoint; delay event time→arrival, max {fmt(r['max_ms'], 1)} ms; "
                        f"{r['events']} events under a create load of {fmt(r.get('load_rps'))} rps")
            if scenario == "initial-sync" and "phases" in r:
                ph = r["phases"]
                note = (f"users {fmt(ph['users']['rps'])}/s, groups {fmt(ph['groups']['rps'])}/s, "
                        f"memberships {fmt(ph['memberships']['memberships_per_second'])}/s"
                        + ("" if r.get("complete", True) else
                           f"; INCOMPLETE ({ph['users']['done']}/{ph['users']['wanted']} users, "
                           f"{ph['memberships']['done']}/{ph['memberships']['wanted']} memberships)"))
            ratio = lambda other: (f"{r['rps'] / other['rps']:.2f}"
                                   if other and other.get("rps") and r.get("rps") and t in ("stack", "standalone")
                                   else "-")
            line = (f"{label:<20}{t:<12}{fmt(r.get('rps')):>10}{fmt(r.get('p50_ms'), 2):>10}"
                    f"{fmt(r.get('p99_ms'), 2):>10}{fmt(r.get('errors')):>8}"
                    f"{ratio(floor.get(scenario)):>9}{ratio(peer.get(scenario)):>9}  {note}")
            lines.append(line)
            rows.append({"scenario": scenario, "target": t, "rps": r.get("rps"), "p50_ms": r.get("p50_ms"),
                         "p99_ms": r.get("p99_ms"), "errors": r.get("errors"),
                         "vs_floor": ratio(floor.get(scenario)), "vs_peer": ratio(peer.get(scenario)), "note": note})
    lag_lines = []
    for t in targets:
        for scenario in ("lag", "initial-sync"):
            r = results["targets"][t].get("scenarios", {}).get(scenario, {})
            if "lag_accounts" in r:
                a, g = r["lag_accounts"], r["lag_teams"]
                lag_lines.append(f"{t:<12}{scenario:<14}accounts n={a['samples']:<5} p50 {a['p50_ms']:>8.2f} "
                                 f"p99 {a['p99_ms']:>8.2f} max {a['max_ms']:>8.2f} | teams n={g['samples']:<4} "
                                 f"p50 {g['p50_ms']:>8.2f} p99 {g['p99_ms']:>8.2f}  "
                                 f"(timeouts {r['lag']['timeouts']}, skipped {r['lag']['skipped_busy']})")
    if lag_lines:
        lines += ["", "directory lag (ms from the SCIM 201 to the record readable in directory-store)"] + lag_lines
    rss_lines = []
    for t in targets:
        usage = results["targets"][t].get("usage", {})
        peaks = {}
        for snap in usage.values():
            for name, u in (snap or {}).items():
                if u:
                    peaks[name] = max(peaks.get(name, 0), u["hwm_mib"])
        if peaks:
            rss_lines.append(f"{t:<12}" + ", ".join(f"{n} {v:.0f} MiB" for n, v in peaks.items()))
        rss = results["targets"][t]
        if "rss_after_load" in rss:
            rss_lines.append(f"{t:<12}with {rss['rss_users']:,} users: " + ", ".join(
                f"{n} {u['hwm_mib']:.0f} MiB peak / {u['rss_mib']:.0f} MiB now" for n, u in rss["rss_after_load"].items() if u))
    if rss_lines:
        lines += ["", "peak RSS (VmHWM) per service process"] + rss_lines
    event_lines = [f"{t:<12}{results['targets'][t]['largest_event_bytes']:,} bytes "
                   f"(of {results['targets'][t]['outbox_events']:,} events)"
                   for t in targets if "largest_event_bytes" in results["targets"][t]]
    if event_lines:
        lines += ["", "largest event payload in the core's outbox after the run"] + event_lines
    return "\n".join(lines), rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes and 2 s runs (CI; under 2 minutes)")
    parser.add_argument("--bin-dir", help="directory with gateway, provisioning-core, directory-store, standalone "
                                          "(and optionally scim-bench); given, nothing is built")
    parser.add_argument("--out", default="/tmp/bench-results.json", help="where the JSON results go")
    parser.add_argument("--only", help=f"comma-separated scenarios: {','.join(SCENARIOS)}")
    parser.add_argument("--skip-targets", default="", help=f"comma-separated: {','.join(TARGETS)}")
    parser.add_argument("--rss-users", type=int, default=0,
                        help="write N users straight into the stack's tables, then measure RSS after a short load "
                             "(0 = skip; e.g. 1000000)")
    parser.add_argument("--seconds", type=float, help="override the duration of each timed scenario")
    parser.add_argument("--clients", type=int, help="override the concurrency (16)")
    parser.add_argument("--client-threads", type=int, default=1,
                        help="tokio worker threads of scim-bench (1 = current-thread runtime)")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                        help="extra setting for our services (e.g. DATABASE_MAX_CONNECTIONS=20); repeatable")
    parser.add_argument("--pg-conf", action="append", default=[], metavar="KEY=VALUE",
                        help="extra PostgreSQL setting (-c); repeatable")
    parser.add_argument("--keep-logs", action="store_true", help="keep the work directory (service logs)")
    args = parser.parse_args()

    sizes = dict(SMOKE if args.smoke else FULL)
    if args.seconds:
        sizes["seconds"] = args.seconds
    if args.clients:
        sizes["clients"] = sizes["sync_clients"] = args.clients
    only = set(SCENARIOS) - {"rss"}
    if args.only:
        only = {s.strip() for s in args.only.split(",") if s.strip()}
        unknown = only - set(SCENARIOS)
        if unknown:
            parser.error(f"unknown scenarios {sorted(unknown)}; known: {SCENARIOS}")
    if args.rss_users > 0:
        only.add("rss")
    skip = {t.strip() for t in args.skip_targets.split(",") if t.strip()}
    if skip - set(TARGETS):
        parser.error(f"unknown targets {sorted(skip - set(TARGETS))}")
    extra_env = dict(item.split("=", 1) for item in args.env)

    if args.bin_dir:
        bin_dir = os.path.abspath(args.bin_dir)
    else:
        bin_dir = os.path.join(ROOT, "target", "release")
        log("building the release binaries")
        subprocess.run(["cargo", "build", "--release", "-p", "gateway", "-p", "provisioning-core", "-p",
                        "directory-store", "-p", "standalone", "-p", "scim-bench"], check=True, cwd=ROOT)
    bins = {b: os.path.join(bin_dir, b) for b in SERVICES}
    missing = [p for p in bins.values() if not os.access(p, os.X_OK)]
    if missing:
        sys.exit(f"missing binaries: {missing}")
    bench_bin = next((p for p in (os.path.join(bin_dir, "scim-bench"), os.path.join(ROOT, "target", "release", "scim-bench"))
                      if os.access(p, os.X_OK)), None)
    if bench_bin is None:
        log("building scim-bench")
        subprocess.run(["cargo", "build", "--release", "-p", "scim-bench"], check=True, cwd=ROOT)
        bench_bin = os.path.join(ROOT, "target", "release", "scim-bench")

    # SIGTERM (a CI timeout) stops everything too: it unwinds through the finally below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.time()
    results = {"meta": {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "smoke": args.smoke,
                        "sizes": sizes, "scenarios": sorted(only), "bin_dir": bin_dir, "scim_bench": bench_bin,
                        "cpus": os.cpu_count(), "client_threads": args.client_threads, "extra_env": extra_env,
                        "git": subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                                              capture_output=True, text=True).stdout.strip()},
               "targets": {}}
    runner = Runner(keep_logs=args.keep_logs)
    bench = Bench(bench_bin, args.client_threads, runner.work)
    try:
        needs_pg = bool({"floor", "stack"} - skip)
        pg = Postgres(runner, args.pg_conf) if needs_pg else None
        tansu = Tansu(runner) if "stack" not in skip else None
        phase_a = {"create", "get", "filter", "patch-user", "lag", "webhooks", "member-add-small",
                   "member-add-large", "member-add-huge"} & only
        for name in TARGETS:
            if name in skip:
                continue
            record = results["targets"].setdefault(name, {})
            t0 = time.time()
            try:
                if name == "floor":
                    if {"create", "get", "filter", "patch-user"} & only:
                        record["scenarios"] = run_floor(pg, bins, sizes, only, runner.work)
                    continue
                start = {"stack": lambda: Stack(runner, bins, pg, tansu, extra_env),
                         "standalone": lambda: Standalone(runner, bins, extra_env),
                         "peer": lambda: Peer(runner)}[name]
                if phase_a:
                    target = start()
                    try:
                        run_scenarios(target, bench, sizes, only, record, runner.work, name == "peer")
                    finally:
                        target.stop()
                if "initial-sync" in only:
                    target = start()
                    try:
                        run_initial_sync(target, bench, sizes, record, runner.work, name == "peer")
                    finally:
                        target.stop()
                if "rss" in only and name == "stack" and args.rss_users > 0:
                    run_rss(runner, pg, bins, tansu, bench, sizes, args.rss_users, record, runner.work, extra_env)
            except Exception as e:
                log(f"{name}: {e}")
                record["failed"] = str(e)[:4000]
            finally:
                record["wall_seconds"] = round(time.time() - t0, 1)
                log(f"{name}: done in {record['wall_seconds']} s")
    finally:
        runner.close()
    results["meta"]["wall_seconds"] = round(time.time() - started, 1)
    order = [s for s in SCENARIOS if s != "rss"]
    text, rows = table(results, order)
    results["table"] = rows
    with open(args.out, "w") as f:
        json.dump(results, f, indent=2)
    print(text)
    print(f"\n(results: {args.out}; {results['meta']['wall_seconds']} s)")
    failed = [t for t, r in results["targets"].items() if "failed" in r] + [
        f"{t}/{s}" for t, r in results["targets"].items() for s, v in r.get("scenarios", {}).items()
        if isinstance(v, dict) and ("failed" in v or v.get("errors"))]
    if failed:
        print(f"failures or errors: {', '.join(failed)}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
