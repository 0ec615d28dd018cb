#!/usr/bin/python3
"""Why this file exists: the deploy/ files repeat facts that must agree (the metrics port in the
config, the probes, the Service and the Dockerfile; the environment variables the config names
and the Secret keys; shutdown_grace and the grace periods; the image name; the config path the
ENTRYPOINT reads and where the ConfigMap is mounted). Nothing else would notice when one of them
drifts until a pod fails in a cluster. This is the static half of tests/deploy/check_manifests.sh
(which then runs the real binary on the configs this script extracts).

Usage: check_manifests.py ROOT OUTDIR
Prints "FAIL <file>: <what> (<details>)" per failed check and a summary line; exits 1 on any
failure, 2 when a file cannot be read or parsed at all. Writes for the binary check:
  OUTDIR/k8s.cfg, OUTDIR/k8s.env        the ConfigMap's producer.cfg; the Secret's keys
  OUTDIR/compose.cfg, OUTDIR/compose.env the compose config; the compose crmstream env names
Needs python3-yaml (Debian package; scripts/install-deps.sh installs it).
"""
import json
import os
import re
import shlex
import sys

import yaml

ROOT, OUT = sys.argv[1], sys.argv[2]
DEPLOY = os.path.join(ROOT, "deploy")
K8S = os.path.join(DEPLOY, "kubernetes")
K8S_GROUP = os.path.join(DEPLOY, "kubernetes-group")
GROUP_SETTINGS = ("coordination", "group_session_timeout", "shards")
RUNTIME_PACKAGES = {"librdkafka1", "libavro23", "libconfig9", "libcurl4", "libjansson4",
                    "libmicrohttpd12"}
BASE_IMAGE = "debian:bookworm-slim"
ENTRYPOINT = ["crmstream", "run", "-c", "/etc/crmstream/producer.cfg"]
UID = 10001

passed = 0
failures = []


def check(cond, where, what, details=None):
    global passed
    if cond:
        passed += 1
    else:
        failures.append(f"FAIL {where}: {what}" + (f" ({details})" if details else ""))
    return bool(cond)


def fatal(msg):
    print(f"FAIL {msg}")
    print(f"deploy manifests: cannot check further")
    sys.exit(2)


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError as e:
        fatal(f"{os.path.relpath(path, ROOT)}: cannot read: {e.strerror}")


def load_yaml(path):
    text = read(path)
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as e:
        fatal(f"{os.path.relpath(path, ROOT)}: not valid YAML: {e}")
    if len(docs) != 1 or not isinstance(docs[0], dict):
        fatal(f"{os.path.relpath(path, ROOT)}: expected one YAML mapping, found {len(docs)} documents")
    return docs[0], text


# --- a small libconfig reader (https://hyperrealm.github.io/libconfig/), enough for producer.cfg:
# settings, groups {}, lists (), arrays [], strings (adjacent ones concatenated), integers,
# floats, booleans, and the three comment styles.
TOKEN = re.compile(r'''
    (?P<ws>\s+) | (?P<comment>\#[^\n]*|//[^\n]*|/\*.*?\*/)
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<float>[-+]?(?:\d+\.\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?\d+[eE][-+]?\d+)
  | (?P<int>[-+]?(?:0[xX][0-9a-fA-F]+|\d+)L{0,2})
  | (?P<bool>(?i:true|false)\b)
  | (?P<name>[A-Za-z*][-A-Za-z0-9_*]*)
  | (?P<punct>[=:;,{}()\[\]])
''', re.S | re.X)


class CfgError(Exception):
    pass


def cfg_tokens(text):
    pos, out = 0, []
    while pos < len(text):
        m = TOKEN.match(text, pos)
        if not m:
            line = text.count("\n", 0, pos) + 1
            raise CfgError(f"line {line}: cannot read {text[pos:pos + 20]!r}")
        pos = m.end()
        kind = m.lastgroup
        if kind in ("ws", "comment"):
            continue
        v = m.group()
        if kind == "string":
            v = json.loads(v) if "\\" in v else v[1:-1]
        elif kind == "int":
            v = int(v.rstrip("L"), 0)
        elif kind == "float":
            v = float(v)
        elif kind == "bool":
            v = v.lower() == "true"
        out.append((kind, v))
    out.append(("end", None))
    return out


