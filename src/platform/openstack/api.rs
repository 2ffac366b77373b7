//! The dozen OpenStack calls virtbench makes (Glance images, Nova flavors and servers,
//! Neutron networks, ports and floating IPs), typed just enough for the driver. Every
//! resource is named `virtbench-<run-id>-...` and tagged `virtbench` and
//! `virtbench-run-<run-id>`, so `cleanup` finds it by tag.

use serde_json::{json, Value};

use super::client::{ApiError, Body, Client, Service};

/// Tag on everything virtbench creates.
pub const TAG: &str = "virtbench";

/// Tag on everything one run creates.
pub fn run_tag(run_id: &str) -> String {
    format!("virtbench-run-{run_id}")
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
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

fn unexpected(c: &Client, what: String) -> ApiError {
    ApiError::Unexpected {
        cloud: c.cloud.name.clone(),
        what,
    }
}

// ------------------------------------------------------------------ Glance

#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    pub id: String,
    pub name: String,
    pub status: String,
    pub size: Option<u64>,
    pub properties: Value,
}

fn image(v: &Value) -> Image {
    Image {
        id: s(&v["id"]),
        name: s(&v["name"]),
        status: s(&v["status"]),
        size: v["size"].as_u64(),
        properties: v.clone(),
    }
}

pub async fn images_named(c: &Client, name: &str) -> Result<Vec<Image>, ApiError> {
    let v = c
        .get(Service::Image, &format!("/images?name={}", q(name)))
        .await?;
    Ok(v["images"]
        .as_array()
        .into_iter()
        .flatten()
        .map(image)
        .collect())
}

pub async fn images_tagged(c: &Client, tag: &str) -> Result<Vec<Image>, ApiError> {
    let v = c
        .get(Service::Image, &format!("/images?tag={}", q(tag)))
        .await?;
    Ok(v["images"]
        .as_array()
        .into_iter()
        .flatten()
        .map(image)
        .collect())
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
    let v = c.get(Service::Compute, "/flavors/detail").await?;
    Ok(v["flavors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| Flavor {
            id: s(&f["id"]),
            name: s(&f["name"]),
            vcpus: f["vcpus"].as_u64().unwrap_or(0),
            ram_mib: f["ram"].as_u64().unwrap_or(0),
            disk_gb: f["disk"].as_u64().unwrap_or(0),
        })
        .collect())
}

#[derive(Debug, Clone, PartialEq)]
pub struct Server {
    pub id: String,
    pub name: String,
    pub status: String,
    /// Nova's reason for an ERROR status ("No valid host was found. ...").
    pub fault: Option<String>,
    pub tags: Vec<String>,
}

fn server(v: &Value) -> Server {
    Server {
        id: s(&v["id"]),
        name: s(&v["name"]),
        status: s(&v["status"]),
        fault: v["fault"]["message"]
            .as_str()
            .map(|m| m.split_whitespace().collect::<Vec<_>>().join(" ")),
        tags: v["tags"].as_array().into_iter().flatten().map(s).collect(),
    }
}

pub struct ServerSpec<'a> {
    pub name: &'a str,
    pub image_id: &'a str,
    pub flavor_id: &'a str,
    pub port_id: &'a str,
    pub user_data: &'a str,
    pub tags: &'a [String],
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
        "metadata": { "virtbench": "1" },
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

