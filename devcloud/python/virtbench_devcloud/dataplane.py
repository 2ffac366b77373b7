"""The devcloud's minimal data plane: what Neutron's agents would do, in one process.

- Plugs every instance tap (``tap<port-id[:11]>``, created by Nova for the
  ``vif_type=tap`` binding of our ML2 driver) into the tenant bridge.
- Runs dnsmasq on the bridge as a static DHCP server fed the MAC/IP pairs of the
  tenant network's Neutron ports (no dynamic range: only known ports get a lease).
- Serves the metadata endpoint on 169.254.169.254:80 (an address of the bridge):
  the instance is found by the source IP of the request, its user_data comes
  from Nova.
- DNATs floating IPs to their fixed IPs in an iptables chain of its own.
- Enforces the ingress rules of security groups (IPv4) on traffic to each
  instance's fixed IP, in the filter chain VBDC-SG (egress is not filtered).
- Gives every other tenant network created through the API an L2 segment of
  its own (a bridge ``vbdcn<net-id[:8]>`` carrying its subnet's gateway
  address, and a dnsmasq of its own), and forwards between the segments that
  a router joins (filter chain VBDC-ROUTE): networks, subnets and routers
  created through the API carry traffic.

It polls Neutron every second: a devcloud has a handful of ports.
"""

import argparse
import base64
import json
import logging
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

LOG = logging.getLogger("devcloud-dataplane")

FIP_CHAIN = "VBDC-FIP"
HAIRPIN_CHAIN = "VBDC-HAIRPIN"
SG_CHAIN = "VBDC-SG"
ROUTE_CHAIN = "VBDC-ROUTE"
SEGMENT_PREFIX = "vbdcn"


def run(*cmd, check=True):
    res = subprocess.run(cmd, capture_output=True, text=True)
    if check and res.returncode != 0:
        raise RuntimeError("%s failed: %s" % (" ".join(cmd), res.stderr.strip()))
    return res


class Cloud:
    """Admin access to Neutron and Nova over REST."""

    def __init__(self, auth_url, password):
        auth = v3.Password(
            auth_url=auth_url,
            username="admin",
            password=password,
            project_name="admin",
            user_domain_name="Default",
            project_domain_name="Default",
        )
        self.sess = ks_session.Session(auth=auth)

    def neutron(self, path):
        r = self.sess.get(
            path, endpoint_filter={"service_type": "network", "interface": "public"}
        )
        return r.json()

    def server(self, server_id):
        r = self.sess.get(
            "/servers/%s" % server_id,
            endpoint_filter={"service_type": "compute", "interface": "public"},
            headers={"OpenStack-API-Version": "compute 2.3"},
            raise_exc=False,
        )
        if r.status_code != 200:
            return None
        return r.json()["server"]


class State:
    """What the last poll saw, shared with the metadata server."""

    def __init__(self):
        self.lock = threading.Lock()
        self.ip_to_device = {}  # fixed IP -> Nova server id


class DnsmasqManager:
    """args: state, bridge, gateway, subnet_start, netmask. ``name`` keeps the
    files of several instances apart (one per segment)."""

    def __init__(self, args, name="dnsmasq"):
        self.args = args
        self.proc = None
        self.hosts = None
        suffix = "" if name == "dnsmasq" else "-" + name
        self.hosts_file = os.path.join(args.state, "dataplane", "dhcp-hosts" + suffix)
        self.pid_file = os.path.join(args.state, "run", name + ".pid")
        self.log_file = os.path.join(args.state, "log", name + ".log")

    def _start(self):
        a = self.args
        cmd = [
            "dnsmasq",
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--port=0",  # no DNS, DHCP only
            "--bind-interfaces",
            "--interface=%s" % a.bridge,
            "--except-interface=lo",
            "--listen-address=%s" % a.gateway,
            "--dhcp-range=%s,static,%s,1h" % (a.subnet_start, a.netmask),
            "--dhcp-option=option:router,%s" % a.gateway,
            "--dhcp-hostsfile=%s" % self.hosts_file,
            "--dhcp-authoritative",
            "--leasefile-ro",
            "--pid-file=%s" % self.pid_file,
            "--log-dhcp",
            "--log-facility=%s" % self.log_file,
        ]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL)
        LOG.info("dnsmasq started, pid %s", self.proc.pid)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def update(self, hosts):
        """hosts: sorted list of (mac, ip). Restart dnsmasq when one goes away
        (its in-memory lease would keep the IP from a new MAC); SIGHUP otherwise."""
        if self.proc is not None and self.proc.poll() is not None:
            LOG.warning("dnsmasq exited with %s, restarting", self.proc.returncode)
            self.proc = None
        if hosts == self.hosts and self.proc is not None:
            return
        tmp = self.hosts_file + ".tmp"
        with open(tmp, "w") as f:
            for mac, ip in hosts:
                f.write("%s,%s\n" % (mac, ip))
        os.replace(tmp, self.hosts_file)
        removed = self.hosts is not None and bool(set(self.hosts) - set(hosts))
        if self.proc is None or removed:
            self.stop()
            self._start()
        else:
            self.proc.send_signal(signal.SIGHUP)
        LOG.info("DHCP hosts: %s", ", ".join("%s=%s" % h for h in hosts) or "none")
        self.hosts = hosts


