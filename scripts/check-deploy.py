#!/usr/bin/env python3
"""The deployment agrees with the code.

Reads the rendered manifests of every overlay (YAML files given on the command line) and the
Dockerfile, and checks them against the Rust sources: every container runs a binary the image
holds, with a command that binary has; every environment variable set is one the code reads
(or a standard OTEL_* one); every *_ADDR setting's port is a declared, exposed container port;
probes use named ports and paths the service serves; Services, the Ingress, autoscalers and
disruption budgets point at what exists; only the gateway's SCIM path and the core's
portal are routed by the Ingress; the gateway and the core reach the Services and ports
of the core and the directory; the Kafka topic and consumer group are the ones configured.

    python3 scripts/check-deploy.py target/deploy/eu.yaml target/deploy/us.yaml

`--self-test` also breaks a copy of the manifests in several ways and checks each is caught.
"""
import copy, glob, os, re, sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Which crate's sources hold each binary's settings (the standalone reads them all).
CRATES = {
    "gateway": ["gateway", "platform"],
    "provisioning-core": ["provisioning-core", "platform"],
    "directory-store": ["directory-store", "platform"],
}
COMMANDS = {"gateway": [[]], "provisioning-core": [["serve"], ["migrate"]], "directory-store": [["serve"], ["migrate"]]}
REQUIRED = {
    "provisioning-core serve": {"DATABASE_URL", "ADMIN_TOKEN", "KAFKA_BOOTSTRAP_SERVERS", "CORE_GRPC_ADDR", "ADMIN_HTTP_ADDR"},
    "directory-store serve": {"DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "DIRECTORY_HTTP_ADDR", "DIRECTORY_GRPC_ADDR"},
    "gateway": {"GATEWAY_HTTP_ADDR", "MANAGEMENT_HTTP_ADDR", "CORE_GRPC_URL"},
    "provisioning-core migrate": {"DATABASE_URL"},
    "directory-store migrate": {"DATABASE_URL"},
}
SETTING = re.compile(r'(?:get|parse_or|require|socket_addr_or)\(\s*"([A-Z][A-Z0-9_]+)"')


def settings_of(binary):
    names = set()
    for crate in CRATES[binary]:
        for path in glob.glob(os.path.join(ROOT, crate, "src", "**", "*.rs"), recursive=True):
            names.update(SETTING.findall(open(path).read()))
    return names


def source_text(binary):
    return "".join(
        open(path).read()
        for crate in CRATES[binary]
        for path in glob.glob(os.path.join(ROOT, crate, "src", "**", "*.rs"), recursive=True)
    )


def dockerfile():
    text = open(os.path.join(ROOT, "Dockerfile")).read()
    binaries = set(re.findall(r"/build/target/release/([a-z-]+)", text))
    exposed = {int(p) for line in re.findall(r"^EXPOSE (.+)$", text, re.M) for p in line.split()}
    return binaries, exposed


def check(documents):
    """The problems found, as sentences."""
    problems = []
    binaries, exposed = dockerfile()
    by_kind = {}
    for doc in documents:
        by_kind.setdefault(doc["kind"], []).append(doc)
    configmaps = {d["metadata"]["name"]: d.get("data", {}) for d in by_kind.get("ConfigMap", [])}
    services = {d["metadata"]["name"]: d for d in by_kind.get("Service", [])}
    workloads = by_kind.get("Deployment", []) + by_kind.get("Job", [])
    deployments = {d["metadata"]["name"]: d for d in by_kind.get("Deployment", [])}
    group_ids, topics = set(), set()
    everything = set().union(*(settings_of(binary) for binary in CRATES))
    for name, data in configmaps.items():
        for key in data:
            if key not in everything and not key.startswith("OTEL_"):
                problems.append(f"ConfigMap {name}: no service reads {key}")

    for workload in workloads:
        name = f'{workload["kind"]} {workload["metadata"]["name"]}'
        pod = workload["spec"]["template"]
        for container in pod["spec"]["containers"]:
            command = container.get("command") or []
            if not command or command[0] not in binaries:
                problems.append(f"{name}: command {command} is not a binary of the image ({sorted(binaries)})")
                continue
            binary, args = command[0], command[1:]
            if args not in COMMANDS.get(binary, []):
                problems.append(f"{name}: {binary} has no command {args}")
            env = {}
            for source in container.get("envFrom", []):
                ref = source.get("configMapRef", {}).get("name")
                if ref not in configmaps:
                    problems.append(f"{name}: envFrom names a missing ConfigMap {ref}")
                else:
                    env.update(configmaps[ref])
            for variable in container.get("env", []):
                env[variable["name"]] = variable.get("value")
            known = settings_of(binary)
            explicit = {v["name"] for v in container.get("env", [])}
            for variable in explicit:
                if variable not in known and not variable.startswith("OTEL_"):
                    problems.append(f"{name}: {binary} does not read {variable}")
            required = REQUIRED.get(" ".join(command), set())
            for variable in sorted(required - set(env)):
                problems.append(f"{name}: {variable} is required by {' '.join(command)} and not set")
            ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
            for port_name, number in ports.items():
                if not port_name:
                    problems.append(f"{name}: container port {number} has no name")
                if number not in exposed:
                    problems.append(f"{name}: port {number} is not EXPOSEd by the Dockerfile")
            for variable, value in env.items():
                if variable.endswith("_ADDR") and value:
                    port = int(str(value).rsplit(":", 1)[1])
                    if port not in ports.values():
                        problems.append(f"{name}: {variable}={value} listens on a port the container does not declare")
            for probe in ("livenessProbe", "readinessProbe"):
                if workload["kind"] != "Deployment":
                    continue
                spec = container.get(probe, {}).get("httpGet")
                if not spec:
                    problems.append(f"{name}: no {probe}")
                    continue
                if spec["port"] not in ports:
                    problems.append(f"{name}: {probe} uses port {spec['port']}, not a named container port")
                if f'"{spec["path"]}"' not in source_text(binary):
                    problems.append(f"{name}: {binary} does not serve {spec['path']}")
            # The gateway balances over the core's replicas: the headless Service.
            for variable, (service, port) in {"CORE_GRPC_URL": ("provisioning-core-replicas", 50051),
                                             "DIRECTORY_GRPC_URL": ("directory-store", 50052)}.items():
                if variable in env:
                    url = env[variable]
                    if url != f"http://{service}:{port}":
                        problems.append(f"{name}: {variable}={url} is not http://{service}:{port}")
                    elif port not in [p["port"] for p in services.get(service, {}).get("spec", {}).get("ports", [])]:
                        problems.append(f"{name}: {variable} names Service {service}:{port}, which does not exist")
            if "KAFKA_GROUP_ID" in env:
                group_ids.add(env["KAFKA_GROUP_ID"])
            if env.get("KAFKA_TOPIC"):
                topics.add(env["KAFKA_TOPIC"])

    for service in services.values():
        selector = service["spec"]["selector"]
        targets = [d for d in deployments.values()
                   if all(d["spec"]["template"]["metadata"]["labels"].get(k) == v for k, v in selector.items())]
        if not targets:
            problems.append(f"Service {service['metadata']['name']} selects no Deployment")
            continue
        names = {p.get("name") for c in targets[0]["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])}
        for port in service["spec"]["ports"]:
            if port["targetPort"] not in names:
                problems.append(f"Service {service['metadata']['name']}: targetPort {port['targetPort']} is not a container port")

    base_paths = {data.get("SCIM_BASE_PATH") for data in configmaps.values() if data.get("SCIM_BASE_PATH")}
    for ingress in by_kind.get("Ingress", []):
        if not ingress["spec"].get("tls"):
            problems.append(f"Ingress {ingress['metadata']['name']} has no TLS")
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                route = (backend["name"], backend["port"].get("name"))
                if route == ("gateway", "scim"):
                    if path["path"] not in base_paths:
                        problems.append(f"Ingress path {path['path']} is not SCIM_BASE_PATH {base_paths}")
                elif route == ("provisioning-core", "portal"):
                    # The self-serve portal: its page and API live under /portal.
                    if path["path"] != "/portal":
                        problems.append(f"Ingress path {path['path']} to the portal is not /portal")
                else:
                    problems.append(f"Ingress routes to {route}: only the gateway's SCIM port and the core's portal are public")
                ports = [p["name"] for p in services.get(backend["name"], {}).get("spec", {}).get("ports", [])]
                if backend["port"].get("name") not in ports:
                    problems.append(f"Ingress backend port {backend['port']} is not a port of Service {backend['name']}")
    for kind in ("HorizontalPodAutoscaler",):
        for doc in by_kind.get(kind, []):
            target = doc["spec"]["scaleTargetRef"]["name"]
            if target not in deployments:
                problems.append(f"{kind} {doc['metadata']['name']} scales a missing Deployment {target}")
    for pdb in by_kind.get("PodDisruptionBudget", []):
        labels = pdb["spec"]["selector"]["matchLabels"]
        if not any(all(d["spec"]["template"]["metadata"]["labels"].get(k) == v for k, v in labels.items())
                   for d in deployments.values()):
            problems.append(f"PodDisruptionBudget {pdb['metadata']['name']} selects no Deployment")
    for topic in by_kind.get("KafkaTopic", []):
        if topic["metadata"]["name"] not in topics:
            problems.append(f"KafkaTopic {topic['metadata']['name']} is not the configured KAFKA_TOPIC {topics}")
        spec = topic["spec"]
        if not (isinstance(spec.get("partitions"), int) and isinstance(spec.get("replicas"), int)):
            problems.append("KafkaTopic needs integer partitions and replicas")
    consumer_groups = {acl["resource"]["name"] for user in by_kind.get("KafkaUser", [])
                       for acl in user["spec"]["authorization"]["acls"] if acl["resource"]["type"] == "group"}
    if group_ids and not group_ids <= consumer_groups:
        problems.append(f"consumer group {group_ids} has no KafkaUser ACL ({consumer_groups})")
    return problems


def self_test(documents):
    """Breaks the manifests in ways the check must catch."""
    def broken(change):
        docs = copy.deepcopy(documents)
        change(docs)
        return check(docs)

    def container(docs, name):
        return next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == name)["spec"]["template"]["spec"]["containers"][0]

    cases = {
        "a misspelt setting": lambda docs: container(docs, "gateway")["env"].append({"name": "CORE_GRPC_ULR", "value": "x"}),
        "a command the binary lacks": lambda docs: container(docs, "provisioning-core").update(command=["provisioning-core", "run"]),
        "an address on an undeclared port": lambda docs: container(docs, "directory-store")["env"].__setitem__(
            0, {"name": "DIRECTORY_HTTP_ADDR", "value": "0.0.0.0:9999"}),
        "a probe on a path not served": lambda docs: container(docs, "gateway")["readinessProbe"]["httpGet"].update(path="/health"),
        "a wrong core URL": lambda docs: [v.update(value="http://core:50051") for v in container(docs, "gateway")["env"]
                                          if v["name"] == "CORE_GRPC_URL"],
        "a ConfigMap key nobody reads": lambda docs: next(d for d in docs if d["kind"] == "ConfigMap")["data"].update(
            REGOIN="eu"),
        "the admin API made public": lambda docs: next(d for d in docs if d["kind"] == "Ingress")["spec"]["rules"][0][
            "http"]["paths"][-1]["backend"]["service"]["port"].update(name="admin"),
        "a required secret missing": lambda docs: container(docs, "provisioning-core").update(
            env=[v for v in container(docs, "provisioning-core")["env"] if v["name"] != "ADMIN_TOKEN"]),
    }
    failures = []
    for what, change in cases.items():
        if not broken(change):
            failures.append(f"self-test: {what} was not caught")
    return failures


def main():
    files = [a for a in sys.argv[1:] if not a.startswith("--")]
    if not files:
        sys.exit(__doc__)
    problems = []
    for path in files:
        documents = [d for d in yaml.safe_load_all(open(path)) if d]
        problems += [f"{os.path.basename(path)}: {p}" for p in check(documents)]
        if "--self-test" in sys.argv:
            problems += self_test(documents)
    for problem in problems:
        print(f"[check-deploy] {problem}")
    if problems:
        sys.exit(1)
    print(f"[check-deploy] {len(files)} rendered overlay(s) agree with the code and the Dockerfile")


if __name__ == "__main__":
    main()