def cfg_parse(text):
    toks = cfg_tokens(text)
    i = 0

    def peek():
        return toks[i]

    def take(kind=None, value=None):
        nonlocal i
        t = toks[i]
        if (kind and t[0] != kind) or (value is not None and t[1] != value):
            raise CfgError(f"expected {value or kind}, found {t[1]!r}")
        i += 1
        return t

    def settings(closing):
        group = {}
        while not (peek()[0] == "punct" and peek()[1] == closing) and peek()[0] != "end":
            name = take("name")[1]
            if peek()[1] not in ("=", ":"):
                raise CfgError(f"expected = after {name}")
            take()
            group[name] = value()
            if peek()[0] == "punct" and peek()[1] in (";", ","):
                take()
        return group

    def value():
        kind, v = peek()
        if kind == "punct" and v == "{":
            take()
            g = settings("}")
            take("punct", "}")
            return g
        if kind == "punct" and v in ("(", "["):
            take()
            close = ")" if v == "(" else "]"
            items = []
            while not (peek()[0] == "punct" and peek()[1] == close):
                items.append(value())
                if peek()[1] == ",":
                    take()
            take("punct", close)
            return items
        if kind == "string":
            s = ""
            while peek()[0] == "string":
                s += take()[1]
            return s
        if kind in ("int", "float", "bool"):
            return take()[1]
        raise CfgError(f"unexpected {v!r}")

    top = settings(None)
    take("end")
    return top


def duration_s(v):
    """Seconds of a crmstream duration ("25s", "5m", "1h", "7d" or an integer), or None."""
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    m = re.fullmatch(r"(\d+)([smhd]?)", str(v))
    return int(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)] if m else None


def env_names(cfg):
    """Environment variables the config names through *_env options, source by source."""
    names = []
    for s in cfg.get("sources", []):
        for k, v in (s.get("options") or {}).items():
            if k.endswith("_env") and isinstance(v, str):
                names.append(v)
    return names


def config_facts(where, text):
    """Checks one producer.cfg and returns (cfg, metrics port, shutdown_grace seconds)."""
    try:
        cfg = cfg_parse(text)
    except CfgError as e:
        check(False, where, "producer.cfg parses as libconfig", str(e))
        return {}, None, 25
    metrics = cfg.get("metrics")
    check(isinstance(metrics, dict), where, "metrics { } is configured (the probes need it)")
    metrics = metrics if isinstance(metrics, dict) else {}
    port = metrics.get("port", 9400)
    listen = metrics.get("listen", "0.0.0.0")
    check(listen == "0.0.0.0", where, "metrics.listen is 0.0.0.0 (probes come from outside the"
          " pod's loopback)", f"listen = {listen!r}")
    grace = duration_s(cfg.get("shutdown_grace", "25s"))
    check(grace is not None, where, "shutdown_grace is a duration", repr(cfg.get("shutdown_grace")))
    grace = grace if grace is not None else 25
    check(cfg.get("log_format", "logfmt") in ("logfmt", "json"), where, "log_format is logfmt or json")
    sources = cfg.get("sources", [])
    names = [s.get("name") for s in sources]
    check(sources and all(names), where, "sources are listed, each with a name")
    check(len(set(names)) == len(names), where, "source names are unique (one transactional.id each)",
          str(names))
    check(env_names(cfg), where, "secrets come from environment variables (*_env options)")
    return cfg, port, grace


def resolve_port(container, port):
    """An httpGet/targetPort given as a number or as the name of a container port."""
    if isinstance(port, str) and not port.isdigit():
        for p in container.get("ports", []):
            if p.get("name") == port:
                return p.get("containerPort")
        return None
    return int(port) if port is not None else None


def image_repo(ref):
    """crmstream of crmstream:latest, registry.example.com/x/crmstream:1@sha256:..."""
    ref = ref.split("@")[0]
    last = ref.rsplit("/", 1)[-1]
    if ":" in last:
        ref = ref[: len(ref) - len(last)] + last.split(":")[0]
    return ref


