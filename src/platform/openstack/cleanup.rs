//! Finding and removing what runs left on a cloud, on a project that may be shared.
//!
//! A resource is a run's when (see [`Scope::claims`]):
//! - **by tag**: it carries the run's tag (`virtbench-run-<id>`), or for "my runs" the
//!   owner's tag (`virtbench-by-<user>@<host>`), or for `--all-runs` `virtbench`;
//! - **by name**: its name (a floating IP's description, a server's `virtbench_run`
//!   metadata) carries the run id, for a resource whose tag call never happened;
//! - **untagged by time**: for "my runs", a resource named as a run's deployment
//!   (`virtbench-<id>-d<n>-...`) with no virtbench tag at all, older than
//!   [`UNTAGGED_AFTER`]: the tag follows the create call within a second, so one
//!   still untagged after that was left by a create whose tag call was interrupted.
//!
//! Removal goes in dependency order (floating IPs, servers and their deletion, ports,
//! routers with every kind of interface detached, networks, security groups, images),
//! carries on past an error, and ends by listing again: what is still there is the
//! error, one entry each.

use std::time::{Duration, Instant};

use super::api::{self, Meta};
use super::client::{ApiError, Client};
use super::{IMAGE_TAG, NAME_PREFIX};

/// An untagged resource older than this, named as a run's, is a leftover.
pub const UNTAGGED_AFTER: Duration = Duration::from_secs(600);
/// How long a cleanup waits for Nova to finish deleting servers.
const SERVER_DELETE_TIMEOUT: Duration = Duration::from_secs(240);

/// Whose leftovers.
#[derive(Debug, Clone, PartialEq)]
pub enum Scope {
    /// One run (`cleanup --run-id`, the end-of-run backstop).
    Run(String),
    /// One deployment of a run, by its name prefix (a deployment's own teardown check).
    Deployment { prefix: String, run_tag: String },
    /// Every run made from this host by this user (`cleanup`): the owner's tag.
    Mine(String),
    /// Every virtbench run in the project (`cleanup --all-runs`).
    AllRuns,
}

/// Why a resource was claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    Tag,
    Name,
    UntaggedByTime,
}

impl Why {
    fn label(self) -> &'static str {
        match self {
            Why::Tag => "by tag",
            Why::Name => "by name",
            Why::UntaggedByTime => "untagged, by age",
        }
    }
}

/// A run's deployment resource name: `virtbench-<run id>-d<n>-...` (the devcloud's
/// shared `virtbench-net`, `virtbench-router` and the appliance images are not).
pub fn is_run_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix(NAME_PREFIX) else {
        return false;
    };
    rest.split('-').skip(1).any(|part| {
        part.len() > 1 && part.starts_with('d') && part[1..].bytes().all(|b| b.is_ascii_digit())
    })
}

fn age(created: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    // Neutron writes `2026-12-07T19:50:00Z`, Nova the same, some releases without
    // the zone: read both as UTC.
    let t = chrono::DateTime::parse_from_rfc3339(created)
        .map(|t| t.with_timezone(&chrono::Utc))
        .or_else(|_| {
            chrono::NaiveDateTime::parse_from_str(created, "%Y-%m-%dT%H:%M:%S%.f")
                .map(|t| t.and_utc())
        })
        .ok()?;
    (now - t).to_std().ok()
}

impl Scope {
    /// Is a resource named `name` with `meta` this scope's, and why?
    pub fn claims(
        &self,
        name: &str,
        meta: &Meta,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Option<Why> {
        let tagged = |t: &str| meta.tags.iter().any(|x| x == t);
        match self {
            Scope::Run(id) => {
                let prefix = format!("{NAME_PREFIX}{id}-");
                if tagged(&api::run_tag(id)) {
                    Some(Why::Tag)
                } else if name.starts_with(&prefix)
                    || meta.description.starts_with(&prefix)
                    || meta.description == *id
                    || meta
                        .description
                        .starts_with(&format!("virtbench run {id} "))
                {
                    Some(Why::Name)
                } else {
                    None
                }
            }
            Scope::Deployment { prefix, run_tag } => (name.starts_with(prefix.as_str())
                && (tagged(run_tag) || meta.tags.is_empty()))
            .then_some(Why::Name),
            Scope::Mine(owner) => {
                if tagged(owner) {
                    Some(Why::Tag)
                } else if !tagged(api::TAG)
                    && is_run_name(name)
                    && age(&meta.created, now).is_some_and(|a| a >= UNTAGGED_AFTER)
                {
                    Some(Why::UntaggedByTime)
                } else {
                    None
                }
            }
            Scope::AllRuns => {
                if tagged(api::TAG) {
                    Some(Why::Tag)
                } else if is_run_name(name) {
                    Some(Why::Name)
                } else {
                    None
                }
            }
        }
    }

    /// An appliance image (the shared cache) is never a run's once active; one that is
    /// not (an upload cancelled or failed: `queued`, `saving`, `killed`) is the
    /// leftover of the run that created it (its `virtbench_run`, `virtbench_owner`).
    fn claims_appliance(&self, img: &api::Image) -> bool {
        if img.status == "active" || !img.meta.tags.iter().any(|t| t == IMAGE_TAG) {
            return false;
        }
        match self {
            Scope::Run(id) => img.property("virtbench_run") == Some(id.as_str()),
            Scope::Deployment { .. } => false,
            Scope::Mine(owner) => img.property("virtbench_owner") == Some(owner.as_str()),
            Scope::AllRuns => true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    FloatingIp,
    Server,
    Port,
    Router,
    Network,
    SecurityGroup,
    Image,
}

/// One resource a scope claims.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub kind: Kind,
    pub id: String,
    pub label: String,
    pub why: Why,
}

impl std::fmt::Display for Found {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}, {})", self.label, self.id, self.why.label())
    }
}

