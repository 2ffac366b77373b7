"""Pure-logic tests of the data plane: the metadata handler against a stand-in
for Nova (the real path is exercised by devcloud/smoke), the DHCP hosts file.

Run: /opt/virtbench-devcloud/venv/bin/python -m unittest discover devcloud/python/tests
"""

import base64
import json
import os
import sys
import tempfile
import threading
import unittest
import urllib.error
import urllib.request
from http.server import ThreadingHTTPServer
from types import SimpleNamespace

# The sources next to this file, not whatever copy the venv holds.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from virtbench_devcloud import dataplane  # noqa: E402

SERVER = {
    "id": "5f0c6d2e-1111-2222-3333-444455556666",
    "name": "calc-1",
    "tenant_id": "p1",
    "metadata": {"k": "v"},
    "OS-EXT-SRV-ATTR:user_data": base64.b64encode(b"virtbench.role=all\n").decode(),
}


class FakeCloud:
    def server(self, server_id):
        return dict(SERVER) if server_id == SERVER["id"] else None


class MetadataTest(unittest.TestCase):
    def setUp(self):
        self.state = dataplane.State()
        self.refreshed = 0

        def refresh():
            self.refreshed += 1

        handler = dataplane.make_metadata_handler(FakeCloud(), self.state, refresh)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.base = "http://127.0.0.1:%d" % self.httpd.server_address[1]

    def tearDown(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def get(self, path):
        try:
            with urllib.request.urlopen(self.base + path, timeout=5) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def test_unknown_address_refreshes_then_404(self):
        code, _ = self.get("/openstack/latest/user_data")
        self.assertEqual(code, 404)
        self.assertEqual(self.refreshed, 1)

    def test_user_data_is_decoded(self):
        self.state.ip_to_device["127.0.0.1"] = SERVER["id"]
        self.assertEqual(self.get("/openstack/latest/user_data"), (200, b"virtbench.role=all\n"))
        self.assertEqual(self.get("/latest/user-data")[1], b"virtbench.role=all\n")

    def test_meta_data_json(self):
        self.state.ip_to_device["127.0.0.1"] = SERVER["id"]
        code, body = self.get("/openstack/latest/meta_data.json")
        self.assertEqual(code, 200)
        meta = json.loads(body)
        self.assertEqual((meta["uuid"], meta["name"], meta["meta"]), (SERVER["id"], "calc-1", {"k": "v"}))

    def test_no_user_data_is_404(self):
        self.state.ip_to_device["127.0.0.1"] = SERVER["id"]
        SERVER_NO_UD = dict(SERVER, **{"OS-EXT-SRV-ATTR:user_data": None})
        cloud = FakeCloud()
        cloud.server = lambda _id: SERVER_NO_UD
        handler = dataplane.make_metadata_handler(cloud, self.state, lambda: None)
        self.httpd.RequestHandlerClass = handler
        self.assertEqual(self.get("/openstack/latest/user_data")[0], 404)


class DhcpHostsTest(unittest.TestCase):
    def test_hosts_file_and_restart_on_removal(self):
        with tempfile.TemporaryDirectory() as d:
            os.makedirs(os.path.join(d, "dataplane"))
            mgr = dataplane.DnsmasqManager(SimpleNamespace(state=d))
            starts = []
            mgr._start = lambda: (starts.append(1), setattr(mgr, "proc", _Alive()))
            mgr.update([("fa:16:3e:00:00:01", "10.99.0.10")])
            mgr.update([("fa:16:3e:00:00:01", "10.99.0.10"), ("fa:16:3e:00:00:02", "10.99.0.11")])
            with open(mgr.hosts_file) as f:
                self.assertEqual(f.read(), "fa:16:3e:00:00:01,10.99.0.10\nfa:16:3e:00:00:02,10.99.0.11\n")
            self.assertEqual(len(starts), 1)  # an addition is a SIGHUP
            mgr.update([("fa:16:3e:00:00:02", "10.99.0.11")])
            self.assertEqual(len(starts), 2)  # a removal restarts (drops the lease)


class SecurityGroupRulesTest(unittest.TestCase):
    def test_ingress_rules_per_port_then_drop(self):
        groups = [
            {"id": "calc", "security_group_rules": [
                {"direction": "ingress", "ethertype": "IPv4", "protocol": "tcp",
                 "port_range_min": 50000, "port_range_max": 50004,
                 "remote_ip_prefix": "0.0.0.0/0"},
                {"direction": "ingress", "ethertype": "IPv4", "protocol": "icmp"},
                {"direction": "egress", "ethertype": "IPv4"},
                {"direction": "ingress", "ethertype": "IPv6", "protocol": "tcp"},
            ]},
            {"id": "default", "security_group_rules": [
                {"direction": "ingress", "ethertype": "IPv4", "remote_group_id": "default"},
            ]},
        ]
        ports = [
            {"id": "a", "fixed_ips": [{"ip_address": "10.99.0.10"}], "security_groups": ["calc"]},
            {"id": "b", "fixed_ips": [{"ip_address": "10.99.0.11"}], "security_groups": ["default"]},
            {"id": "c", "fixed_ips": [{"ip_address": "10.99.0.12"}], "security_groups": ["default"],
             "port_security_enabled": False},
        ]
        rules = dataplane.sg_rules(ports, groups)
        self.assertEqual(rules[:2], [
            ["-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"],
            ["-p", "udp", "--sport", "67", "--dport", "68", "-j", "ACCEPT"],
        ])
        self.assertEqual(rules[2:], [
            ["-d", "10.99.0.10/32", "-p", "tcp", "--dport", "50000:50004",
             "-s", "0.0.0.0/0", "-j", "ACCEPT"],
            ["-d", "10.99.0.10/32", "-p", "icmp", "-j", "ACCEPT"],
            ["-d", "10.99.0.10/32", "-j", "DROP"],
            # The default group admits its members only (c has port security off,
            # so it is not filtered, but it is a member).
            ["-d", "10.99.0.11/32", "-s", "10.99.0.11/32", "-j", "ACCEPT"],
            ["-d", "10.99.0.11/32", "-s", "10.99.0.12/32", "-j", "ACCEPT"],
            ["-d", "10.99.0.11/32", "-j", "DROP"],
        ])


class RouteRulesTest(unittest.TestCase):
    def test_segments_joined_by_a_router_forward_to_each_other(self):
        bridge_of = {"n1": "vbdcn11111111", "n2": "vbdcn22222222", "n3": "vbdcn33333333",
                     "main": "vbdc0"}
        rules = dataplane.route_rules(
            {"r1": ["n1", "n2", "ext-not-ours"], "r2": ["main"]},
            bridge_of, ["vbdcn11111111", "vbdcn22222222", "vbdcn33333333"])
        self.assertEqual(rules, [
            ["-i", "vbdcn11111111", "-o", "vbdcn11111111", "-j", "ACCEPT"],
            ["-i", "vbdcn22222222", "-o", "vbdcn22222222", "-j", "ACCEPT"],
            ["-i", "vbdcn33333333", "-o", "vbdcn33333333", "-j", "ACCEPT"],
            ["-i", "vbdcn11111111", "-o", "vbdcn22222222", "-j", "ACCEPT"],
            ["-i", "vbdcn22222222", "-o", "vbdcn11111111", "-j", "ACCEPT"],
        ])
        self.assertEqual(dataplane.segment_bridge("0a1b2c3d-4e5f-6789"), "vbdcn0a1b2c3d")


class _Alive:
    returncode = None

    def poll(self):
        return None

    def send_signal(self, sig):
        pass

    def terminate(self):
        pass

    def wait(self, timeout=None):
        return 0


if __name__ == "__main__":
    unittest.main()
