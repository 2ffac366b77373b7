//! The dozen OpenStack calls virtbench makes (Glance images, Nova flavors and servers,
//! Neutron networks, ports and floating IPs), typed just enough for the driver. Every
//! resource is named `virtbench-<run-id>-...` and tagged `virtbench` and
//! `virtbench-run-<run-id>`, so `cleanup` finds it by tag.

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use super::client::{ApiError, Body, Client, Service};
use super::paging;

/// Tag on everything virtbench creates.
pub const TAG: &str = "virtbench";

/// Tag on everything one run creates.
pub fn run_tag(run_id: &str) -> String {
    format!("virtbench-run-{run_id}")
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// One resource of an answer, read by its serde description. A field that does not
/// fit is logged and the resource read as empty (its id then matches nothing), as
/// `s` reads a missing field as empty: a listing is not failed by one odd entry.
fn record<T: DeserializeOwned + Default>(v: &Value, what: &str) -> T {
    T::deserialize(v).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "openstack: a {what} did not read as expected");
        T::default()
    })
}

/// A string OpenStack may send as `null`.
fn text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

/// The first address of a Neutron `fixed_ips` list.
fn first_ip<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    struct FixedIp {
        ip_address: String,
    }
    let ips = Option::<Vec<FixedIp>>::deserialize(d)?.unwrap_or_default();
    Ok(ips.into_iter().next().map(|ip| ip.ip_address))
}

/// Percent-encode a query value (names may hold anything).
pub fn q(v: &str) -> String {
    let mut out = String::new();
    for b in v.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `GET path` on `service`, the array under `key` of every page of the answer read by
/// `record`. Every listing call is this one: OpenStack answers `{"<plural>": [...]}`,
/// with a marker to the next page when there is one ([`paging`]).
async fn list<T>(
    c: &Client,
    service: Service,
    path: &str,
    key: &str,
    record: impl Fn(&Value) -> T,
) -> Result<Vec<T>, ApiError> {
    let mut out = Vec::new();
    let mut page_path = path.to_string();
    let mut seen = Vec::new();
    for _ in 0..paging::MAX_PAGES {
        let v = c.get(service, &page_path).await?;
        let items = v[key].as_array().map(Vec::as_slice).unwrap_or_default();
        out.extend(items.iter().map(&record));
        match paging::next_marker(&v, key) {
            // An empty page with a link, or a marker seen before, ends it: no loop.
            Some(m) if !items.is_empty() && !seen.contains(&m) => {
                page_path = paging::with_marker(path, &m);
                seen.push(m);
            }
            _ => break,
        }
    }
    Ok(out)
}

/// `POST /<collection>` on Neutron with `{"<key>": fields}`; the created resource,
/// which Neutron answers under the same key. `tags` go in the create call itself when
/// Neutron says it takes them there (its `tag-creation` extension), so no resource
/// exists untagged even for a moment. Releases differ in what they really do with
/// them (the devcloud's Neutron refuses them on a network with a 400 and drops them
/// silently on a port): a refusal is retried without, and tags missing from the
/// answer are set right after. Meanwhile the name, which carries the run id, is what a
/// cleanup finds the resource by.
async fn create(
    c: &Client,
    collection: &str,
    key: &str,
    fields: Value,
    tags: &[String],
) -> Result<Value, ApiError> {
    let post = |fields: Value| async move {
        c.post(
            Service::Network,
            &format!("/{collection}"),
            json!({ key: fields }),
        )
        .await
    };
    let mut created = if !tags.is_empty() && c.neutron_extension("tag-creation").await {
        let mut with_tags = fields.clone();
        with_tags["tags"] = json!(tags);
        match post(with_tags).await {
            Err(e) if tags_refused(&e) => post(fields).await?,
            other => other?,
        }
    } else {
        post(fields).await?
    };
    let created = created[key].take();
    let has = |t: &String| {
        created["tags"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x == t))
    };
    if !tags.is_empty() && collection != "subnets" && !tags.iter().all(has) {
        set_tags(c, collection, &s(&created["id"]), tags).await?;
    }
    Ok(created)
}

/// Neutron's 400 for an attribute it does not take in a create call.
fn tags_refused(e: &ApiError) -> bool {
    e.status() == Some(reqwest::StatusCode::BAD_REQUEST) && e.to_string().contains("'tags'")
}