/// Everything `scope` claims on the cloud, every list read in full (all pages), in
/// removal order; the listing errors apart (one kind unreadable does not hide the
/// others).
pub async fn find(c: &Client, scope: &Scope) -> (Vec<Found>, Vec<String>) {
    let now = chrono::Utc::now();
    let mut out = Vec::new();
    let mut appliances = Vec::new();
    let mut errors = Vec::new();
    let mut push = |kind, id: &str, label: String, name: &str, meta: &Meta| {
        if let Some(why) = scope.claims(name, meta, now) {
            out.push(Found {
                kind,
                id: id.to_string(),
                label,
                why,
            });
        }
    };
    match api::floating_ips(c, "").await {
        Ok(l) => l.iter().for_each(|f| {
            push(
                Kind::FloatingIp,
                &f.id,
                format!("floating IP {}", f.address),
                &f.description,
                &f.meta,
            )
        }),
        Err(e) => errors.push(e.to_string()),
    }
    match api::servers(c).await {
        Ok(l) => l.iter().for_each(|s| {
            push(
                Kind::Server,
                &s.id,
                format!("server {} ({})", s.name, s.status),
                &s.name,
                &s.meta,
            )
        }),
        Err(e) => errors.push(e.to_string()),
    }
    match api::ports(c, "").await {
        Ok(l) => l
            .iter()
            // Router interfaces go with their router, DHCP ports with their network.
            .filter(|p| !p.device_owner.starts_with("network:"))
            .for_each(|p| {
                push(
                    Kind::Port,
                    &p.id,
                    format!("port {}", p.name),
                    &p.name,
                    &p.meta,
                )
            }),
        Err(e) => errors.push(e.to_string()),
    }
    match api::routers(c, "").await {
        Ok(l) => l.iter().for_each(|r| {
            push(
                Kind::Router,
                &r.id,
                format!("router {}", r.name),
                &r.name,
                &r.meta,
            )
        }),
        Err(e) => errors.push(e.to_string()),
    }
    match api::networks(c, "").await {
        Ok(l) => l.iter().for_each(|n| {
            push(
                Kind::Network,
                &n.id,
                format!("network {}", n.name),
                &n.name,
                &n.meta,
            )
        }),
        Err(e) => errors.push(e.to_string()),
    }
    match api::security_groups(c, "").await {
        Ok(l) => l.iter().for_each(|g| {
            push(
                Kind::SecurityGroup,
                &g.id,
                format!("security group {}", g.name),
                &g.name,
                &g.meta,
            )
        }),
        Err(e) => errors.push(e.to_string()),
    }
    match api::images(c).await {
        Ok(l) => {
            for i in &l {
                if scope.claims_appliance(i) {
                    appliances.push(Found {
                        kind: Kind::Image,
                        id: i.id.clone(),
                        label: format!(
                            "image {} ({}: an upload that did not finish)",
                            i.name, i.status
                        ),
                        why: Why::Tag,
                    });
                } else if !i.meta.tags.iter().any(|t| t == IMAGE_TAG) {
                    push(
                        Kind::Image,
                        &i.id,
                        format!("image {} ({})", i.name, i.status),
                        &i.name,
                        &i.meta,
                    );
                }
            }
        }
        Err(e) => errors.push(e.to_string()),
    }
    out.extend(appliances);
    out.sort_by_key(|f| f.kind);
    (out, errors)
}

/// What a removal did: how many went, and what could not be removed (each with why).
#[derive(Debug, Default)]
pub struct Outcome {
    pub removed: usize,
    pub failed: Vec<String>,
}

