"""Faults of the network, DNS and CNI, storage, databases, queues and caches, ingress, cloud
instances, certificates, and security detections."""

from __future__ import annotations

from .cascade import Cascade, cluster_of, fault


# network, DNS and CNI
@fault("network", 2, familiar=True)
def top_of_rack_switch_down(c: Cascade) -> None:
    cluster = c.r.choice([cl for cl in c.estate.clusters if cl.cloud == "onprem"] or c.estate.clusters)
    hosts = c.some(cluster.nodes, 0.2, 8)
    for host in hosts:
        c.emit("host_link_down", host, (0, 40), 0.6, root=host is hosts[0])
        c.emit("host_down", host, (60, 200), 0.6)
        c.node_lost(host, (60, 200), 0.5)


@fault("network", 3)
def packet_loss_on_uplink(c: Cascade) -> None:
    cluster = c.cluster()
    for host in c.some(cluster.nodes, 0.15, 6):
        c.emit("host_nic_errors", host, (0, 120), 0.8, root=True)
    for app in c.some([w for w in cluster.workloads if w.url], 0.3, 5):
        c.emit("probe_slow", ("probe", app.url), (60, 300), 0.6, cluster=cluster)
        c.emit("app_latency", app, (60, 300), 0.4)


@fault("network", 2)
def coredns_outage(c: Cascade) -> None:
    cluster = c.cluster()
    coredns = cluster.system("coredns")
    c.emit("coredns_down", ("component", "kube-system/coredns"), (0, 60), 0.7, root=True, cluster=cluster)
    c.pods_fail(coredns.pods, (0, 60), "pod_crashloop", 0.5)
    c.emit("coredns_errors", ("component", "kube-system/coredns"), (30, 120), 0.6, cluster=cluster)
    for app in c.some([w for w in cluster.workloads if w.kind == "deployment"], 0.4, 15):
        c.emit("app_dns_errors", app, (60, 240), 0.6)  # the same name on many services at once
        if app.url:
            c.emit("probe_failed", ("probe", app.url), (90, 300), 0.3, cluster=cluster)


@fault("network", 2)
def cni_agent_failure(c: Cascade) -> None:
    cluster = c.cluster()
    host = c.node(cluster)
    cni = next(w for w in cluster.workloads if w.name in ("cilium", "aws-node"))
    c.emit("cni_down", host, (0, 60), 0.8, root=True)
    c.pods_fail([p for p in cni.pods if p.host == host], (0, 60), "pod_crashloop", 0.6)
    c.pods_fail([p for p in cluster.pods_on(host) if p.workload.kind != "daemonset"], (60, 300), p=0.6)
    c.emit("node_not_ready", host, (120, 300), 0.3)


@fault("network", 3)
def conntrack_exhaustion(c: Cascade) -> None:
    host = c.node()
    c.emit("host_conntrack", host, (0, 60), 0.9, root=True)
    for pod in c.some(cluster_of(c.estate, host).pods_on(host), 0.3, 6):
        c.emit("app_errors", pod.workload, (60, 300), 0.4)


# storage
@fault("hardware", 2)
def ceph_osd_failure(c: Cascade) -> None:
    ceph = c.backend("ceph")
    c.emit("host_disk_errors", ceph.hosts[0], (0, 60), 0.5)
    c.emit("ceph_osd_down", ceph, (30, 120), 0.9, root=True)
    c.emit("ceph_degraded", ceph, (60, 240), 0.7)
    for cluster in c.estate.clusters:
        for sts in c.some([w for w in cluster.workloads if w.kind == "statefulset"], 0.3, 3):
            c.emit("pv_errors", ("volume", f"{sts.namespace}/data-{sts.pods[0].name}"), (120, 600), 0.4,
                   cluster=cluster)
            c.emit("etcd_fsync", ("component", "kube-system/etcd"), (120, 600), 0.2, cluster=cluster)


@fault("capacity", 3, familiar=True)
def volume_filling_up(c: Cascade) -> None:
    cluster = c.cluster()
    sts = c.r.choice([w for w in cluster.workloads if w.kind == "statefulset"])
    c.emit("pvc_full", ("volume", f"{sts.namespace}/data-{sts.pods[0].name}"), (0, 60), 0.95, root=True,
           cluster=cluster)
    c.pods_fail(sts.pods[:1], (600, 1500), "pod_crashloop", 0.5)
    c.emit("sts_replicas", sts, (700, 1600), 0.4)


