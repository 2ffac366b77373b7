"""Creates the devcloud's users, catalog, flavor and networks over REST.

One Python process instead of dozens of `openstack` CLI calls (each pays ~2 s
of start-up). Subcommands:

- ``identity``: after Keystone answers: projects, users, roles, the catalog,
  and the clouds.yaml file.
- ``resources``: after Nova and Neutron answer: the flavor, the tenant and
  external networks, the router that makes floating IPs possible.
- ``wait-compute``: until Nova lists the compute node, its host is mapped to
  the cell and Placement has its inventory.
"""

import argparse
import os
import subprocess
import sys
import time

import yaml
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

SERVICES = [
    # (user, service type, service name, port key)
    ("glance", "image", "glance", "glance"),
    ("placement", "placement", "placement", "placement"),
    ("nova", "compute", "nova", "nova"),
    ("neutron", "network", "neutron", "neutron"),
]
FLAVOR = {"name": "virtbench.tiny", "ram": 256, "vcpus": 1, "disk": 1}
# The resize target of the C13 experiment (twice the memory of virtbench.tiny).
FLAVORS = [FLAVOR, {"name": "virtbench.small", "ram": 512, "vcpus": 1, "disk": 1}]


def admin_session(args):
    auth = v3.Password(
        auth_url=args.auth_url, username="admin", password=args.password,
        project_name="admin", user_domain_name="Default", project_domain_name="Default",
    )
    return ks_session.Session(auth=auth)


class Rest:
    def __init__(self, sess, service_type, headers=None, prefix=""):
        self.sess = sess
        self.filt = {"service_type": service_type, "interface": "public"}
        self.headers = headers or {}
        # Keystone's catalog URL has no version: its paths need one.
        self.prefix = prefix

    def get(self, path):
        return self.sess.get(self.prefix + path, endpoint_filter=self.filt,
                             headers=self.headers).json()

    def post(self, path, body):
        return self.sess.post(self.prefix + path, json=body, endpoint_filter=self.filt,
                              headers=self.headers).json()

    def put(self, path, body=None):
        r = self.sess.put(self.prefix + path, json=body, endpoint_filter=self.filt,
                          headers=self.headers)
        return r.json() if r.content else None


def find_or_create(rest, collection, key, name, body, query=None):
    q = query or "name=%s" % name
    found = rest.get("/%s?%s" % (collection, q))[collection.rsplit("/", 1)[-1]]
    if found:
        return found[0]
    return rest.post("/%s" % collection, {key: body})[key]


def identity(args):
    sess = admin_session(args)
    ks = Rest(sess, "identity", prefix="/v3")
    url = "http://127.0.0.1:%d"
    domain = "default"
    roles = {}
    for role in ("admin", "member", "reader", "service"):
        roles[role] = find_or_create(ks, "roles", "role", role, {"name": role})["id"]
    service_project = find_or_create(
        ks, "projects", "project", "service", {"name": "service", "domain_id": domain})
    bench_project = find_or_create(
        ks, "projects", "project", "virtbench", {"name": "virtbench", "domain_id": domain})

    def user(name, project, role_names):
        u = find_or_create(ks, "users", "user", name, {
            "name": name, "password": args.password, "domain_id": domain,
            "default_project_id": project["id"]})
        for r in role_names:
            ks.put("/projects/%s/users/%s/roles/%s" % (project["id"], u["id"], roles[r]))
        return u

    for name, stype, sname, port_key in SERVICES:
        user(name, service_project, ["admin", "service"])
        svc = find_or_create(ks, "services", "service", sname,
                             {"name": sname, "type": stype, "enabled": True},
                             query="type=%s" % stype)
        existing = ks.get("/endpoints?service_id=%s" % svc["id"])["endpoints"]
        have = {e["interface"] for e in existing}
        base = url % getattr(args, "port_" + port_key)
        if stype == "compute":
            base += "/v2.1"
        for iface in ("public", "internal"):
            if iface not in have:
                ks.post("/endpoints", {"endpoint": {
                    "service_id": svc["id"], "interface": iface, "url": base,
                    "region_id": "RegionOne", "enabled": True}})
    user("virtbench", bench_project, ["member"])
    write_clouds_yaml(args)


def cloud_entry(args, user, project):
    return {
        "auth": {
            "auth_url": args.auth_url, "username": user, "password": args.password,
            "project_name": project, "user_domain_name": "Default",
            "project_domain_name": "Default",
        },
        "region_name": "RegionOne",
        "identity_api_version": 3,
        "interface": "public",
    }


def write_clouds_yaml(args):
    entries = {
        "virtbench-devcloud": cloud_entry(args, "virtbench", "virtbench"),
        "virtbench-devcloud-admin": cloud_entry(args, "admin", "admin"),
    }
    for path in args.clouds_yaml:
        data = {}
        if os.path.exists(path):
            with open(path) as f:
                data = yaml.safe_load(f) or {}
        data.setdefault("clouds", {}).update(entries)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            yaml.safe_dump(data, f, default_flow_style=False, sort_keys=False)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
        print("clouds.yaml: %s" % path)


