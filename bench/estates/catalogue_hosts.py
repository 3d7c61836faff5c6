"""Faults of hosts, nodes and workloads, and the human errors that break workloads."""

from __future__ import annotations

from .cascade import Cascade, cluster_of, fault

# hardware and kernel
@fault("hardware", 2, familiar=True)
def node_power_loss(c: Cascade) -> None:
    host = c.node()
    c.emit("host_psu", host, (0, 30), 0.4, root=True)
    c.emit("host_down", host, (60, 180), 0.9)
    c.emit("cloud_system_check", host, (30, 120), 0.7)
    c.node_lost(host, (30, 120))


@fault("hardware", 3)
def disk_failing(c: Cascade) -> None:
    host = c.r.choice([c.node(), c.vm()])
    c.emit("host_disk_errors", host, (0, 60), 0.9, root=True)
    c.emit("host_disk_latency", host, (60, 300), 0.6)
    c.emit("host_raid", host, (120, 600), 0.5)
    c.emit("host_fs_readonly", host, (300, 900), 0.4)
    if host.cluster:
        c.pods_fail(c.some(cluster_of(c.estate, host).pods_on(host), 0.5), (400, 1200), "pod_crashloop", 0.5)


@fault("hardware", 3)
def memory_ecc(c: Cascade) -> None:
    host = c.r.choice([c.node(), c.vm()])
    c.emit("host_ecc", host, (0, 30), 0.9, root=True)
    c.emit("host_ecc_fatal", host, (300, 1200), 0.5)
    c.emit("host_reboot", host, (900, 1500), 0.4)
    if host.cluster and c.r.random() < 0.5:
        c.node_lost(host, (1000, 1500), 0.6)


@fault("hardware", 2)
def overheating_rack(c: Cascade) -> None:
    hosts = c.some(c.estate.vms + [h for cl in c.estate.clusters if cl.cloud == "onprem" for h in cl.nodes], 0.08, 6)
    for host in hosts:
        c.emit("host_temperature", host, (0, 240), 0.9, root=host is hosts[0])
        c.emit("host_cpu", host, (200, 600), 0.3)


@fault("software", 2)
def kernel_soft_lockup(c: Cascade) -> None:
    host = c.node()
    c.emit("host_kernel_lockup", host, (0, 20), 0.7, root=True)
    c.emit("host_load", host, (30, 120), 0.6)
    c.emit("kubelet_pleg", host, (60, 240), 0.6)
    c.emit("exporter_down", host, (120, 300), 0.4)
    c.node_lost(host, (120, 300), 0.7)


# node and kubelet
@fault("software", 2, familiar=True)
def kubelet_crash(c: Cascade) -> None:
    host = c.node()
    c.emit("kubelet_down", host, (0, 90), 0.8, root=True)
    c.node_lost(host, (60, 120))


@fault("capacity", 3, familiar=True)
def node_memory_exhaustion(c: Cascade) -> None:
    host = c.node()
    pods = cluster_of(c.estate, host).pods_on(host)
    c.emit("host_memory", host, (0, 60), 0.8, root=True)
    c.emit("node_memory_pressure", host, (60, 180), 0.6)
    c.emit("host_oom", host, (90, 300), 0.7)
    c.pods_fail(c.some(pods, 0.4), (120, 500), "pod_oom", 0.7)
    c.pods_fail(c.some(pods, 0.3), (200, 700), "pod_evicted", 0.4)


@fault("capacity", 3, familiar=True)
def node_disk_full(c: Cascade) -> None:
    host = c.node()
    c.emit("host_fs_full", host, (0, 60), 0.9, root=True)
    c.emit("node_pressure", host, (120, 300), 0.7)
    c.pods_fail(c.some(cluster_of(c.estate, host).pods_on(host), 0.5), (300, 900), "pod_evicted", 0.6)
    c.pods_fail(c.some(cluster_of(c.estate, host).pods_on(host), 0.3), (300, 900), "pod_pending", 0.4)


@fault("capacity", 4, familiar=True)
def cpu_saturation(c: Cascade) -> None:
    host = c.r.choice([c.node(), c.vm()])
    c.emit("host_cpu", host, (0, 60), 0.9, root=True)
    c.emit("host_load", host, (30, 200), 0.6)
    if host.cluster:
        c.pods_fail(c.some(cluster_of(c.estate, host).pods_on(host), 0.4), (60, 400), "pod_throttled", 0.6)