def plug_taps(bridge, port_ids, known, known_file):
    """Enslave the taps of known ports that are not on the bridge yet; remember
    every tap name in known_file so that devcloud/down removes them all."""
    wanted = {"tap" + pid[:11] for pid in port_ids}
    if not wanted <= known:
        known |= wanted
        with open(known_file, "w") as f:
            f.write("".join(t + "\n" for t in sorted(known)))
    for name in os.listdir("/sys/class/net"):
        if name not in wanted:
            continue
        if os.path.exists("/sys/class/net/%s/master" % name):
            continue
        res = run("ip", "link", "set", name, "master", bridge, "up", check=False)
        if res.returncode == 0:
            LOG.info("plugged %s into %s", name, bridge)
        else:
            LOG.warning("could not plug %s: %s", name, res.stderr.strip())


def ensure_jump(hook, chain):
    run("iptables", "-t", "nat", "-N", chain, check=False)
    if run("iptables", "-t", "nat", "-C", hook, "-j", chain, check=False).returncode:
        run("iptables", "-t", "nat", "-I", hook, "1", "-j", chain)


class FipNat:
    def __init__(self, tenant_cidr):
        self.rules = None
        self.tenant_cidr = tenant_cidr

    def setup(self):
        ensure_jump("PREROUTING", FIP_CHAIN)
        ensure_jump("OUTPUT", FIP_CHAIN)
        # An instance reaching another through its floating IP: the reply must
        # come back through the host to be un-DNATed, so masquerade that case.
        ensure_jump("POSTROUTING", HAIRPIN_CHAIN)
        run("iptables", "-t", "nat", "-F", HAIRPIN_CHAIN)
        run("iptables", "-t", "nat", "-A", HAIRPIN_CHAIN, "-s", self.tenant_cidr,
            "-d", self.tenant_cidr, "-m", "conntrack", "--ctstate", "DNAT",
            "-j", "MASQUERADE")

    def update(self, pairs):
        if pairs == self.rules:
            return
        run("iptables", "-t", "nat", "-F", FIP_CHAIN)
        for fip, fixed in pairs:
            run("iptables", "-t", "nat", "-A", FIP_CHAIN, "-d", fip + "/32",
                "-j", "DNAT", "--to-destination", fixed)
        LOG.info("floating IPs: %s", ", ".join("%s->%s" % p for p in pairs) or "none")
        self.rules = pairs


def segment_bridge(net_id):
    return SEGMENT_PREFIX + net_id.replace("-", "")[:8]


def route_rules(routers_ifaces, bridge_of, segments):
    """FORWARD rules: within each segment (bridged frames between its instances,
    which Docker's DROP policy would otherwise stop), and between the segments
    each router joins. routers_ifaces: {router id: [network id of each
    interface]}; bridge_of: network id -> bridge name (networks without a bridge
    of ours are skipped); segments: the segments' bridge names."""
    out = [["-i", b, "-o", b, "-j", "ACCEPT"] for b in sorted(segments)]
    for rid in sorted(routers_ifaces):
        bridges = sorted({bridge_of[n] for n in routers_ifaces[rid] if n in bridge_of})
        for a in bridges:
            for b in bridges:
                if a != b:
                    out.append(["-i", a, "-o", b, "-j", "ACCEPT"])
    return out


