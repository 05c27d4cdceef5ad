"""test_deploy.py -- docker/deploy/s.yaml and kubernetes.yaml say what the image and the
worker actually do: parsed with PyYAML, key fields checked, cross-checked against
docker/Dockerfile and conf/fcworker.conf, and every FCWORKER_* value they set is fed to
`fcworker --check-config` (when build/fcworker exists). Run by t/container/test-deploy.sh.
"""
import os
import re
import subprocess
import sys

import yaml

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
passed = failed = 0


def check(name, cond, why=""):
    global passed, failed
    if cond:
        passed += 1
        print("ok     " + name)
    else:
        failed += 1
        print("FAIL   %s: %s" % (name, why))


def get(d, *path):
    """d[path[0]][path[1]]..., None when any step is missing."""
    for key in path:
        if isinstance(d, dict) and key in d:
            d = d[key]
        elif isinstance(d, list) and isinstance(key, int) and key < len(d):
            d = d[key]
        else:
            return None
    return d


def read(rel):
    with open(os.path.join(TOP, rel)) as f:
        return f.read()


dockerfile = read("docker/Dockerfile")
m = re.search(r"^USER\s+(\d+)(?::(\d+))?\s*$", dockerfile, re.M)
image_uid = int(m.group(1)) if m else None
check("Dockerfile has a numeric non-root USER", image_uid not in (None, 0), "USER line: %r" % (m and m.group(0)))
check("Dockerfile EXPOSEs 9000", re.search(r"^EXPOSE\s+9000\b", dockerfile, re.M) is not None)
m = re.search(r"^drain_timeout\s*=\s*(\d+)", read("conf/fcworker.conf"), re.M)
conf_drain = int(m.group(1)) if m else 30
m = re.search(r"^health_path\s*=[ \t]*(\S*)", read("conf/fcworker.conf"), re.M)
conf_health = m.group(1) if m else "/_fcworker/health"
check("conf/fcworker.conf: the health path is on", conf_health.startswith("/"), conf_health)
m = re.search(r"^HEALTHCHECK\b.*?CMD\s+(.*)$", dockerfile, re.M | re.S)
check("Dockerfile HEALTHCHECK runs fcworker-healthcheck (the health path, bash /dev/tcp)",
      m is not None and "/usr/local/bin/fcworker-healthcheck" in m.group(1).split("\n")[0],
      m and m.group(0)[:200])
check("Dockerfile installs scripts/healthcheck as fcworker-healthcheck",
      re.search(r"^COPY\s+scripts/healthcheck\s+/usr/local/bin/fcworker-healthcheck\s*$", dockerfile, re.M)
      is not None)


def worker_accepts(name, env):
    """fcworker --check-config with these FCWORKER_* values and no file."""
    worker = os.environ.get("FCWORKER_BIN", os.path.join(TOP, "build", "fcworker"))
    if not os.access(worker, os.X_OK):
        print("skip   %s (%s not built)" % (name, worker))
        return
    e = {k: v for k, v in os.environ.items() if not k.startswith("FCWORKER_")}
    e.update(env)
    r = subprocess.run([worker, "--check-config"], env=e, capture_output=True, text=True, timeout=10)
    check(name, r.returncode == 0, "exit %d: %s" % (r.returncode, r.stderr.strip()))
    # Every variable set must be one the worker reads: its dump names the variable as
    # the origin of the value (a misspelt name would silently change nothing).
    for k, v in env.items():
        used = re.search(r"= %s\s+; environment %s$" % (re.escape(v), re.escape(k)), r.stdout, re.M)
        check("%s: %s=%s is in effect" % (name, k, v), used is not None, r.stdout)