# pods and workloads, human error
@fault("software", 3)
def crashloop_after_oom_leak(c: Cascade) -> None:
    app = c.app()
    c.pods_fail(app.pods, (0, 300), "pod_oom", 0.6)
    c.pods_fail(app.pods, (60, 400), "pod_crashloop", 0.7)
    c.workload_hurts(app, (200, 600))
    if c.symptoms:
        c.symptoms[0].root = True


@fault("human_error", 2, familiar=True)
def bad_deploy(c: Cascade) -> None:
    app = c.app()
    c.emit("deploy_rollout", app, (300, 900), 0.6, root=True)
    c.pods_fail(c.some(app.pods, 0.6), (30, 200), "pod_crashloop", 0.8)
    c.workload_hurts(app, (120, 400), 0.8)
    for client in c.some([w for w in app.cluster.workloads if w.namespace == app.namespace and w is not app], 1, 3):
        c.emit("app_errors", client, (200, 600), 0.4)


@fault("human_error", 2, familiar=True)
def config_change_breaks_service(c: Cascade) -> None:
    app = c.app(public=True)
    c.emit("app_errors", app, (0, 120), 0.9, root=True)
    c.emit("app_latency", app, (30, 200), 0.4)
    c.emit("probe_status", ("probe", app.url), (60, 240), 0.7, cluster=app.cluster)
    c.emit("ingress_5xx", ("component", "ingress-nginx/ingress-nginx-controller"), (60, 300), 0.5, cluster=app.cluster)
    c.category = "software"  # no alert names the change: the service's errors are what is seen


@fault("human_error", 3)
def scaled_to_zero(c: Cascade) -> None:
    app = c.app(public=True)
    c.emit("deploy_replicas", app, (0, 60), 0.8, root=True)
    c.emit("probe_failed", ("probe", app.url), (30, 120), 0.9, cluster=app.cluster)
    c.category = "software"  # no alert names the scaling: replicas missing are what is seen
    c.emit("ingress_5xx", ("component", "ingress-nginx/ingress-nginx-controller"), (60, 200), 0.5, cluster=app.cluster)


@fault("human_error", 2)
def firewall_change_blocks_database(c: Cascade) -> None:
    backend = c.backend("postgres", "mysql")
    c.emit("pg_exporter" if backend.kind == "postgres" else "mysql_down", backend, (30, 120), 0.5)
    c.clients_hurt(backend, "app_db_errors", (0, 120), 0.8)
    c.category = "software"  # no alert names the firewall: a database failing its clients is what is seen


@fault("software", 4)
def cronjob_failing(c: Cascade) -> None:
    job = c.r.choice([w for cl in c.estate.clusters for w in cl.workloads if w.kind == "cronjob"])
    c.emit("job_failed", job, (0, 60), 0.95, root=True)
    c.pods_fail(job.pods, (0, 60), "pod_crashloop", 0.3)


@fault("capacity", 3)
def traffic_surge(c: Cascade) -> None:
    app = c.app(public=True)
    c.emit("hpa_maxed", app, (0, 120), 0.7, root=True)
    c.emit("app_latency", app, (60, 300), 0.8)
    c.pods_fail(app.pods, (120, 400), "pod_throttled", 0.5)
    c.emit("probe_slow", ("probe", app.url), (120, 400), 0.6, cluster=app.cluster)
    for backend in app.backends:
        c.emit("pg_connections" if backend.kind == "postgres" else "redis_rejected" if backend.kind == "redis"
               else "kafka_lag", backend, (200, 600), 0.4)


@fault("software", 3)
def image_registry_outage(c: Cascade) -> None:
    cluster = c.cluster()
    apps = c.some([w for w in cluster.workloads if w.kind == "deployment"], 0.3, 12)
    for app in apps:  # rollouts in flight all fail to pull: one name on many pods at once
        c.pods_fail(c.some(app.pods, 0.5), (0, 180), "pod_image_pull", 0.9)
        c.emit("deploy_rollout", app, (600, 900), 0.4)


@fault("human_error", 2)
def admission_webhook_blocks_pods(c: Cascade) -> None:
    """A policy webhook deployed with a bad certificate rejects every pod creation: a storm of one
    alert name across the cluster within a minute or two."""
    cluster = c.cluster()
    c.emit("apiserver_errors", ("component", "default/apiserver"), (0, 60), 0.6, root=True, cluster=cluster)
    pods = [p for w in cluster.workloads if w.kind in ("deployment", "cronjob") for p in w.pods]
    c.pods_fail(c.some(pods, 0.3, 50), (30, 150), "pod_not_ready", 0.9)
    c.category = "software"  # no alert names the webhook: API errors and pods not ready are what is seen