def dockerfile_facts():
    path = os.path.join(DEPLOY, "Dockerfile")
    where = "deploy/Dockerfile"
    text = read(path)
    # Join continuation lines, drop comments.
    lines, cur = [], ""
    for raw in text.splitlines():
        s = raw.strip()
        if not cur and (not s or s.startswith("#")):
            continue
        if s.startswith("#"):
            continue
        cur += (" " if cur else "") + s.rstrip("\\").strip()
        if not s.endswith("\\"):
            lines.append(cur)
            cur = ""
    stages = []
    for line in lines:
        instr, _, arg = line.partition(" ")
        instr = instr.upper()
        if instr == "FROM":
            stages.append({"from": arg.split()[0], "name": arg.split()[2] if " AS " in arg.upper() else None,
                           "lines": []})
        elif stages:
            stages[-1]["lines"].append((instr, arg.strip()))
    check(len(stages) >= 2, where, "multi-stage (a build stage and a final stage)", f"{len(stages)} stage(s)")
    if not stages:
        return {}
    for s in stages:
        check(s["from"] == BASE_IMAGE, where, f"every stage is FROM {BASE_IMAGE}", s["from"])
    final = stages[-1]

    def last(instr, stage=final):
        vals = [a for i, a in stage["lines"] if i == instr]
        return vals[-1] if vals else None

    def installs(stage):
        pkgs = set()
        for i, a in stage["lines"]:
            if i == "RUN":
                for m in re.finditer(r"apt-get\s+install\s+([^&;|]*)", a):
                    pkgs |= {w for w in m.group(1).split() if not w.startswith("-")}
        return pkgs

    build_runs = " ".join(a for s in stages[:-1] for i, a in s["lines"] if i == "RUN")
    check(re.search(r"\bmake\b", build_runs), where, "the build stage runs make")
    final_pkgs = installs(final)
    check(RUNTIME_PACKAGES <= final_pkgs, where, "the final stage installs the runtime libraries",
          "missing " + " ".join(sorted(RUNTIME_PACKAGES - final_pkgs)))
    dev = sorted(p for p in final_pkgs if p.endswith("-dev") or p in
                 ("build-essential", "gcc", "make", "pkg-config", "binutils"))
    check(not dev, where, "the final stage installs no build tools or -dev packages", " ".join(dev))
    copies = [a for i, a in final["lines"] if i == "COPY"]
    check(any("--from=" in c and c.split()[-1] == "/usr/local/bin/crmstream" for c in copies), where,
          "the final stage copies the binary from the build stage to /usr/local/bin/crmstream")
    check(any("producer.cfg.example" in c for c in copies), where, "the final stage ships producer.cfg.example")
    user = last("USER")
    check(user is not None and user.split(":")[0] == str(UID), where, f"runs as uid {UID}", f"USER {user}")
    expose = [int(p.split("/")[0]) for a in [x for i, x in final["lines"] if i == "EXPOSE"] for p in a.split()]
    ep_text = last("ENTRYPOINT")
    try:
        entrypoint = json.loads(ep_text) if ep_text else None
    except ValueError:
        entrypoint = None
    check(entrypoint == ENTRYPOINT, where, f"ENTRYPOINT is the exec form {json.dumps(ENTRYPOINT)}",
          ep_text)
    cmd_text = last("CMD")
    cmd = json.loads(cmd_text) if cmd_text and cmd_text.startswith("[") else (shlex.split(cmd_text) if cmd_text else [])
    return {"expose": expose, "entrypoint": entrypoint or [], "cmd": cmd, "user": user}


def effective_argv(image, command, args):
    """What a container runs: Kubernetes command replaces ENTRYPOINT (and drops CMD), args
    replace CMD (compose's entrypoint/command work the same way)."""
    if command:
        return list(command) + list(args or [])
    return list(image["entrypoint"]) + list(args if args is not None else image["cmd"])