/// What every resource says about who made it and when: the cleanup's evidence.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Meta {
    pub tags: Vec<String>,
    /// `created_at` (Neutron, Glance) or `created` (Nova), RFC 3339.
    pub created: String,
    /// Neutron's description; Nova's `virtbench_run` metadata; Glance's `virtbench_run`.
    pub description: String,
}

fn meta(v: &Value) -> Meta {
    Meta {
        tags: v["tags"].as_array().into_iter().flatten().map(s).collect(),
        created: v["created_at"]
            .as_str()
            .or_else(|| v["created"].as_str())
            .unwrap_or_default()
            .to_string(),
        description: v["description"]
            .as_str()
            .or_else(|| v["metadata"]["virtbench_run"].as_str())
            .or_else(|| v["virtbench_run"].as_str())
            .unwrap_or_default()
            .to_string(),
    }
}

/// The device owners of a router's interfaces: a plain (legacy) router's, a
/// distributed (DVR) router's, and an L3-HA router's. A router with any of them
/// attached cannot be deleted (409); the HA heartbeat ports
/// (`network:router_ha_interface`) and the gateway go with the router itself.
pub const ROUTER_INTERFACE_OWNERS: [&str; 3] = [
    "network:router_interface",
    "network:router_interface_distributed",
    "network:ha_router_replicated_interface",
];

/// Must this port be detached (`remove_router_interface`) before its router goes?
pub fn is_router_interface(device_owner: &str) -> bool {
    ROUTER_INTERFACE_OWNERS.contains(&device_owner)
}

fn unexpected(c: &Client, what: String) -> ApiError {
    ApiError::Unexpected {
        cloud: c.cloud.name.clone(),
        what,
    }
}

// ------------------------------------------------------------------ Glance

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct Image {
    pub id: String,
    /// Glance allows an image without a name (`null`).
    #[serde(deserialize_with = "text")]
    pub name: String,
    pub status: String,
    pub size: Option<u64>,
    /// Glance v2 keeps custom properties (`virtbench_sha256`) beside the fields above.
    #[serde(flatten)]
    pub properties: serde_json::Map<String, Value>,
    #[serde(skip)]
    pub meta: Meta,
}

impl Image {
    /// A custom property's text, if set.
    pub fn property(&self, key: &str) -> Option<&str> {
        self.properties.get(key).and_then(Value::as_str)
    }
}

fn image(v: &Value) -> Image {
    Image {
        meta: meta(v),
        ..record(v, "glance image")
    }
}

/// Every image the project sees (every page).
pub async fn images(c: &Client) -> Result<Vec<Image>, ApiError> {
    list(c, Service::Image, "/images", "images", image).await
}

pub async fn images_named(c: &Client, name: &str) -> Result<Vec<Image>, ApiError> {
    let path = format!("/images?name={}", q(name));
    list(c, Service::Image, &path, "images", image).await
}

pub async fn images_tagged(c: &Client, tag: &str) -> Result<Vec<Image>, ApiError> {
    let path = format!("/images?tag={}", q(tag));
    list(c, Service::Image, &path, "images", image).await
}

pub async fn get_image(c: &Client, id: &str) -> Result<Image, ApiError> {
    Ok(image(
        &c.get(Service::Image, &format!("/images/{id}")).await?,
    ))
}

/// Create the image record (status `queued`); `body` holds name, formats, properties.
pub async fn create_image(c: &Client, body: Value) -> Result<Image, ApiError> {
    Ok(image(&c.post(Service::Image, "/images", body).await?))
}

pub async fn upload_image(c: &Client, id: &str, data: bytes::Bytes) -> Result<(), ApiError> {
    c.call(
        Service::Image,
        reqwest::Method::PUT,
        &format!("/images/{id}/file"),
        Body::Octets(data),
    )
    .await
    .map(|_| ())
}

pub async fn tag_image(c: &Client, id: &str, tag: &str) -> Result<(), ApiError> {
    c.call(
        Service::Image,
        reqwest::Method::PUT,
        &format!("/images/{id}/tags/{}", q(tag)),
        Body::Empty,
    )
    .await
    .map(|_| ())
}

pub async fn delete_image(c: &Client, id: &str) -> Result<bool, ApiError> {
    c.delete(Service::Image, &format!("/images/{id}")).await
}

// ------------------------------------------------------------------ Nova