# ---- Serverless Devs, FC 3.0 ----
s = yaml.safe_load(read("docker/deploy/s.yaml"))
check("s.yaml: edition 3.0.0", s.get("edition") == "3.0.0", s.get("edition"))
resources = s.get("resources") or {}
check("s.yaml: one resource", len(resources) == 1, list(resources))
res = next(iter(resources.values()), {})
props = res.get("props") or {}
check("s.yaml: component fc3", res.get("component") == "fc3", res.get("component"))
check("s.yaml: runtime custom-container", props.get("runtime") == "custom-container", props.get("runtime"))
check("s.yaml: image set", bool(get(props, "customContainerConfig", "image")))
check("s.yaml: port 9000", get(props, "customContainerConfig", "port") == 9000,
      get(props, "customContainerConfig", "port"))
for hook, limit in (("initializer", 300), ("preStop", 90)):
    h = get(props, "instanceLifecycleConfig", hook) or {}
    check("s.yaml: %s hook on" % hook, bool(h.get("handler")), h)
    t = h.get("timeout")
    check("s.yaml: %s timeout within FC's 1..%d s" % (hook, limit),
          isinstance(t, int) and 1 <= t <= limit, t)
check("s.yaml: function timeout within 1..86400 s",
      isinstance(props.get("timeout"), int) and 1 <= props["timeout"] <= 86400, props.get("timeout"))
check("s.yaml: memorySize set", isinstance(props.get("memorySize"), int) and props["memorySize"] >= 128,
      props.get("memorySize"))
conc = props.get("instanceConcurrency")
check("s.yaml: instanceConcurrency within FC's 1..200 and the worker's threads (256)",
      isinstance(conc, int) and 1 <= conc <= 200 and conc <= 256, conc)
env = {k: str(v) for k, v in (props.get("environmentVariables") or {}).items()}
check("s.yaml: no reserved FC_ variable", not [k for k in env if k.startswith("FC_")], list(env))
check("s.yaml: environment under FC's 4 KB", sum(len(k) + len(v) for k, v in env.items()) < 4096)
worker_accepts("s.yaml: fcworker accepts its environment", {k: v for k, v in env.items() if k.startswith("FCWORKER_")})
hc = get(props, "customContainerConfig", "healthCheckConfig") or {}
check("s.yaml: healthCheckConfig on the health path", hc.get("httpGetUrl") == env.get("FCWORKER_HEALTH_PATH", conf_health),
      hc)
check("s.yaml: healthCheckConfig timeoutSeconds within FC's 1..3",
      isinstance(hc.get("timeoutSeconds", 1), int) and 1 <= hc.get("timeoutSeconds", 1) <= 3, hc)
for key in ("periodSeconds", "failureThreshold", "successThreshold"):
    v = hc.get(key, 1)
    check("s.yaml: healthCheckConfig %s within FC's 1..120" % key, isinstance(v, int) and 1 <= v <= 120, v)
check("s.yaml: healthCheckConfig initialDelaySeconds within FC's 0..120",
      isinstance(hc.get("initialDelaySeconds", 0), int) and 0 <= hc.get("initialDelaySeconds", 0) <= 120, hc)
methods = get(props, "triggers", 0, "triggerConfig", "methods") or []
check("s.yaml: HTTP trigger passes every method", {"GET", "POST", "PUT", "DELETE"} <= set(methods), methods)

# ---- Kubernetes ----
docs = [d for d in yaml.safe_load_all(read("docker/deploy/kubernetes.yaml")) if d]
kinds = {d.get("kind"): d for d in docs}
check("kubernetes.yaml: a Deployment and a Service", set(kinds) == {"Deployment", "Service"}, list(kinds))
dep = kinds.get("Deployment", {})
pod = get(dep, "spec", "template", "spec") or {}
c = get(pod, "containers", 0) or {}
env = {e["name"]: str(e.get("value", "")) for e in c.get("env") or []}
ports = {p.get("name"): p.get("containerPort") for p in c.get("ports") or []}
check("k8s: container port 9000", 9000 in ports.values(), ports)
check("k8s: preStop is GET /pre-stop on 9000",
      get(c, "lifecycle", "preStop", "httpGet", "path") == "/pre-stop"
      and get(c, "lifecycle", "preStop", "httpGet", "port") == 9000, get(c, "lifecycle"))
