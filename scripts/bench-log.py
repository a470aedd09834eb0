#!/usr/bin/env python3
"""What the provisioning log costs the SCIM path.

Starts the system twice per round on fresh data, once with the provisioning log on and once off,
drives the same load at each (POST /Users, then GET /Users?filter=userName eq …, from several
concurrent clients), and prints throughput and latency percentiles side by side.

    cargo build --release && python3 scripts/bench-log.py [--requests 2000] [--clients 4]
        the release `standalone` on SQLite
    cargo build --release -p gateway -p provisioning-core && \
        python3 scripts/bench-log.py --postgres postgres://postgres@127.0.0.1:5432/postgres
        the release gateway and provisioning-core as separate processes, the core on a new
        PostgreSQL database each run (no broker: events stay in the outbox, as when Kafka is down)
"""
import argparse, http.client, json, os, socket, subprocess, sys, tempfile, threading, time, uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELEASE = os.path.join(ROOT, "target", "release")
BINARY = os.path.join(RELEASE, "standalone")


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close(); return port


def wait_ready(port, deadline=30):
    end = time.time() + deadline
    while time.time() < end:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=1); c.request("GET", "/readyz")
            if c.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    sys.exit(f"standalone on {port} never became ready")


def start_standalone(log, port, token):
    data = tempfile.mkdtemp(prefix="bench-log-")
    env = dict(os.environ, DATA_DIR=data, GATEWAY_HTTP_ADDR=f"127.0.0.1:{port}",
               DIRECTORY_HTTP_ADDR=f"127.0.0.1:{free_port()}", DIRECTORY_GRPC_ADDR=f"127.0.0.1:{free_port()}",
               ADMIN_HTTP_ADDR=f"127.0.0.1:{free_port()}", ADMIN_TOKEN="bench",
               SCIM_BOOTSTRAP_TOKEN=token, PROVISIONING_LOG=log, RATE_LIMIT_PER_SECOND="100000",
               RATE_LIMIT_BURST="100000", RUST_LOG="warn")
    return [subprocess.Popen([BINARY], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]


def start_services(log, port, token, postgres):
    """gateway + provisioning-core on a fresh PostgreSQL database (created with psql)."""
    name = "bench_log_" + uuid.uuid4().hex[:12]
    subprocess.run(["psql", postgres, "-q", "-c", f"CREATE DATABASE {name}"], check=True)
    url = postgres.rsplit("/", 1)[0] + "/" + name
    core_port = free_port()
    env = dict(os.environ, DATABASE_URL=url, CORE_GRPC_ADDR=f"127.0.0.1:{core_port}",
               ADMIN_HTTP_ADDR=f"127.0.0.1:{free_port()}", ADMIN_TOKEN="bench", BOOTSTRAP_TENANT="bench",
               SCIM_BOOTSTRAP_TOKEN=token, PROVISIONING_LOG=log, RATE_LIMIT_PER_SECOND="100000",
               RATE_LIMIT_BURST="100000", RUST_LOG="error", GATEWAY_HTTP_ADDR=f"127.0.0.1:{port}",
               MANAGEMENT_HTTP_ADDR=f"127.0.0.1:{free_port()}",
               CORE_GRPC_URL=f"http://127.0.0.1:{core_port}")
    core = os.path.join(RELEASE, "provisioning-core")
    subprocess.run([core, "migrate"], env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return [subprocess.Popen([core, "serve"], env=env, **quiet),
            subprocess.Popen([os.path.join(RELEASE, "gateway")], env=env, **quiet)]


def usage(process):
    """(name, CPU seconds used, peak resident MiB) of a child process, from /proc."""
    name = os.path.basename(process.args[0])
    fields = open(f"/proc/{process.pid}/stat").read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    peak = next((int(line.split()[1]) for line in open(f"/proc/{process.pid}/status") if line.startswith("VmHWM")), 0)
    return name, cpu, peak / 1024


def run(log, requests, clients, postgres=None):
    port, token = free_port(), "bench_" + uuid.uuid4().hex
    processes = start_services(log, port, token, postgres) if postgres else start_standalone(log, port, token)
    try:
        wait_ready(port)
        latencies, lock = [], threading.Lock()
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}

        def client(n):
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            mine = []
            for i in range(n):
                name = f"u{uuid.uuid4().hex}@example.com"
                for method, path, body in (("POST", "/scim/v2/Users", json.dumps({"userName": name})),
                                           ("GET", "/scim/v2/Users?filter=userName+eq+%22" + name + "%22", None)):
                    start = time.perf_counter()
                    c.request(method, path, body=body, headers=headers)
                    response = c.getresponse(); response.read()
                    mine.append(time.perf_counter() - start)
                    assert response.status in (200, 201), response.status
            with lock:
                latencies.extend(mine)

        per_client = requests // (2 * clients)
        threads = [threading.Thread(target=client, args=(per_client,)) for _ in range(clients)]
        began = time.perf_counter()
        for t in threads: t.start()
        for t in threads: t.join()
        elapsed = time.perf_counter() - began
        latencies.sort()
        pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000
        return {"requests": len(latencies), "seconds": elapsed, "per_second": len(latencies) / elapsed,
                "p50_ms": pick(0.50), "p95_ms": pick(0.95), "p99_ms": pick(0.99),
                "resources": [usage(p) for p in processes]}
    finally:
        for process in processes:
            process.terminate(); process.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--postgres", help="a PostgreSQL server URL: run gateway + core on it instead of standalone")
    args = parser.parse_args()
    needed = ["gateway", "provisioning-core"] if args.postgres else ["standalone"]
    if not all(os.path.exists(os.path.join(RELEASE, b)) for b in needed):
        sys.exit(f"build it first: cargo build --release -p {' -p '.join(needed)}")
    # Two rounds each, alternating, so that drift on a shared machine hits both.
    rounds = [(log, run(log, args.requests, args.clients, args.postgres)) for log in ("off", "on", "off", "on")]
    print(f"{'log':<5}{'requests':>10}{'req/s':>10}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}")
    for log, r in rounds:
        print(f"{log:<5}{r['requests']:>10}{r['per_second']:>10.0f}{r['p50_ms']:>9.2f}{r['p95_ms']:>9.2f}{r['p99_ms']:>9.2f}")
    for log, r in rounds:
        for name, cpu, peak in r["resources"]:
            print(f"  log {log}: {name}: {cpu:.1f} CPU s ({cpu / r['requests'] * 1000:.2f} ms per request), peak RSS {peak:.0f} MiB")
    mean = lambda log: sum(r["per_second"] for l, r in rounds if l == log) / 2
    print(f"throughput with the log / without (mean of two rounds each): {mean('on') / mean('off'):.3f}")


if __name__ == "__main__":
    main()