#[derive(Debug, Clone, PartialEq)]
pub struct Flavor {
    pub id: String,
    pub name: String,
    pub vcpus: u64,
    pub ram_mib: u64,
    pub disk_gb: u64,
}

pub async fn flavors(c: &Client) -> Result<Vec<Flavor>, ApiError> {
    list(c, Service::Compute, "/flavors/detail", "flavors", |f| {
        Flavor {
            id: s(&f["id"]),
            name: s(&f["name"]),
            vcpus: f["vcpus"].as_u64().unwrap_or(0),
            ram_mib: f["ram"].as_u64().unwrap_or(0),
            disk_gb: f["disk"].as_u64().unwrap_or(0),
        }
    })
    .await
}

#[derive(Debug, Clone, PartialEq)]
pub struct Server {
    pub id: String,
    pub name: String,
    pub status: String,
    /// Nova's reason for an ERROR status ("No valid host was found. ...").
    pub fault: Option<String>,
    /// Nova's task in progress (`image_snapshot`, `rebuilding`, `resize_prep`...), `None`
    /// when it is done with the server.
    pub task_state: Option<String>,
    /// The flavor's name or id as Nova shows it (2.47+: the name, `original_name`).
    pub flavor: String,
    pub tags: Vec<String>,
    pub meta: Meta,
}

fn server(v: &Value) -> Server {
    Server {
        id: s(&v["id"]),
        name: s(&v["name"]),
        status: s(&v["status"]),
        fault: v["fault"]["message"]
            .as_str()
            .map(|m| m.split_whitespace().collect::<Vec<_>>().join(" ")),
        task_state: v["OS-EXT-STS:task_state"]
            .as_str()
            .filter(|t| !t.is_empty())
            .map(str::to_string),
        flavor: v["flavor"]["original_name"]
            .as_str()
            .or_else(|| v["flavor"]["id"].as_str())
            .unwrap_or_default()
            .to_string(),
        tags: v["tags"].as_array().into_iter().flatten().map(s).collect(),
        meta: meta(v),
    }
}

pub struct ServerSpec<'a> {
    pub name: &'a str,
    pub image_id: &'a str,
    pub flavor_id: &'a str,
    pub port_id: &'a str,
    pub user_data: &'a str,
    pub tags: &'a [String],
    /// Recorded in the server's metadata too: who made it, even if tags were lost.
    pub run: &'a str,
}

/// `POST /servers`: returns the id as soon as Nova accepted the request (202).
pub async fn create_server(c: &Client, spec: &ServerSpec<'_>) -> Result<String, ApiError> {
    use base64_lite::encode;
    let body = json!({ "server": {
        "name": spec.name,
        "imageRef": spec.image_id,
        "flavorRef": spec.flavor_id,
        "networks": [{ "port": spec.port_id }],
        "user_data": encode(spec.user_data.as_bytes()),
        "tags": spec.tags,
        "metadata": { "virtbench": "1", "virtbench_run": spec.run },
    }});
    let v = c.post(Service::Compute, "/servers", body).await?;
    let id = s(&v["server"]["id"]);
    if id.is_empty() {
        return Err(unexpected(
            c,
            "nova POST /servers: no server id in the answer".into(),
        ));
    }
    Ok(id)
}

/// Every server of the project (all pages).
pub async fn servers(c: &Client) -> Result<Vec<Server>, ApiError> {
    list(c, Service::Compute, "/servers/detail", "servers", server).await
}

/// Nova's most recent error about a server from its action log (a resize refused by
/// the scheduler leaves the server ACTIVE and its fault only here): the action and
/// the failed event's message, if the last action failed.
pub async fn last_action_error(c: &Client, id: &str) -> Result<Option<String>, ApiError> {
    let v = c
        .get(
            Service::Compute,
            &format!("/servers/{id}/os-instance-actions"),
        )
        .await?;
    let Some(last) = v["instanceActions"].as_array().and_then(|a| a.first()) else {
        return Ok(None);
    };
    let action = s(&last["action"]);
    let request = s(&last["request_id"]);
    let message = last["message"].as_str().filter(|m| !m.is_empty());
    let detail = c
        .get(
            Service::Compute,
            &format!("/servers/{id}/os-instance-actions/{request}"),
        )
        .await
        .ok();
    let failed_event = detail.as_ref().and_then(|d| {
        d["instanceAction"]["events"]
            .as_array()?
            .iter()
            .find(|e| e["result"].as_str() == Some("Error"))
            .map(|e| s(&e["event"]))
    });
    Ok(match (message, failed_event) {
        (None, None) => None,
        (m, e) => Some(format!(
            "{action} failed{}{}",
            e.map(|e| format!(" in {e}")).unwrap_or_default(),
            m.map(|m| format!(": {m}")).unwrap_or_default()
        )),
    })
}