def write_out(name, text, cfg, env=None):
    """Files for the [binary] part: NAME.cfg, NAME.sources and (when given) NAME.env."""
    with open(os.path.join(OUT, f"{name}.cfg"), "w") as f:
        f.write(text)
    with open(os.path.join(OUT, f"{name}.sources"), "w") as f:
        f.write("".join(f"{s.get('name')}\n" for s in cfg.get("sources", [])))
    if env is not None:
        with open(os.path.join(OUT, f"{name}.env"), "w") as f:
            f.write("".join(f"{n}\n" for n in sorted(env)))


def without_group_settings(cfg):
    """The config with the kafka coordination settings left out."""
    out = dict(cfg)
    out["kafka"] = {k: v for k, v in (cfg.get("kafka") or {}).items() if k not in GROUP_SETTINGS}
    return out


def rendered_group():
    """The overlay as `kubectl kustomize` renders it: {kind: doc}, or None without kubectl."""
    import shutil
    import subprocess
    if not shutil.which("kubectl"):
        return None
    r = subprocess.run(["kubectl", "kustomize", K8S_GROUP], capture_output=True, text=True)
    if not check(r.returncode == 0, "kubernetes-group/", "kubectl kustomize renders the overlay",
                 r.stderr.strip()[:300]):
        return {}
    return {d.get("kind"): d for d in yaml.safe_load_all(r.stdout) if d}