def resources(args):
    sess = admin_session(args)
    ks = Rest(sess, "identity", prefix="/v3")
    nova = Rest(sess, "compute", {"OpenStack-API-Version": "compute 2.90"})
    neutron = Rest(sess, "network")
    bench_project = ks.get("/projects?name=virtbench")["projects"][0]["id"]

    flavors = nova.get("/flavors?is_public=None")["flavors"]
    for flavor in FLAVORS:
        if not any(f["name"] == flavor["name"] for f in flavors):
            nova.post("/flavors", {"flavor": dict(flavor, **{"os-flavor-access:is_public": True})})

    net = find_or_create(neutron, "v2.0/networks", "network", args.network, {
        "name": args.network, "shared": True,
        "provider:network_type": "flat", "provider:physical_network": "tenant"})
    subnet = find_or_create(neutron, "v2.0/subnets", "subnet", args.network + "-subnet", {
        "name": args.network + "-subnet", "network_id": net["id"], "ip_version": 4,
        "cidr": args.tenant_cidr, "gateway_ip": args.tenant_gw, "enable_dhcp": True,
        "allocation_pools": [pool(args.tenant_cidr)]})
    ext = find_or_create(neutron, "v2.0/networks", "network", args.ext_network, {
        "name": args.ext_network, "router:external": True,
        "provider:network_type": "flat", "provider:physical_network": "external"})
    find_or_create(neutron, "v2.0/subnets", "subnet", args.ext_network + "-subnet", {
        "name": args.ext_network + "-subnet", "network_id": ext["id"], "ip_version": 4,
        "cidr": args.ext_cidr, "gateway_ip": args.ext_gw, "enable_dhcp": False,
        "allocation_pools": [pool(args.ext_cidr)]})
    routers = neutron.get("/v2.0/routers?name=virtbench-router")["routers"]
    if not routers:
        router = neutron.post("/v2.0/routers", {"router": {
            "name": "virtbench-router", "project_id": bench_project,
            "external_gateway_info": {"network_id": ext["id"]}}})["router"]
        neutron.put("/v2.0/routers/%s/add_router_interface" % router["id"],
                    {"subnet_id": subnet["id"]})


def pool(cidr):
    prefix = cidr.rsplit(".", 1)[0]
    return {"start": prefix + ".10", "end": prefix + ".250"}


def wait_compute(args):
    import pymysql

    sess = admin_session(args)
    nova = Rest(sess, "compute", {"OpenStack-API-Version": "compute 2.53"})
    placement = Rest(sess, "placement", {"OpenStack-API-Version": "placement 1.14"})
    deadline = time.time() + args.timeout
    state = "no hypervisor yet"
    discovered = False
    while time.time() < deadline:
        hyps = nova.get("/os-hypervisors")["hypervisors"]
        up = [h for h in hyps if h.get("state") == "up"]
        if up:
            conn = pymysql.connect(host="127.0.0.1", port=args.port_mysql, user="root",
                                   password=args.password, database="nova_api")
            with conn:
                with conn.cursor() as cur:
                    cur.execute("SELECT host FROM host_mappings")
                    mapped = {row[0] for row in cur.fetchall()}
            rps = placement.get("/resource_providers")["resource_providers"]
            if not mapped and args.nova_manage and not discovered:
                # The scheduler's periodic discovery may take a minute: map now.
                subprocess.run([args.nova_manage, "--config-file", args.nova_conf,
                                "cell_v2", "discover_hosts"], check=False,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                discovered = True
                continue
            if not mapped:
                state = "compute host not mapped to a cell yet"
            elif not rps:
                state = "no resource provider in placement yet"
            else:
                inv = placement.get("/resource_providers/%s/inventories" % rps[0]["uuid"])
                if "MEMORY_MB" in inv.get("inventories", {}):
                    print("compute ready: %s, mapped %s" % (
                        up[0]["hypervisor_hostname"], ", ".join(sorted(mapped))))
                    return
                state = "no inventory in placement yet"
        time.sleep(1)
    sys.exit("compute not ready after %ds: %s" % (args.timeout, state))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("command", choices=["identity", "resources", "wait-compute"])
    p.add_argument("--auth-url", required=True)
    p.add_argument("--password", default=os.environ.get("DEVCLOUD_PASSWORD"))
    for key in ("glance", "placement", "nova", "neutron", "mysql"):
        p.add_argument("--port-" + key, type=int, default=0)
    p.add_argument("--clouds-yaml", action="append", default=[])
    p.add_argument("--network", default="virtbench-net")
    p.add_argument("--ext-network", default="virtbench-ext")
    p.add_argument("--tenant-cidr", default="10.99.0.0/24")
    p.add_argument("--tenant-gw", default="10.99.0.1")
    p.add_argument("--ext-cidr", default="10.98.0.0/24")
    p.add_argument("--ext-gw", default="10.98.0.1")
    p.add_argument("--timeout", type=int, default=180)
    p.add_argument("--nova-manage", help="nova-manage, to map the compute host at once")
    p.add_argument("--nova-conf")
    args = p.parse_args()
    {"identity": identity, "resources": resources, "wait-compute": wait_compute}[
        args.command](args)


if __name__ == "__main__":
    main()