/// Servers whose name matches the regular expression `name` (Nova filters by regex).
pub async fn servers_named(c: &Client, name_regex: &str) -> Result<Vec<Server>, ApiError> {
    let path = format!("/servers/detail?name={}", q(name_regex));
    list(c, Service::Compute, &path, "servers", server).await
}

pub async fn servers_tagged(c: &Client, tag: &str) -> Result<Vec<Server>, ApiError> {
    let path = format!("/servers/detail?tags={}", q(tag));
    list(c, Service::Compute, &path, "servers", server).await
}

pub async fn get_server(c: &Client, id: &str) -> Result<Server, ApiError> {
    let v = c.get(Service::Compute, &format!("/servers/{id}")).await?;
    Ok(server(&v["server"]))
}

/// `POST /servers/{id}/action` (createImage, rebuild, resize, confirmResize...): the
/// answer's body, `Null` when empty.
pub async fn server_action(c: &Client, id: &str, body: Value) -> Result<Value, ApiError> {
    c.post(Service::Compute, &format!("/servers/{id}/action"), body)
        .await
}

pub async fn delete_server(c: &Client, id: &str) -> Result<bool, ApiError> {
    c.delete(Service::Compute, &format!("/servers/{id}")).await
}

// ------------------------------------------------------------------ Neutron

#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    pub id: String,
    pub name: String,
    pub external: bool,
    pub shared: bool,
    pub meta: Meta,
}

fn network(n: &Value) -> Network {
    Network {
        id: s(&n["id"]),
        name: s(&n["name"]),
        external: n["router:external"].as_bool().unwrap_or(false),
        shared: n["shared"].as_bool().unwrap_or(false),
        meta: meta(n),
    }
}

pub async fn networks(c: &Client, query: &str) -> Result<Vec<Network>, ApiError> {
    let path = format!("/networks{query}");
    list(c, Service::Network, &path, "networks", network).await
}

/// A network of the run's own (`network = "create"`).
pub async fn create_network(
    c: &Client,
    name: &str,
    description: &str,
    tags: &[String],
) -> Result<Network, ApiError> {
    let n = create(
        c,
        "networks",
        "network",
        json!({ "name": name, "description": description }),
        tags,
    )
    .await?;
    Ok(network(&n))
}

/// An IPv4 subnet with DHCP, its gateway the first address (the router's).
pub async fn create_subnet(
    c: &Client,
    network_id: &str,
    name: &str,
    cidr: &str,
) -> Result<String, ApiError> {
    let fields = json!({
        "network_id": network_id, "name": name, "ip_version": 4,
        "cidr": cidr, "enable_dhcp": true,
    });
    Ok(s(&create(c, "subnets", "subnet", fields, &[]).await?["id"]))
}

pub async fn delete_network(c: &Client, id: &str) -> Result<bool, ApiError> {
    c.delete(Service::Network, &format!("/networks/{id}")).await
}

#[derive(Debug, Clone, PartialEq)]
pub struct Router {
    pub id: String,
    pub name: String,
    pub meta: Meta,
}

fn router(r: &Value) -> Router {
    Router {
        id: s(&r["id"]),
        name: s(&r["name"]),
        meta: meta(r),
    }
}

/// A router, its gateway on `external_network_id` when given (floating IPs need it).
pub async fn create_router(
    c: &Client,
    name: &str,
    description: &str,
    tags: &[String],
    external_network_id: Option<&str>,
) -> Result<Router, ApiError> {
    let mut fields = json!({ "name": name, "description": description });
    if let Some(ext) = external_network_id {
        fields["external_gateway_info"] = json!({ "network_id": ext });
    }
    Ok(router(&create(c, "routers", "router", fields, tags).await?))
}

pub async fn routers(c: &Client, query: &str) -> Result<Vec<Router>, ApiError> {
    let path = format!("/routers{query}");
    list(c, Service::Network, &path, "routers", router).await
}