@fault("hardware", 2)
def nfs_server_hang(c: Cascade) -> None:
    cluster = c.cluster()
    for host in c.some(cluster.nodes, 0.3, 10):
        c.emit("nfs_stale", host, (0, 120), 0.7, root=True)
        c.emit("host_load", host, (60, 300), 0.5)
    c.emit("host_down", c.r.choice([h for h in c.estate.vms if h.name.startswith("stor")]), (0, 30), 0.5)


# databases, queues, caches
@fault("software", 1, familiar=True)
def database_outage(c: Cascade) -> None:
    backend = c.backend("postgres", "mysql")
    down = "pg_down" if backend.kind == "postgres" else "mysql_down"
    c.emit(down, backend, (0, 90), 0.9, root=True)
    c.emit("pg_exporter" if backend.kind == "postgres" else "mysql_replication", backend, (0, 120), 0.6)
    c.emit("exporter_down", backend.hosts[0], (60, 200), 0.3)
    c.clients_hurt(backend, "app_db_errors", (30, 180))


@fault("capacity", 3, familiar=True)
def replication_lag(c: Cascade) -> None:
    backend = c.backend("postgres", "mysql")
    c.emit("pg_lag" if backend.kind == "postgres" else "mysql_replication", backend, (0, 60), 0.95, root=True)
    if backend.kind == "mysql":
        c.category = "software"  # what MySQL alerts on is its replication thread stopped, not lag
    c.emit("host_disk_latency", backend.hosts[-1], (0, 120), 0.5)


@fault("capacity", 2)
def connection_pool_exhaustion(c: Cascade) -> None:
    backend = c.backend("postgres")
    c.emit("pg_connections", backend, (0, 60), 0.9, root=True)
    c.emit("pg_slow", backend, (30, 200), 0.5)
    c.clients_hurt(backend, "app_db_errors", (60, 240), 0.6)


@fault("software", 3)
def deadlock_storm(c: Cascade) -> None:
    backend = c.backend("postgres")
    c.emit("pg_deadlocks", backend, (0, 60), 0.9, root=True)
    c.emit("pg_slow", backend, (0, 120), 0.6)
    for client in backend.clients:
        c.emit("app_latency", client, (60, 240), 0.5)


@fault("software", 2)
def kafka_broker_loss(c: Cascade) -> None:
    kafka = c.backend("kafka")
    c.emit("kafka_broker_down", kafka, (0, 60), 0.8, root=True)
    c.emit("kafka_under_replicated", kafka, (30, 120), 0.8)
    c.emit("host_down", kafka.hosts[0], (0, 90), 0.4)
    c.emit("kafka_lag", kafka, (120, 600), 0.6)
    c.clients_hurt(kafka, "app_queue_errors", (60, 240), 0.5)


@fault("capacity", 2)
def rabbitmq_memory_alarm(c: Cascade) -> None:
    rabbit = c.backend("rabbitmq")
    c.emit("rabbit_memory", rabbit, (0, 60), 0.9, root=True)
    c.emit("rabbit_queue", rabbit, (60, 300), 0.7)
    c.emit("host_memory", rabbit.hosts[0], (0, 120), 0.5)
    c.clients_hurt(rabbit, "app_queue_errors", (60, 240), 0.6)


@fault("capacity", 3)
def cache_eviction_storm(c: Cascade) -> None:
    redis = c.backend("redis")
    c.emit("redis_memory", redis, (0, 60), 0.9, root=True)
    c.emit("redis_rejected", redis, (60, 240), 0.6)
    for client in redis.clients:
        c.emit("app_latency", client, (60, 300), 0.6)


@fault("software", 2)
def search_cluster_red(c: Cascade) -> None:
    es = c.backend("elasticsearch")
    c.emit("es_disk", es, (0, 60), 0.6)
    c.emit("es_red", es, (60, 240), 0.9, root=True)
    if any(s.signal == "es_disk" for s in c.symptoms):
        c.category = "capacity"  # red after the disk watermark: shards could not be allocated for want of disk
    c.clients_hurt(es, "app_errors", (120, 300), 0.5)


# control plane, ingress
@fault("software", 2)
def etcd_disk_latency(c: Cascade) -> None:
    cluster = c.cluster()
    c.emit("etcd_fsync", ("component", "kube-system/etcd"), (0, 60), 0.9, root=True, cluster=cluster)
    c.emit("etcd_leader", ("component", "kube-system/etcd"), (60, 240), 0.6, cluster=cluster)
    c.emit("apiserver_latency", ("component", "default/apiserver"), (60, 300), 0.6, cluster=cluster)
    c.emit("apiserver_errors", ("component", "default/apiserver"), (120, 400), 0.4, cluster=cluster)