health = env.get("FCWORKER_HEALTH_PATH", conf_health)
for probe in ("readinessProbe", "livenessProbe"):
    check("k8s: %s is GET %s on 9000 (answered by the worker, never the function)" % (probe, health),
          get(c, probe, "httpGet", "path") == health and get(c, probe, "httpGet", "port") == 9000,
          c.get(probe))
live = c.get("livenessProbe") or {}
check("k8s: liveness tolerates a brief 503 (saturation) for at least 30 s",
      live.get("periodSeconds", 10) * live.get("failureThreshold", 3) >= 30, live)
m = re.match(r"^(?:\[[0-9a-fA-F:.]+\]|[0-9.]+):(\d+)$", env.get("FCWORKER_METRICS_LISTEN", ""))
metrics_port = int(m.group(1)) if m else None
check("k8s: FCWORKER_METRICS_LISTEN on the pod's address, not the function's port",
      m is not None and metrics_port != 9000 and not env["FCWORKER_METRICS_LISTEN"].startswith(("127.", "[::1]")),
      env.get("FCWORKER_METRICS_LISTEN"))
check("k8s: the metrics port is a container port", ports.get("metrics") == metrics_port, (ports, metrics_port))
ann = get(dep, "spec", "template", "metadata", "annotations") or {}
check("k8s: Prometheus scrape annotations on the pods",
      ann.get("prometheus.io/scrape") == "true" and ann.get("prometheus.io/port") == str(metrics_port)
      and ann.get("prometheus.io/path") == "/metrics", ann)
check("k8s: memory and cpu limits", bool(get(c, "resources", "limits", "memory"))
      and bool(get(c, "resources", "limits", "cpu")), c.get("resources"))
check("k8s: runAsNonRoot", get(pod, "securityContext", "runAsNonRoot") is True)
check("k8s: runAsUser is the image's user", get(pod, "securityContext", "runAsUser") == image_uid,
      (get(pod, "securityContext", "runAsUser"), image_uid))
check("k8s: read-only root filesystem", get(c, "securityContext", "readOnlyRootFilesystem") is True)
check("k8s: no privilege escalation", get(c, "securityContext", "allowPrivilegeEscalation") is False)
mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts") or []}
vols = {v["name"]: v for v in pod.get("volumes") or []}
check("k8s: an emptyDir at /tmp", "/tmp" in mounts and "emptyDir" in vols.get(mounts["/tmp"], {}),
      (mounts, vols))
drain = int(env.get("FCWORKER_DRAIN_TIMEOUT", conf_drain)) + int(env.get("FCWORKER_SHUTDOWN_DELAY", "0"))
grace = pod.get("terminationGracePeriodSeconds")
check("k8s: terminationGracePeriodSeconds above the shutdown delay and drain time (%d s)" % drain,
      isinstance(grace, int) and grace > drain, grace)
worker_accepts("k8s: fcworker accepts its environment", {k: v for k, v in env.items() if k.startswith("FCWORKER_")})
svc = kinds.get("Service", {})
labels = get(dep, "spec", "template", "metadata", "labels") or {}
selector = get(svc, "spec", "selector") or {}
check("k8s: the Service selects the pods", bool(selector) and selector.items() <= labels.items(),
      (selector, labels))
check("k8s: Deployment selector matches its pods",
      (get(dep, "spec", "selector", "matchLabels") or {}).items() <= labels.items())
tp = get(svc, "spec", "ports", 0, "targetPort")
check("k8s: Service targets port 9000", tp == 9000 or ports.get(tp) == 9000, tp)

check("k8s: the Service does not expose the metrics port",
      all(p.get("targetPort") not in ("metrics", metrics_port) for p in get(svc, "spec", "ports") or []),
      get(svc, "spec", "ports"))

# ---- docker-compose ----
compose = yaml.safe_load(read("docker/docker-compose.yml"))
for name, service in (compose.get("services") or {}).items():
    test = get(service, "healthcheck", "test") or []
    check("compose: %s's healthcheck runs fcworker-healthcheck" % name,
          "/usr/local/bin/fcworker-healthcheck" in test, test)

print("test-deploy: %d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
