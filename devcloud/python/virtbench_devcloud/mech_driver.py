"""An ML2 mechanism driver that binds every port, with no L2 agent.

Every port that asks for a binding (it has a host) is bound as a plain tap
device (``vif_type=tap``): Nova creates ``tap<port-id[:11]>`` and QEMU opens
it; the devcloud data plane (``dataplane.py``) plugs the tap into the tenant
bridge. The port is marked ACTIVE at binding time, because no agent will ever
report it up; Nova then does not wait for a network-vif-plugged event.
"""

from neutron_lib.api.definitions import portbindings
from neutron_lib import constants
from neutron_lib.plugins.ml2 import api
from oslo_log import log as logging

LOG = logging.getLogger(__name__)

VIF_DETAILS = {
    portbindings.CAP_PORT_FILTER: False,
    portbindings.VIF_DETAILS_CONNECTIVITY: portbindings.CONNECTIVITY_L2,
}


class BindAllMechanismDriver(api.MechanismDriver):
    """Binds every normal port on every segment, ACTIVE at once."""

    def initialize(self):
        LOG.info("virtbench devcloud mechanism driver: binding every port as tap")

    @property
    def connectivity(self):
        return portbindings.CONNECTIVITY_L2

    def bind_port(self, context):
        vnic = context.current.get(portbindings.VNIC_TYPE, portbindings.VNIC_NORMAL)
        if vnic != portbindings.VNIC_NORMAL:
            LOG.debug("not binding port %s of vnic type %s", context.current["id"], vnic)
            return
        for segment in context.segments_to_bind:
            context.set_binding(
                segment[api.ID],
                portbindings.VIF_TYPE_TAP,
                dict(VIF_DETAILS),
                status=constants.PORT_STATUS_ACTIVE,
            )
            LOG.info("bound port %s on host %s", context.current["id"], context.host)
            return