class Segment:
    """One tenant network's L2 segment: its bridge, the subnet's gateway address
    on it (the router's address, and where its dnsmasq listens), its dnsmasq."""

    def __init__(self, args, net_id, cidr, gateway):
        self.bridge = segment_bridge(net_id)
        self.cidr, self.gateway = cidr, gateway
        net, prefix = cidr.split("/")
        ns = argparse.Namespace(
            state=args.state, bridge=self.bridge, gateway=gateway, subnet_start=net,
            netmask=socket.inet_ntoa(struct.pack(
                "!I", (0xFFFFFFFF << (32 - int(prefix))) & 0xFFFFFFFF)))
        self.prefix = prefix
        self.dnsmasq = DnsmasqManager(ns, name="dnsmasq-" + self.bridge)

    def ensure(self, bridges_file):
        if not os.path.exists("/sys/class/net/%s" % self.bridge):
            run("ip", "link", "add", "name", self.bridge, "type", "bridge")
            with open(bridges_file, "a") as f:
                f.write(self.bridge + "\n")
            LOG.info("segment %s for %s", self.bridge, self.cidr)
        run("ip", "link", "set", self.bridge, "up")
        addr = "%s/%s" % (self.gateway, self.prefix)
        if addr not in run("ip", "-o", "-4", "addr", "show", "dev", self.bridge).stdout:
            run("ip", "addr", "add", addr, "dev", self.bridge)

    def remove(self):
        self.dnsmasq.stop()
        run("ip", "link", "del", self.bridge, check=False)
        LOG.info("segment %s removed", self.bridge)


class RouteFilter:
    """Chain VBDC-ROUTE in the filter table, from FORWARD: what routers join."""

    def __init__(self):
        self.rules = None

    def setup(self):
        run("iptables", "-N", ROUTE_CHAIN, check=False)
        while run("iptables", "-D", "FORWARD", "-j", ROUTE_CHAIN, check=False).returncode == 0:
            pass
        # Below the security groups' jumps (SecurityGroupFilter.setup runs after).
        run("iptables", "-I", "FORWARD", "1", "-j", ROUTE_CHAIN)

    def update(self, rules):
        if rules == self.rules:
            return
        restore_chain(ROUTE_CHAIN, rules)
        LOG.info("routes between segments: %d rules", len(rules))
        self.rules = rules


def restore_chain(chain, rules):
    text = "*filter\n:%s - [0:0]\n" % chain
    text += "".join("-A %s %s\n" % (chain, " ".join(r)) for r in rules)
    text += "COMMIT\n"
    res = subprocess.run(["iptables-restore", "--noflush"], input=text,
                         capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError("iptables-restore: %s" % res.stderr.strip())


def sg_rules(ports, groups):
    """iptables rules (argument lists for ``-A VBDC-SG``) enforcing the ingress
    rules of each port's security groups on traffic to its IPv4 fixed IPs.

    ports: Neutron ports (``fixed_ips``, ``security_groups``,
    ``port_security_enabled``); groups: security groups with their
    ``security_group_rules``. A rule with a ``remote_group_id`` admits the fixed
    IPs of the ports in that group. Whatever no rule admits is dropped.
    """
    by_id = {g["id"]: g for g in groups}
    members = {}
    for p in ports:
        for gid in p.get("security_groups") or []:
            members.setdefault(gid, []).extend(
                f["ip_address"] for f in p["fixed_ips"] if ":" not in f["ip_address"])
    out = [
        ["-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"],
        # DHCP answers from dnsmasq on the host.
        ["-p", "udp", "--sport", "67", "--dport", "68", "-j", "ACCEPT"],
    ]
    for p in sorted(ports, key=lambda p: p["id"]):
        if p.get("port_security_enabled") is False:
            continue
        for ip in sorted(f["ip_address"] for f in p["fixed_ips"] if ":" not in f["ip_address"]):
            for gid in sorted(p.get("security_groups") or []):
                for r in by_id.get(gid, {}).get("security_group_rules", []):
                    if r.get("direction") != "ingress" or r.get("ethertype", "IPv4") != "IPv4":
                        continue
                    match = ["-d", ip + "/32"]
                    proto = r.get("protocol")
                    if proto not in (None, "any", "0"):
                        match += ["-p", str(proto)]
                        lo, hi = r.get("port_range_min"), r.get("port_range_max")
                        if lo is not None and str(proto) in ("tcp", "udp", "6", "17"):
                            match += ["--dport", "%s:%s" % (lo, hi if hi is not None else lo)]
                    if r.get("remote_group_id"):
                        for src in sorted(set(members.get(r["remote_group_id"], []))):
                            out.append(match + ["-s", src + "/32", "-j", "ACCEPT"])
                    else:
                        prefix = r.get("remote_ip_prefix")
                        out.append(match + (["-s", prefix] if prefix else []) + ["-j", "ACCEPT"])
            out.append(["-d", ip + "/32", "-j", "DROP"])
    return out


class SecurityGroupFilter:
    """The chain VBDC-SG in the filter table, jumped to from FORWARD (traffic
    between instances and from outside, after DNAT) and OUTPUT (from the host),
    for packets going out on the bridge. Replaced atomically (iptables-restore)."""

    def __init__(self, bridge):
        self.bridge = bridge
        self.rules = None

    def setup(self):
        run("iptables", "-N", SG_CHAIN, check=False)
        for hook in ("FORWARD", "OUTPUT"):
            for out in (self.bridge, SEGMENT_PREFIX + "+"):
                # On top, whatever others (Docker, CNI) inserted since.
                jump = ["-o", out, "-j", SG_CHAIN]
                while run("iptables", "-D", hook, *jump, check=False).returncode == 0:
                    pass
                run("iptables", "-I", hook, "1", *jump)

    def update(self, rules):
        if rules == self.rules:
            return
        restore_chain(SG_CHAIN, rules)
        LOG.info("security groups: %d rules", len(rules))
        self.rules = rules


def make_metadata_handler(cloud, state, refresh):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, fmt, *args):
            LOG.info("metadata %s %s", self.client_address[0], fmt % args)

        def _send(self, code, body, ctype="text/plain"):
            data = body.encode() if isinstance(body, str) else body
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            ip = self.client_address[0]
            with state.lock:
                device = state.ip_to_device.get(ip)
            if device is None:
                refresh()
                with state.lock:
                    device = state.ip_to_device.get(ip)
            if device is None:
                return self._send(404, "no instance has address %s\n" % ip)
            server = cloud.server(device)
            if server is None:
                return self._send(404, "instance %s not found\n" % device)
            path = self.path.split("?")[0].rstrip("/")
            user_data = server.get("OS-EXT-SRV-ATTR:user_data")
            if path.endswith("/user_data") or path.endswith("/user-data"):
                if not user_data:
                    return self._send(404, "no user_data\n")
                return self._send(200, base64.b64decode(user_data),
                                  "application/octet-stream")
            if path.endswith("/meta_data.json"):
                meta = {
                    "uuid": server["id"],
                    "name": server["name"],
                    "hostname": server["name"],
                    "project_id": server.get("tenant_id"),
                    "availability_zone": server.get("OS-EXT-AZ:availability_zone"),
                    "launch_index": 0,
                    "meta": server.get("metadata", {}),
                    "public_keys": {},
                }
                return self._send(200, json.dumps(meta), "application/json")
            if path.endswith("/meta-data/instance-id"):
                return self._send(200, server["id"])
            if path.endswith("/meta-data/local-ipv4"):
                return self._send(200, ip)
            if path.endswith("/meta-data/hostname"):
                return self._send(200, server["name"])
            if path in ("/openstack", "/openstack/latest", ""):
                return self._send(200, "meta_data.json\nuser_data\n")
            return self._send(404, "not found\n")

    return Handler