@fault("software", 1)
def ingress_controller_crash(c: Cascade) -> None:
    cluster = c.cluster()
    ingress = cluster.system("ingress-nginx-controller")
    c.emit("ingress_down", ("component", "ingress-nginx/ingress-nginx-controller"), (0, 60), 0.7, root=True,
           cluster=cluster)
    c.pods_fail(ingress.pods, (0, 90), "pod_crashloop", 0.7)
    for app in [w for w in cluster.workloads if w.url]:
        c.emit("probe_failed", ("probe", app.url), (30, 150), 0.7, cluster=cluster)


# cloud instance checks
@fault("hardware", 2)
def cloud_host_degraded(c: Cascade) -> None:
    cluster = c.r.choice([cl for cl in c.estate.clusters if cl.cloud != "onprem"])
    host = c.node(cluster)
    c.emit("cloud_retirement", host, (0, 30), 0.3)
    c.emit("cloud_system_check", host, (0, 120), 0.9, root=True)
    c.emit("cloud_lb_unhealthy", host, (120, 300), 0.4)
    c.node_lost(host, (60, 240), 0.7)


@fault("network", 2)
def cloud_zone_network_degradation(c: Cascade) -> None:
    cluster = c.r.choice([cl for cl in c.estate.clusters if cl.cloud != "onprem"])
    hosts = c.some(cluster.nodes, 0.3, 10)
    c.emit("cloud_network", hosts[0], (0, 120), 0.6, root=True)
    for host in hosts:
        c.emit("cloud_instance_check", host, (60, 300), 0.3)
        c.emit("node_unreachable", host, (60, 300), 0.5)
        c.emit("host_nic_errors", host, (0, 200), 0.4)


# certificates
@fault("human_error", 2, familiar=True)
def certificate_expired(c: Cascade) -> None:
    app = c.app(public=True)
    c.emit("cert_expiring", ("cert", app.url), (-86400, -3600), 0.3, cluster=app.cluster)
    c.emit("cert_expired", ("cert", app.url), (0, 60), 0.9, root=True, cluster=app.cluster)
    c.emit("probe_failed", ("probe", app.url), (0, 120), 0.7, cluster=app.cluster)
    for client in c.some([w for w in app.cluster.workloads if w.kind == "deployment"], 0.1, 4):
        c.emit("app_tls_errors", client, (60, 300), 0.5)


@fault("software", 3)
def cert_manager_renewal_failure(c: Cascade) -> None:
    app = c.app(public=True)
    c.emit("cert_not_ready", ("component", f"{app.namespace}/{app.namespace}-tls"), (0, 60), 0.9, root=True,
           cluster=app.cluster)
    c.emit("cert_expiring", ("cert", app.url), (600, 1800), 0.6, cluster=app.cluster)


# security detections
@fault("security", 1, area="confidentiality")
def cryptominer_in_pod(c: Cascade) -> None:
    app = c.app()
    pod = c.r.choice(app.pods)
    c.emit("sec_miner", pod, (0, 60), 0.8, root=True)
    c.emit("sec_outbound", pod, (0, 120), 0.6)
    c.emit("host_cpu", pod.host, (60, 300), 0.7)
    c.emit("pod_throttled", pod, (60, 300), 0.5)


@fault("security", 1, area="confidentiality")
def intrusion_via_shell(c: Cascade) -> None:
    app = c.app()
    pod = c.r.choice(app.pods)
    c.emit("sec_shell", pod, (0, 30), 0.9, root=True)
    c.emit("sec_secret_access", ("component", f"{app.namespace}/{app.name}"), (60, 600), 0.5, cluster=app.cluster)
    c.emit("sec_privileged", pod, (120, 900), 0.4)


@fault("security", 2, area="integrity")
def ssh_bruteforce_and_tamper(c: Cascade) -> None:
    host = c.vm()
    c.emit("sec_bruteforce", host, (0, 60), 0.9, root=True)
    c.emit("sec_file_integrity", host, (300, 1800), 0.4)
    c.emit("host_unit_failed", host, (600, 1800), 0.2)


@fault("software", 3, familiar=True)
def ntp_drift(c: Cascade) -> None:
    cluster = c.cluster()
    for host in c.some(cluster.nodes, 0.4, 12):  # one name across many hosts at one moment
        c.emit("host_clock", host, (0, 180), 0.8, root=True)
    c.emit("etcd_leader", ("component", "kube-system/etcd"), (300, 900), 0.3, cluster=cluster)