pub async fn add_router_interface(c: &Client, router: &str, subnet: &str) -> Result<(), ApiError> {
    c.put(
        Service::Network,
        &format!("/routers/{router}/add_router_interface"),
        json!({ "subnet_id": subnet }),
    )
    .await
    .map(|_| ())
}

/// Detach every interface of a router, of every kind ([`ROUTER_INTERFACE_OWNERS`]:
/// legacy, DVR, L3-HA), so it can be deleted.
pub async fn remove_router_interfaces(c: &Client, router: &str) -> Result<(), ApiError> {
    let query = format!("?device_id={router}");
    for p in ports(c, &query)
        .await?
        .into_iter()
        .filter(|p| is_router_interface(&p.device_owner))
    {
        let r = c
            .put(
                Service::Network,
                &format!("/routers/{router}/remove_router_interface"),
                json!({ "port_id": p.id }),
            )
            .await;
        match r {
            Err(e) if e.status() == Some(reqwest::StatusCode::NOT_FOUND) => {}
            other => {
                other?;
            }
        }
    }
    Ok(())
}

pub async fn delete_router(c: &Client, id: &str) -> Result<bool, ApiError> {
    c.delete(Service::Network, &format!("/routers/{id}")).await
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct Port {
    pub id: String,
    pub name: String,
    pub status: String,
    /// The first of the port's fixed IPs (virtbench's ports have one).
    #[serde(rename = "fixed_ips", deserialize_with = "first_ip")]
    pub fixed_ip: Option<String>,
    pub device_id: String,
    #[serde(deserialize_with = "text")]
    pub device_owner: String,
    #[serde(skip)]
    pub meta: Meta,
}

fn port(v: &Value) -> Port {
    Port {
        meta: meta(v),
        ..record(v, "neutron port")
    }
}

/// Tags on a Neutron resource (`ports`, `floatingips`, `networks`...): Neutron takes
/// them after creation, not in the create call on every release.
pub async fn set_tags(
    c: &Client,
    collection: &str,
    id: &str,
    tags: &[String],
) -> Result<(), ApiError> {
    c.put(
        Service::Network,
        &format!("/{collection}/{id}/tags"),
        json!({ "tags": tags }),
    )
    .await
    .map(|_| ())
}

/// A port on `network_id`; in `security_group` when given (else the project's
/// default group).
pub async fn create_port(
    c: &Client,
    network_id: &str,
    name: &str,
    description: &str,
    tags: &[String],
    security_group: Option<&str>,
) -> Result<Port, ApiError> {
    let mut fields = json!({ "network_id": network_id, "name": name, "description": description });
    if let Some(sg) = security_group {
        fields["security_groups"] = json!([sg]);
    }
    Ok(port(&create(c, "ports", "port", fields, tags).await?))
}

#[derive(Debug, Clone, PartialEq)]
pub struct SecurityGroup {
    pub id: String,
    pub name: String,
    pub meta: Meta,
}

fn security_group(g: &Value) -> SecurityGroup {
    SecurityGroup {
        id: s(&g["id"]),
        name: s(&g["name"]),
        meta: meta(g),
    }
}

/// A security group letting in what the lab opened: ICMP, and TCP on the calculator's
/// ports (50000-50004) from anywhere. Egress stays Neutron's default (all allowed).
pub async fn create_security_group(
    c: &Client,
    name: &str,
    description: &str,
    tags: &[String],
) -> Result<SecurityGroup, ApiError> {
    let fields = json!({ "name": name, "description": description });
    let sg = security_group(&create(c, "security-groups", "security_group", fields, tags).await?);
    for rule in [
        json!({ "protocol": "icmp" }),
        json!({ "protocol": "tcp", "port_range_min": 50000, "port_range_max": 50004 }),
    ] {
        let mut r = rule;
        r["security_group_id"] = json!(sg.id);
        r["direction"] = json!("ingress");
        r["ethertype"] = json!("IPv4");
        r["remote_ip_prefix"] = json!("0.0.0.0/0");
        create(c, "security-group-rules", "security_group_rule", r, &[]).await?;
    }
    Ok(sg)
}

pub async fn security_groups(c: &Client, query: &str) -> Result<Vec<SecurityGroup>, ApiError> {
    let path = format!("/security-groups{query}");
    list(
        c,
        Service::Network,
        &path,
        "security_groups",
        security_group,
    )
    .await
}

pub async fn delete_security_group(c: &Client, id: &str) -> Result<bool, ApiError> {
    c.delete(Service::Network, &format!("/security-groups/{id}"))
        .await
}

pub async fn ports(c: &Client, query: &str) -> Result<Vec<Port>, ApiError> {
    let path = format!("/ports{query}");
    list(c, Service::Network, &path, "ports", port).await
}

pub async fn delete_port(c: &Client, id: &str) -> Result<bool, ApiError> {
    c.delete(Service::Network, &format!("/ports/{id}")).await
}

#[derive(Debug, Clone, PartialEq)]
pub struct FloatingIp {
    pub id: String,
    pub address: String,
    /// virtbench puts the owning deployment's name prefix here (floating IPs have
    /// no name).
    pub description: String,
    pub meta: Meta,
}

fn floating_ip(f: &Value) -> FloatingIp {
    FloatingIp {
        id: s(&f["id"]),
        address: s(&f["floating_ip_address"]),
        description: s(&f["description"]),
        meta: meta(f),
    }
}

pub async fn create_floating_ip(
    c: &Client,
    external_network_id: &str,
    port_id: &str,
    description: &str,
    tags: &[String],
) -> Result<FloatingIp, ApiError> {
    let fields = json!({
        "floating_network_id": external_network_id,
        "port_id": port_id,
        "description": description,
    });
    Ok(floating_ip(
        &create(c, "floatingips", "floatingip", fields, tags).await?,
    ))
}

pub async fn floating_ips(c: &Client, query: &str) -> Result<Vec<FloatingIp>, ApiError> {
    let path = format!("/floatingips{query}");
    list(c, Service::Network, &path, "floatingips", floating_ip).await
}

pub async fn delete_floating_ip(c: &Client, id: &str) -> Result<bool, ApiError> {
    c.delete(Service::Network, &format!("/floatingips/{id}"))
        .await
}

/// Base64 for Nova's `user_data`, without pulling a crate for twenty lines.
mod base64_lite {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    pub fn encode(data: &[u8]) -> String {
        let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
        for chunk in data.chunks(3) {
            let b = [
                chunk[0],
                chunk.get(1).copied().unwrap_or(0),
                chunk.get(2).copied().unwrap_or(0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    #[cfg(test)]
    #[test]
    fn known_vectors() {
        assert_eq!(encode(b""), "");
        assert_eq!(encode(b"f"), "Zg==");
        assert_eq!(encode(b"fo"), "Zm8=");
        assert_eq!(encode(b"foo"), "Zm9v");
        assert_eq!(
            encode(b"virtbench.role=all\n"),
            "dmlydGJlbmNoLnJvbGU9YWxsCg=="
        );
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn records_read_as_the_apis_write_them() {
        // As Glance v2 and Neutron answer (trimmed): a nameless image with a custom
        // property, a port with its fixed IPs.
        let img = super::image(&json!({
            "id": "i1", "name": null, "status": "active", "size": 1024,
            "virtbench_sha256": "abc", "tags": ["virtbench"],
        }));
        assert_eq!((img.id.as_str(), img.name.as_str()), ("i1", ""));
        assert_eq!((img.status.as_str(), img.size), ("active", Some(1024)));
        assert_eq!(img.property("virtbench_sha256"), Some("abc"));
        assert_eq!(img.property("absent"), None);
        let port = super::port(&json!({
            "id": "p1", "name": "vb-1-sum", "status": "ACTIVE", "device_id": "s1",
            "fixed_ips": [{ "subnet_id": "n1", "ip_address": "10.5.7.12" }],
        }));
        assert_eq!(port.fixed_ip.as_deref(), Some("10.5.7.12"));
        assert_eq!(port.device_id, "s1");
        assert_eq!(
            super::port(&json!({ "id": "p2", "fixed_ips": [] })).fixed_ip,
            None
        );
        // The variable is the key, not the word "key".
        let key = "port";
        assert_eq!(json!({ key: 1 }), json!({ "port": 1 }));
    }

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(super::q("^virtbench-1-d1-"), "%5Evirtbench-1-d1-");
        assert_eq!(super::q("a b/c"), "a%20b%2Fc");
    }
}