class Dataplane:
    def __init__(self, args):
        self.args = args
        self.cloud = Cloud(args.auth_url, args.password)
        self.state = State()
        self.dnsmasq = DnsmasqManager(args)
        self.fip = FipNat(args.tenant_cidr)
        self.sg = SecurityGroupFilter(args.bridge)
        self.routes = RouteFilter()
        self.segments = {}  # network id -> Segment
        self.poll_lock = threading.Lock()
        self.stopping = threading.Event()
        self.tenant_net = None
        self.known_taps = set()

    def _find_network(self):
        nets = self.cloud.neutron("/v2.0/networks?name=%s" % self.args.network)["networks"]
        if not nets:
            raise RuntimeError("network %s not found" % self.args.network)
        return nets[0]["id"]

    def poll(self):
        with self.poll_lock:
            if self.tenant_net is None:
                self.tenant_net = self._find_network()
            all_ports = self.cloud.neutron("/v2.0/ports")["ports"]
            ports = [p for p in all_ports if p["network_id"] == self.tenant_net]
            hosts, ip_to_device, port_ids, instance_ports = [], {}, [], []
            for p in ports:
                if not p["device_owner"].startswith("compute:"):
                    continue
                port_ids.append(p["id"])
                instance_ports.append(p)
                for fixed in p["fixed_ips"]:
                    if ":" in fixed["ip_address"]:
                        continue
                    hosts.append((p["mac_address"], fixed["ip_address"]))
                    ip_to_device[fixed["ip_address"]] = p["device_id"]
            self.dnsmasq.update(sorted(hosts))
            plug_taps(self.args.bridge, port_ids, self.known_taps,
                      os.path.join(self.args.state, "dataplane", "taps"))
            # The other tenant networks: a segment each.
            nets = self.cloud.neutron("/v2.0/networks")["networks"]
            subnets = self.cloud.neutron("/v2.0/subnets?ip_version=4")["subnets"]
            wanted = {}
            for n in nets:
                if n["id"] == self.tenant_net or n.get("router:external"):
                    continue
                sub = next((x for x in subnets if x["network_id"] == n["id"]
                            and x.get("gateway_ip")), None)
                if sub is not None:
                    wanted[n["id"]] = sub
            for nid in list(self.segments):
                seg = self.segments[nid]
                sub = wanted.get(nid)
                if sub is None or sub["cidr"] != seg.cidr or sub["gateway_ip"] != seg.gateway:
                    seg.remove()
                    del self.segments[nid]
            for nid, sub in wanted.items():
                seg = self.segments.get(nid)
                if seg is None:
                    seg = self.segments[nid] = Segment(self.args, nid, sub["cidr"], sub["gateway_ip"])
                seg.ensure(os.path.join(self.args.state, "dataplane", "bridges"))
                seg_hosts, seg_ports = [], []
                for p in all_ports:
                    if p["network_id"] != nid or not p["device_owner"].startswith("compute:"):
                        continue
                    seg_ports.append(p["id"])
                    instance_ports.append(p)
                    for fixed in p["fixed_ips"]:
                        if ":" not in fixed["ip_address"]:
                            seg_hosts.append((p["mac_address"], fixed["ip_address"]))
                            ip_to_device[fixed["ip_address"]] = p["device_id"]
                seg.dnsmasq.update(sorted(seg_hosts))
                plug_taps(seg.bridge, seg_ports, self.known_taps,
                          os.path.join(self.args.state, "dataplane", "taps"))
            with self.state.lock:
                self.state.ip_to_device = ip_to_device
            ifaces = {}
            for p in all_ports:
                if p["device_owner"] == "network:router_interface":
                    ifaces.setdefault(p["device_id"], []).append(p["network_id"])
            bridge_of = {nid: seg.bridge for nid, seg in self.segments.items()}
            bridge_of[self.tenant_net] = self.args.bridge
            self.routes.update(route_rules(
                ifaces, bridge_of, [seg.bridge for seg in self.segments.values()]))
            groups = self.cloud.neutron("/v2.0/security-groups")["security_groups"]
            self.sg.update(sg_rules(instance_ports, groups))
            fips = self.cloud.neutron("/v2.0/floatingips")["floatingips"]
            self.fip.update(sorted(
                (f["floating_ip_address"], f["fixed_ip_address"])
                for f in fips if f.get("fixed_ip_address")
            ))

    def serve_metadata(self):
        handler = make_metadata_handler(self.cloud, self.state, self._safe_poll)
        server = ThreadingHTTPServer((self.args.metadata_ip, 80), handler)
        server.daemon_threads = True
        LOG.info("metadata on http://%s:80", self.args.metadata_ip)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server

    def _safe_poll(self):
        try:
            self.poll()
        except Exception as exc:  # keep serving; the next poll retries
            LOG.warning("poll failed: %s", exc)

    def run(self):
        self.fip.setup()
        self.routes.setup()
        self.sg.setup()
        server = self.serve_metadata()
        try:
            while not self.stopping.is_set():
                self._safe_poll()
                self.stopping.wait(self.args.interval)
        finally:
            server.shutdown()
            self.dnsmasq.stop()
            for seg in self.segments.values():
                seg.dnsmasq.stop()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--state", required=True)
    p.add_argument("--auth-url", required=True)
    p.add_argument("--password", default=os.environ.get("DEVCLOUD_PASSWORD"))
    p.add_argument("--bridge", required=True)
    p.add_argument("--network", default="virtbench-net")
    p.add_argument("--gateway", required=True)
    p.add_argument("--tenant-cidr", required=True, help="e.g. 10.99.0.0/24")
    p.add_argument("--metadata-ip", default="169.254.169.254")
    p.add_argument("--interval", type=float, default=1.0)
    args = p.parse_args()
    net, prefix = args.tenant_cidr.split("/")
    args.subnet_start = net
    args.netmask = socket.inet_ntoa(struct.pack("!I", (0xFFFFFFFF << (32 - int(prefix))) & 0xFFFFFFFF))
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(message)s",
    )
    logging.getLogger("keystoneauth").setLevel(logging.WARNING)
    os.makedirs(os.path.join(args.state, "dataplane"), exist_ok=True)
    dp = Dataplane(args)

    def stop(signum, frame):
        LOG.info("signal %s: stopping", signum)
        dp.stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    dp.run()
    LOG.info("stopped")


if __name__ == "__main__":
    main()