/// Servers whose name matches the regular expression `name` (Nova filters by regex).
pub async fn servers_named(c: &Client, name_regex: &str) -> Result<Vec<Server>, ApiError> {
    let v = c
        .get(
            Service::Compute,
            &format!("/servers/detail?name={}", q(name_regex)),
        )
        .await?;
    Ok(v["servers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(server)
        .collect())
}

pub async fn servers_tagged(c: &Client, tag: &str) -> Result<Vec<Server>, ApiError> {
    let v = c
        .get(
            Service::Compute,
            &format!("/servers/detail?tags={}", q(tag)),
        )
        .await?;
    Ok(v["servers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(server)
        .collect())
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
}

pub async fn networks(c: &Client, query: &str) -> Result<Vec<Network>, ApiError> {
    let v = c
        .get(Service::Network, &format!("/networks{query}"))
        .await?;
    Ok(v["networks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|n| Network {
            id: s(&n["id"]),
            name: s(&n["name"]),
            external: n["router:external"].as_bool().unwrap_or(false),
            shared: n["shared"].as_bool().unwrap_or(false),
        })
        .collect())
}

/// A network of the run's own (`network = "create"`).
pub async fn create_network(c: &Client, name: &str) -> Result<Network, ApiError> {
    let v = c
        .post(
            Service::Network,
            "/networks",
            json!({ "network": { "name": name, "description": "virtbench" } }),
        )
        .await?;
    let n = &v["network"];
    Ok(Network {
        id: s(&n["id"]),
        name: s(&n["name"]),
        external: false,
        shared: false,
    })
}

/// An IPv4 subnet with DHCP, its gateway the first address (the router's).
pub async fn create_subnet(
    c: &Client,
    network_id: &str,
    name: &str,
    cidr: &str,
) -> Result<String, ApiError> {
    let v = c
        .post(
            Service::Network,
            "/subnets",
            json!({ "subnet": {
                "network_id": network_id, "name": name, "ip_version": 4,
                "cidr": cidr, "enable_dhcp": true,
            }}),
        )
        .await?;
    Ok(s(&v["subnet"]["id"]))
}

pub async fn delete_network(c: &Client, id: &str) -> Result<bool, ApiError> {
    c.delete(Service::Network, &format!("/networks/{id}")).await
}

#[derive(Debug, Clone, PartialEq)]
pub struct Router {
    pub id: String,
    pub name: String,
}

/// A router, its gateway on `external_network_id` when given (floating IPs need it).
pub async fn create_router(
    c: &Client,
    name: &str,
    external_network_id: Option<&str>,
) -> Result<Router, ApiError> {
    let mut body = json!({ "router": { "name": name, "description": "virtbench" } });
    if let Some(ext) = external_network_id {
        body["router"]["external_gateway_info"] = json!({ "network_id": ext });
    }
    let v = c.post(Service::Network, "/routers", body).await?;
    Ok(Router {
        id: s(&v["router"]["id"]),
        name: s(&v["router"]["name"]),
    })
}

pub async fn routers(c: &Client, query: &str) -> Result<Vec<Router>, ApiError> {
    let v = c.get(Service::Network, &format!("/routers{query}")).await?;
    Ok(v["routers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| Router {
            id: s(&r["id"]),
            name: s(&r["name"]),
        })
        .collect())
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

/// Detach every interface of a router (by its ports), so it can be deleted.
pub async fn remove_router_interfaces(c: &Client, router: &str) -> Result<(), ApiError> {
    let query = format!("?device_id={router}&device_owner=network%3Arouter_interface");
    for p in ports(c, &query).await? {
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

#[derive(Debug, Clone, PartialEq)]
pub struct Port {
    pub id: String,
    pub name: String,
    pub status: String,
    pub fixed_ip: Option<String>,
    pub device_id: String,
}

fn port(v: &Value) -> Port {
    Port {
        id: s(&v["id"]),
        name: s(&v["name"]),
        status: s(&v["status"]),
        fixed_ip: v["fixed_ips"][0]["ip_address"].as_str().map(str::to_string),
        device_id: s(&v["device_id"]),
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
    security_group: Option<&str>,
) -> Result<Port, ApiError> {
    let mut body =
        json!({ "port": { "network_id": network_id, "name": name, "description": "virtbench" } });
    if let Some(sg) = security_group {
        body["port"]["security_groups"] = json!([sg]);
    }
    let v = c.post(Service::Network, "/ports", body).await?;
    Ok(port(&v["port"]))
}

#[derive(Debug, Clone, PartialEq)]
pub struct SecurityGroup {
    pub id: String,
    pub name: String,
}

/// A security group letting in what the lab opened: ICMP, and TCP on the calculator's
/// ports (50000-50004) from anywhere. Egress stays Neutron's default (all allowed).
pub async fn create_security_group(c: &Client, name: &str) -> Result<SecurityGroup, ApiError> {
    let v = c
        .post(
            Service::Network,
            "/security-groups",
            json!({ "security_group": { "name": name, "description": "virtbench: ICMP and the calculator's ports" } }),
        )
        .await?;
    let sg = SecurityGroup {
        id: s(&v["security_group"]["id"]),
        name: s(&v["security_group"]["name"]),
    };
    for rule in [
        json!({ "protocol": "icmp" }),
        json!({ "protocol": "tcp", "port_range_min": 50000, "port_range_max": 50004 }),
    ] {
        let mut r = rule;
        r["security_group_id"] = json!(sg.id);
        r["direction"] = json!("ingress");
        r["ethertype"] = json!("IPv4");
        r["remote_ip_prefix"] = json!("0.0.0.0/0");
        c.post(
            Service::Network,
            "/security-group-rules",
            json!({ "security_group_rule": r }),
        )
        .await?;
    }
    Ok(sg)
}

pub async fn security_groups(c: &Client, query: &str) -> Result<Vec<SecurityGroup>, ApiError> {
    let v = c
        .get(Service::Network, &format!("/security-groups{query}"))
        .await?;
    Ok(v["security_groups"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|g| SecurityGroup {
            id: s(&g["id"]),
            name: s(&g["name"]),
        })
        .collect())
}

pub async fn delete_security_group(c: &Client, id: &str) -> Result<bool, ApiError> {
    c.delete(Service::Network, &format!("/security-groups/{id}"))
        .await
}

pub async fn ports(c: &Client, query: &str) -> Result<Vec<Port>, ApiError> {
    let v = c.get(Service::Network, &format!("/ports{query}")).await?;
    Ok(v["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(port)
        .collect())
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
}

fn floating_ip(f: &Value) -> FloatingIp {
    FloatingIp {
        id: s(&f["id"]),
        address: s(&f["floating_ip_address"]),
        description: s(&f["description"]),
    }
}

pub async fn create_floating_ip(
    c: &Client,
    external_network_id: &str,
    port_id: &str,
    description: &str,
) -> Result<FloatingIp, ApiError> {
    let v = c
        .post(
            Service::Network,
            "/floatingips",
            json!({ "floatingip": {
                "floating_network_id": external_network_id,
                "port_id": port_id,
                "description": description,
            }}),
        )
        .await?;
    Ok(floating_ip(&v["floatingip"]))
}

pub async fn floating_ips(c: &Client, query: &str) -> Result<Vec<FloatingIp>, ApiError> {
    let v = c
        .get(Service::Network, &format!("/floatingips{query}"))
        .await?;
    Ok(v["floatingips"]
        .as_array()
        .into_iter()
        .flatten()
        .map(floating_ip)
        .collect())
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
    #[test]
    fn query_values_are_encoded() {
        assert_eq!(super::q("^virtbench-1-d1-"), "%5Evirtbench-1-d1-");
        assert_eq!(super::q("a b/c"), "a%20b%2Fc");
    }
}