/// Remove everything `scope` claims; carries on past errors; lists again at the end.
pub async fn remove(c: &Client, scope: &Scope) -> Outcome {
    let mut outcome = Outcome::default();
    let (found, errors) = find(c, scope).await;
    outcome
        .failed
        .extend(errors.into_iter().map(|e| format!("listing: {e}")));
    let mut servers = Vec::new();
    for f in &found {
        if f.kind == Kind::Port && !servers.is_empty() {
            // Ports stay bound until Nova has really deleted the instances.
            wait_servers_gone(c, &servers).await;
            servers.clear();
        }
        let r: Result<bool, ApiError> = match f.kind {
            Kind::FloatingIp => api::delete_floating_ip(c, &f.id).await,
            Kind::Server => {
                servers.push(f.id.clone());
                api::delete_server(c, &f.id).await
            }
            Kind::Port => api::delete_port(c, &f.id).await,
            Kind::Router => match api::remove_router_interfaces(c, &f.id).await {
                Ok(()) => api::delete_router(c, &f.id).await,
                Err(e) => Err(e),
            },
            Kind::Network => api::delete_network(c, &f.id).await,
            Kind::SecurityGroup => api::delete_security_group(c, &f.id).await,
            Kind::Image => api::delete_image(c, &f.id).await,
        };
        match r {
            Ok(gone) => outcome.removed += usize::from(gone),
            Err(e) => outcome.failed.push(format!("{f}: {e}")),
        }
    }
    if !servers.is_empty() {
        wait_servers_gone(c, &servers).await;
    }
    if !found.is_empty() {
        let (left, errors) = find(c, scope).await;
        outcome
            .failed
            .extend(errors.into_iter().map(|e| format!("listing: {e}")));
        for f in left {
            let line = format!("still there: {f}");
            if !outcome.failed.iter().any(|x| x.starts_with(&f.to_string())) {
                outcome.failed.push(line);
            }
        }
    }
    outcome
}

async fn wait_servers_gone(c: &Client, ids: &[String]) {
    let deadline = Instant::now() + SERVER_DELETE_TIMEOUT;
    while Instant::now() < deadline {
        match api::servers(c).await {
            Ok(l) if !l.iter().any(|s| ids.contains(&s.id)) => return,
            Ok(_) => {}
            Err(e) => tracing::warn!("waiting for servers to go: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The owner scope of this host and user.
pub fn mine() -> Scope {
    Scope::Mine(super::labels::owner_tag())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(tags: &[&str], created: &str, description: &str) -> Meta {
        Meta {
            tags: tags.iter().map(|t| t.to_string()).collect(),
            created: created.into(),
            description: description.into(),
        }
    }

    #[test]
    fn run_names_are_a_deployments() {
        assert!(is_run_name("virtbench-20261207-120000-abcd-d1-sum"));
        assert!(is_run_name("virtbench-t123-all-in-one-vir-d12-sg"));
        assert!(!is_run_name("virtbench-net"));
        assert!(!is_run_name("virtbench-router"));
        assert!(!is_run_name("virtbench-appliance-0123456789abcdef"));
        assert!(!is_run_name("other-r1-d1-sum"));
    }

    #[test]
    fn what_each_scope_claims() {
        let now = chrono::Utc::now();
        let old = (now - chrono::Duration::hours(2)).to_rfc3339();
        let fresh = now.to_rfc3339();
        let me = "virtbench-by-alice@pc1";
        let them = "virtbench-by-bob@pc2";
        let mine_tagged = meta(&["virtbench", "virtbench-run-r1", me], &fresh, "");
        let theirs = meta(&["virtbench", "virtbench-run-r2", them], &fresh, "");
        let untagged_old = meta(&[], &old, "");
        let untagged_new = meta(&[], &fresh, "");
        let n1 = "virtbench-r1-d1-sum";
        let n2 = "virtbench-r2-d1-sum";

        let run = Scope::Run("r1".into());
        assert_eq!(run.claims(n1, &mine_tagged, now), Some(Why::Tag));
        assert_eq!(run.claims(n1, &untagged_new, now), Some(Why::Name));
        assert_eq!(run.claims(n2, &theirs, now), None);
        // A floating IP: no name, its description carries the deployment prefix.
        assert_eq!(
            run.claims("virtbench-r1-d1-calculator", &untagged_new, now),
            Some(Why::Name)
        );
        // A server's metadata names its run.
        assert_eq!(
            run.claims("renamed", &meta(&[], &fresh, "r1"), now),
            Some(Why::Name)
        );

        let mine = Scope::Mine(me.into());
        assert_eq!(mine.claims(n1, &mine_tagged, now), Some(Why::Tag));
        assert_eq!(
            mine.claims(n2, &theirs, now),
            None,
            "a classmate's live run"
        );
        assert_eq!(
            mine.claims(n2, &untagged_old, now),
            Some(Why::UntaggedByTime)
        );
        assert_eq!(
            mine.claims(n2, &untagged_new, now),
            None,
            "maybe being tagged now"
        );
        assert_eq!(mine.claims("virtbench-net", &untagged_old, now), None);

        let all = Scope::AllRuns;
        assert_eq!(all.claims(n2, &theirs, now), Some(Why::Tag));
        assert_eq!(all.claims(n2, &untagged_new, now), Some(Why::Name));
        assert_eq!(all.claims("virtbench-net", &untagged_old, now), None);

        let dep = Scope::Deployment {
            prefix: "virtbench-r1-d1-".into(),
            run_tag: "virtbench-run-r1".into(),
        };
        assert_eq!(dep.claims(n1, &mine_tagged, now), Some(Why::Name));
        assert_eq!(dep.claims("virtbench-r1-d2-sum", &mine_tagged, now), None);
    }

    #[test]
    fn ages_in_either_format() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-12-07T20:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(
            age("2026-12-07T19:50:00Z", now),
            Some(Duration::from_secs(600))
        );
        assert_eq!(
            age("2026-12-07T19:59:00.000000", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(age("", now), None);
    }
}