def check_group_overlay(cm, cfg, dep, pod_labels):
    """deploy/kubernetes-group: the base with coordination = "group", N replicas rolling without
    going below N, and a PodDisruptionBudget of one pod. Writes k8s-group.cfg for [binary]."""
    w = "kubernetes-group/kustomization.yaml"
    kust, _ = load_yaml(os.path.join(K8S_GROUP, "kustomization.yaml"))
    check(sorted(kust.get("resources", [])) == ["../kubernetes", "pdb.yaml"], w,
          "resources are the base (../kubernetes) and pdb.yaml", kust.get("resources"))
    paths = sorted((p or {}).get("path", "") for p in kust.get("patches", []))
    check(paths == ["configmap.yaml", "deployment.yaml"], w,
          "patches the ConfigMap and the Deployment", paths)

    w = "kubernetes-group/configmap.yaml"
    gcm, _ = load_yaml(os.path.join(K8S_GROUP, "configmap.yaml"))
    check((gcm.get("metadata") or {}).get("name") == (cm.get("metadata") or {}).get("name"), w,
          "patches the base ConfigMap (same name)")
    gtext = (gcm.get("data") or {}).get("producer.cfg") or ""
    gcfg, _, ggrace = config_facts(w + " producer.cfg", gtext)
    check((gcfg.get("kafka") or {}).get("coordination") == "group", w, 'kafka.coordination is "group"')
    check(without_group_settings(gcfg) == without_group_settings(cfg), w,
          "producer.cfg equals the base's apart from kafka.coordination, group_session_timeout, shards")
    write_out("k8s-group", gtext, gcfg)

    w = "kubernetes-group/deployment.yaml"
    gdep, _ = load_yaml(os.path.join(K8S_GROUP, "deployment.yaml"))
    check((gdep.get("metadata") or {}).get("name") == (dep.get("metadata") or {}).get("name"), w,
          "patches the base Deployment (same name)")
    spec = gdep.get("spec") or {}
    replicas = spec.get("replicas")
    check(isinstance(replicas, int) and replicas >= 2, w, "replicas is at least 2", replicas)
    strategy = spec.get("strategy") or {}
    ru = strategy.get("rollingUpdate") or {}
    check(strategy.get("type") == "RollingUpdate", w, "strategy is RollingUpdate", strategy.get("type"))
    check(ru.get("maxUnavailable") == 0 and ru.get("maxSurge") == 1, w,
          "rollingUpdate maxUnavailable 0, maxSurge 1 (a new pod joins before an old one leaves)", ru)
    shards = (gcfg.get("kafka") or {}).get("shards", 4)
    check(isinstance(replicas, int) and isinstance(ru.get("maxSurge"), int) and
          replicas + ru["maxSurge"] <= shards, w,
          "replicas + maxSurge <= the config's kafka.shards (librdkafka 2.0.2's sticky assignor "
          "can loop with more members than partitions)", f"{replicas} + {ru.get('maxSurge')} vs {shards}")

    w = "kubernetes-group/pdb.yaml"
    pdb, _ = load_yaml(os.path.join(K8S_GROUP, "pdb.yaml"))
    check(pdb.get("kind") == "PodDisruptionBudget" and pdb.get("apiVersion") == "policy/v1", w,
          "is a policy/v1 PodDisruptionBudget", f"{pdb.get('apiVersion')} {pdb.get('kind')}")
    psel = ((pdb.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    check(psel and psel.items() <= pod_labels.items(), w, "selector matches the pod labels", psel)
    check((pdb.get("spec") or {}).get("maxUnavailable") == 1, w,
          "maxUnavailable is 1 (drains evict one pod at a time)")

    r = rendered_group()
    if r:
        rdep = (r.get("Deployment") or {}).get("spec") or {}
        check(rdep.get("replicas") == replicas and (rdep.get("strategy") or {}).get("type") == "RollingUpdate",
              "kubernetes-group/", "the rendered Deployment has the overlay's replicas and RollingUpdate")
        rcfg = ((r.get("ConfigMap") or {}).get("data") or {}).get("producer.cfg", "")
        check(rcfg == gtext, "kubernetes-group/", "the rendered ConfigMap carries the overlay's producer.cfg")
        check("PodDisruptionBudget" in r, "kubernetes-group/", "the rendering includes the PodDisruptionBudget")


def main():
    os.makedirs(OUT, exist_ok=True)
    for old in os.listdir(OUT):
        if old.split(".")[-1] in ("cfg", "env", "sources"):
            os.remove(os.path.join(OUT, old))
    image = dockerfile_facts()

    # --- Kubernetes
    kust, _ = load_yaml(os.path.join(K8S, "kustomization.yaml"))
    files = {"ConfigMap": "configmap.yaml", "Secret": "secret.yaml", "Deployment": "deployment.yaml",
             "Service": "service.yaml"}
    res = kust.get("resources", [])
    check(sorted(res) == sorted(files.values()), "kustomization.yaml", "lists the four manifests",
          f"resources = {res}")
    docs, texts = {}, {}
    for kind, name in files.items():
        doc, text = load_yaml(os.path.join(K8S, name))
        docs[kind], texts[kind] = doc, text
        where = f"kubernetes/{name}"
        check(doc.get("kind") == kind, where, f"kind is {kind}", doc.get("kind"))
        check(doc.get("apiVersion") == ("apps/v1" if kind == "Deployment" else "v1"), where,
              "apiVersion", doc.get("apiVersion"))
        check((doc.get("metadata") or {}).get("name"), where, "metadata.name is set")
    cm, secret, dep, svc = (docs[k] for k in ("ConfigMap", "Secret", "Deployment", "Service"))

    cfg_text = (cm.get("data") or {}).get("producer.cfg")
    check(cfg_text, "kubernetes/configmap.yaml", "data has producer.cfg")
    cfg_text = cfg_text or ""
    cfg, port, grace = config_facts("kubernetes/configmap.yaml producer.cfg", cfg_text)
    needed = env_names(cfg)
    write_out("k8s", cfg_text, cfg)

    spec = dep.get("spec") or {}
    tmpl = spec.get("template") or {}
    pod = tmpl.get("spec") or {}
    pod_labels = (tmpl.get("metadata") or {}).get("labels") or {}
    w = "kubernetes/deployment.yaml"
    check(spec.get("replicas") == 1, w, "replicas is 1 (one writer per source; a 2nd pod would be fenced)",
          f"replicas = {spec.get('replicas')}")
    check((spec.get("strategy") or {}).get("type") == "Recreate", w,
          "strategy is Recreate (the old pod stops before the new one starts)")
    check((cfg.get("kafka") or {}).get("coordination", "static") == "static",
          "kubernetes/configmap.yaml", 'kafka.coordination is "static" (one pod runs every shard; '
          "kubernetes-group/ is the scale-out variant)")
    sel = (spec.get("selector") or {}).get("matchLabels") or {}
    check(sel and sel.items() <= pod_labels.items(), w, "selector matches the pod labels")
    tgps = pod.get("terminationGracePeriodSeconds", 30)
    check(isinstance(tgps, int) and tgps > grace, w,
          "terminationGracePeriodSeconds > the config's shutdown_grace",
          f"{tgps} vs shutdown_grace {grace}s")
    psc = pod.get("securityContext") or {}
    check(psc.get("runAsNonRoot") is True, w, "pod securityContext.runAsNonRoot is true")
    check(psc.get("runAsUser", UID) == UID, w, f"runAsUser is the image's uid {UID}", psc.get("runAsUser"))
    containers = pod.get("containers") or []
    check(len(containers) == 1, w, "one container", f"{len(containers)}")
    c = containers[0] if containers else {}
    csc = c.get("securityContext") or {}
    check(csc.get("readOnlyRootFilesystem") is True, w, "readOnlyRootFilesystem is true")
    check(csc.get("allowPrivilegeEscalation") is False, w, "allowPrivilegeEscalation is false")
    check(csc.get("runAsNonRoot", True) is not False and csc.get("runAsUser", UID) != 0, w,
          "the container does not override the pod to run as root")

    # Image name: the Deployment, kustomize's images entry, compose and the build script agree.
    dep_image = c.get("image", "")
    check(dep_image, w, "the container has an image")
    kimgs = {i.get("name"): i for i in kust.get("images", [])}
    check(image_repo(dep_image) in kimgs, "kustomization.yaml",
          "an images: entry names the Deployment's image", f"{dep_image} vs {sorted(kimgs)}")

    # Command: image ENTRYPOINT/CMD with the container's command/args reads the mounted config.
    argv = effective_argv(image, c.get("command"), c.get("args"))
    check(argv[:3] == ["crmstream", "run", "-c"] and len(argv) == 4, w,
          "the container runs `crmstream run -c FILE` (image ENTRYPOINT + command/args)", shlex.join(argv))
    cfg_path = argv[3] if len(argv) == 4 else ""
    mounts = c.get("volumeMounts") or []
    vols = {v.get("name"): v for v in pod.get("volumes") or []}
    cm_name = (cm.get("metadata") or {}).get("name")
    served = False
    for m in mounts:
        v = vols.get(m.get("name")) or {}
        if (v.get("configMap") or {}).get("name") != cm_name:
            continue
        base = m.get("mountPath", "").rstrip("/")
        key = m.get("subPath") if m.get("subPath") else None
        if key and base == cfg_path and key == "producer.cfg":
            served = True
        elif not key and os.path.dirname(cfg_path) == base:
            items = (v.get("configMap") or {}).get("items")
            fname = os.path.basename(cfg_path)
            served = (fname == "producer.cfg" if not items else
                      any(it.get("key") == "producer.cfg" and it.get("path") == fname for it in items))
    check(served, w, f"the ConfigMap's producer.cfg is mounted at {cfg_path or '(no path)'}")

    # Probes and ports against the config's metrics port.
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        hg = (c.get(probe) or {}).get("httpGet") or {}
        check(hg.get("path") == path, w, f"{probe} is httpGet {path}", hg.get("path"))
        p = resolve_port(c, hg.get("port"))
        check(p == port, w, f"{probe} port is the config's metrics port {port}", f"port {hg.get('port')}")
    cports = [p.get("containerPort") for p in c.get("ports") or []]
    check(port in cports, w, f"the container declares port {port}", f"ports {cports}")
    check(port in image.get("expose", []), "deploy/Dockerfile", f"EXPOSE {port} (the metrics port)",
          f"EXPOSE {image.get('expose')}")
    r = c.get("resources") or {}
    check((r.get("requests") or {}).get("memory") and (r.get("limits") or {}).get("memory"), w,
          "resources: memory request and limit")
    check((r.get("requests") or {}).get("cpu"), w, "resources: cpu request")

    # Secrets: every variable the config names comes from the Secret, which has that key.
    sname = (secret.get("metadata") or {}).get("name")
    skeys = set(secret.get("stringData") or {}) | set(secret.get("data") or {})
    env = {e.get("name"): e for e in c.get("env") or []}
    from_secret = [(e.get("secretRef") or {}).get("name") for e in c.get("envFrom") or []]
    for var in needed:
        e = env.get(var)
        ref = ((e or {}).get("valueFrom") or {}).get("secretKeyRef") or {}
        if e:
            check(ref.get("name") == sname, w, f"env {var} comes from Secret {sname}",
                  "a literal value" if "value" in e else f"secretKeyRef {ref}")
            check(ref.get("key") in skeys, "kubernetes/secret.yaml",
                  f"has key {ref.get('key')} (env {var}, named by producer.cfg)")
        else:
            check(sname in from_secret, w, f"env {var} (named by producer.cfg) comes from Secret {sname}",
                  "not in env, and envFrom does not name the Secret")
            check(var in skeys, "kubernetes/secret.yaml", f"has key {var} (named by producer.cfg)")
    for name, e in env.items():
        ref = ((e or {}).get("valueFrom") or {}).get("secretKeyRef")
        if ref and ref.get("name") == sname and name not in needed:
            check(ref.get("key") in skeys, "kubernetes/secret.yaml", f"has key {ref.get('key')} (env {name})")
    for k, v in (secret.get("stringData") or {}).items():
        check("replace" in str(v).lower(), "kubernetes/secret.yaml",
              f"{k} is a placeholder (real keys never go in the repository)", "value looks real")
    with open(os.path.join(OUT, "k8s.env"), "w") as f:
        # What the container's environment holds: the Secret keys mapped to variables.
        provided = {n for n, e in env.items()
                    if (((e or {}).get("valueFrom") or {}).get("secretKeyRef") or {}).get("key") in skeys}
        if sname in from_secret:
            provided |= skeys
        f.write("".join(f"{n}\n" for n in sorted(provided)))

    # Service.
    w = "kubernetes/service.yaml"
    ssel = (svc.get("spec") or {}).get("selector") or {}
    check(ssel and ssel.items() <= pod_labels.items(), w, "selector matches the pod labels")
    targets = [resolve_port(c, p.get("targetPort", p.get("port"))) for p in (svc.get("spec") or {}).get("ports") or []]
    check(port in targets, w, f"a port targets the metrics port {port}", f"targets {targets}")
    ann = re.search(r"^\s*#\s*prometheus\.io/scrape:\s*\"true\"", texts["Service"], re.M)
    check(ann, w, "carries a commented prometheus.io/scrape annotation")
    ann_port = re.search(r"^\s*#\s*prometheus\.io/port:\s*\"?(\d+)", texts["Service"], re.M)
    check(ann_port and int(ann_port.group(1)) == port, w, f"the commented prometheus.io/port is {port}")

    check_group_overlay(cm, cfg, dep, pod_labels)
    with open(os.path.join(OUT, "k8s.env")) as f:
        k8s_env = f.read()
    with open(os.path.join(OUT, "k8s-group.env"), "w") as f:
        f.write(k8s_env)  # the overlay keeps the base's Secret and env

    # --- compose
    w = "deploy/docker-compose.yml"
    compose, _ = load_yaml(os.path.join(DEPLOY, "docker-compose.yml"))
    services = compose.get("services") or {}
    check(set(services) == {"kafka", "crmstream"}, w, "services are kafka and crmstream", sorted(services))
    kafka = services.get("kafka") or {}
    crm = services.get("crmstream") or {}
    check(re.fullmatch(r"apache/kafka:3\.9\.\d+", kafka.get("image", "")), w,
          "kafka runs apache/kafka:3.9.x", kafka.get("image"))
    kenv = kafka.get("environment") or {}
    kenv = dict(e.split("=", 1) for e in kenv) if isinstance(kenv, list) else kenv
    check(set(str(kenv.get("KAFKA_PROCESS_ROLES", "")).split(",")) == {"broker", "controller"}, w,
          "kafka is KRaft (process roles broker,controller)")
    check(not any("ZOOKEEPER" in k for k in kenv), w, "kafka has no ZooKeeper settings")
    build = crm.get("build") or {}
    check(build.get("context") == ".." and build.get("dockerfile") == "deploy/Dockerfile", w,
          "crmstream is built from deploy/Dockerfile with the repository root as context", build)
    check(image_repo(crm.get("image", "")) == image_repo(dep_image), w,
          "crmstream's image has the Deployment's image name", f"{crm.get('image')} vs {dep_image}")
    deps = crm.get("depends_on") or {}
    check("kafka" in deps, w, "crmstream depends on kafka")
    cargv = effective_argv(image, crm.get("entrypoint"), crm.get("command"))
    ccfg = cargv[3] if len(cargv) == 4 and cargv[:3] == ["crmstream", "run", "-c"] else None
    check(ccfg, w, "crmstream runs `crmstream run -c FILE`", shlex.join(cargv))
    host_cfg = None
    for v in crm.get("volumes") or []:
        parts = v.split(":") if isinstance(v, str) else [v.get("source"), v.get("target")]
        if len(parts) >= 2 and parts[1] == ccfg:
            host_cfg = os.path.normpath(os.path.join(DEPLOY, parts[0]))
    check(host_cfg and os.path.isfile(host_cfg), w, f"a config file is mounted at {ccfg}", host_cfg)
    ctext = read(host_cfg) if host_cfg and os.path.isfile(host_cfg) else ""
    wc = f"deploy/{os.path.basename(host_cfg or 'compose-producer.cfg')}"
    ccfg_parsed, cport, cgrace = config_facts(wc, ctext)
    write_out("compose", ctext, ccfg_parsed)
    published = [str(p).rsplit(":", 1)[-1].split("/")[0] for p in crm.get("ports") or []]
    check(str(cport) in published, w, f"crmstream publishes the metrics port {cport}", published)
    sgp = duration_s(str(crm.get("stop_grace_period", "10s")))
    check(sgp is not None and sgp > cgrace, w, "stop_grace_period > the config's shutdown_grace",
          f"{crm.get('stop_grace_period', '10s (default)')} vs {cgrace}s")
    cenv = crm.get("environment") or {}
    cenv = dict(e.split("=", 1) if "=" in e else (e, "") for e in cenv) if isinstance(cenv, list) else cenv
    for var in env_names(ccfg_parsed):
        check(var in cenv, w, f"crmstream's environment passes {var} (named by {os.path.basename(wc)})")
    with open(os.path.join(OUT, "compose.env"), "w") as f:
        f.write("".join(f"{n}\n" for n in sorted(cenv)))
    bootstrap = ((ccfg_parsed.get("kafka") or {}).get("bootstrap_servers") or "")
    adv = str(kenv.get("KAFKA_ADVERTISED_LISTENERS", ""))
    check(bootstrap and all(f"//{b}" in adv for b in bootstrap.split(",")), wc,
          "kafka.bootstrap_servers is a listener the compose kafka advertises", f"{bootstrap} vs {adv}")

    # --- the image the build script makes is the one the manifests run
    bi = read(os.path.join(ROOT, "tests", "deploy", "build_image.sh"))
    m = re.search(r'^IMAGE=\$\{IMAGE:-([^}]+)\}', bi, re.M)
    check(m and m.group(1) == dep_image, "tests/deploy/build_image.sh",
          "builds the image the Deployment runs", f"{m.group(1) if m else '?'} vs {dep_image}")

    # --- producer.cfg.example, shipped in the image: the binary check runs it too.
    etext = read(os.path.join(ROOT, "producer.cfg.example"))
    try:
        ecfg = cfg_parse(etext)
    except CfgError as e:
        check(False, "producer.cfg.example", "parses as libconfig", str(e))
        ecfg = {}
    write_out("example", etext, ecfg, env_names(ecfg))

    for line in failures:
        print(line)
    print(f"deploy manifests: {passed} checks passed, {len(failures)} failed")
    return 1 if failures else 0


sys.exit(main())
