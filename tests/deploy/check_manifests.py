"""check_manifests.py — static checks of deploy/: the Kubernetes manifests agree with the
producer.cfg they carry (probe paths and ports, Secret keys for every *_env variable the config
names, grace periods), run non-root with one replica, and the Dockerfile and compose file name
the same config path and port. Prints one line per failed check; exits 1 on any failure."""
import re
import sys

import yaml

ROOT = sys.argv[1]
failures = []
total = 0


def check(cond, what):
    global total
    total += 1
    if not cond:
        failures.append(what)


def load(name):
    with open(f"{ROOT}/deploy/kubernetes/{name}") as f:
        return yaml.safe_load(f)


def duration_s(text):
    m = re.fullmatch(r"(\d+)([smhd]?)", text)
    return int(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


cm, secret, dep, svc = (load(n) for n in
                        ("configmap.yaml", "secret.yaml", "deployment.yaml", "service.yaml"))
kust = load("kustomization.yaml")
cfg = cm["data"]["producer.cfg"]
check(set(kust["resources"]) == {"configmap.yaml", "secret.yaml", "deployment.yaml",
                                 "service.yaml"}, "kustomization lists every manifest")

port_m = re.search(r"metrics\s*=\s*\{[^}]*port\s*=\s*(\d+)", cfg)
check(port_m is not None, "the ConfigMap's producer.cfg enables metrics { port = N; }")
port = int(port_m.group(1)) if port_m else -1
grace_m = re.search(r'shutdown_grace\s*=\s*"([^"]+)"', cfg)
grace = duration_s(grace_m.group(1)) if grace_m else 25
env_vars = set(re.findall(r'_env\s*=\s*"([A-Z0-9_]+)"', cfg))
check(env_vars, "producer.cfg names its secrets through *_env options")

spec = dep["spec"]
pod = spec["template"]["spec"]
check(spec["replicas"] == 1, "replicas is 1 (one writer per source: fencing would stop a 2nd)")
check(spec.get("strategy", {}).get("type") == "Recreate", "strategy Recreate")
check(spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items(),
      "selector matches the pod labels")
check(pod.get("terminationGracePeriodSeconds", 30) > grace,
      f"terminationGracePeriodSeconds > shutdown_grace ({grace}s)")
check(pod.get("securityContext", {}).get("runAsNonRoot") is True, "runAsNonRoot")
c = pod["containers"][0]
check(c["livenessProbe"]["httpGet"]["path"] == "/healthz", "liveness probe on /healthz")
check(c["readinessProbe"]["httpGet"]["path"] == "/readyz", "readiness probe on /readyz")
check(c["livenessProbe"]["httpGet"]["port"] == port, f"liveness probe port == metrics port {port}")
check(c["readinessProbe"]["httpGet"]["port"] == port, f"readiness probe port == {port}")
check(any(p["containerPort"] == port for p in c["ports"]), f"container exposes {port}")
check("resources" in c and "limits" in c["resources"], "container resources set")
check(c.get("args", [])[-1:] == ["/etc/crmstream/producer.cfg"], "runs the mounted producer.cfg")
mounts = {m["name"]: m["mountPath"] for m in c.get("volumeMounts", [])}
vols = {v["name"]: v for v in pod.get("volumes", [])}
check(mounts.get("config") == "/etc/crmstream", "config volume mounted at /etc/crmstream")
check(vols.get("config", {}).get("configMap", {}).get("name") == cm["metadata"]["name"],
      "config volume is the ConfigMap")
secret_refs = [e["secretRef"]["name"] for e in c.get("envFrom", []) if "secretRef" in e]
check(secret["metadata"]["name"] in secret_refs, "env comes from the credentials Secret")
keys = set(secret.get("stringData", {})) | set(secret.get("data", {}))
for v in sorted(env_vars):
    check(v in keys, f"Secret has key {v} (named by producer.cfg)")
check(any(p["targetPort"] == port for p in svc["spec"]["ports"]), f"Service targets port {port}")
check(svc["spec"]["selector"].items() <= spec["template"]["metadata"]["labels"].items(),
      "Service selects the pods")

dockerfile = open(f"{ROOT}/deploy/Dockerfile").read()
check("USER 10001" in dockerfile, "image runs as uid 10001")
check(f"EXPOSE {port}" in dockerfile, f"image exposes {port}")
check("/etc/crmstream/producer.cfg" in dockerfile, "image entrypoint reads /etc/crmstream/producer.cfg")
with open(f"{ROOT}/deploy/docker-compose.yml") as f:
    compose = yaml.safe_load(f)
check(set(compose["services"]) == {"kafka", "crmstream"}, "compose has kafka and crmstream")
check(all(v in compose["services"]["crmstream"]["environment"] for v in env_vars),
      "compose passes every secret variable")

with open(sys.argv[2], "w") as out:  # the embedded config, for the crmstream check that follows
    out.write(cfg)
for f in failures:
    print(f"FAIL deploy: {f}")
print(f"deploy manifests: {total - len(failures)} passed, {len(failures)} failed")
sys.exit(1 if failures else 0)
