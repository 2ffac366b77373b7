//! C13 on OpenStack: snapshot (an image from the running calculator instance), restore
//! (rebuild the instance from that snapshot) and resize (to the next bigger flavor,
//! confirmed), each timed through the API and with the service downtime a prober sees
//! sending the workload's first expression every 50 ms through the access address.
//!
//! The lab says OpenStack resizes a running VM (the console drops) where VirtualBox
//! must stop it first: `resize_live_ok` is 1 when Nova took the resize of an ACTIVE
//! instance and brought it back ACTIVE with the new flavor without us stopping it;
//! `resize_downtime_ms` is how long the calculator did not answer meanwhile (Nova's
//! libvirt driver powers the guest off to move its disk: a cold resize done for you).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::api;
use super::client::{ApiError, Client};
use crate::measure::Probe;
use crate::platform::PlatformError;
use crate::results::keys;
use crate::stats::Series;

use crate::measure::downtime::Prober;
pub use crate::measure::downtime::PROBE_EVERY;
/// Any one operation gives up after this long (TCG instances are slow).
const OP_TIMEOUT: Duration = Duration::from_secs(600);

/// What the experiments need of a deployment.
#[derive(Debug, Clone)]
pub struct Target {
    pub client: Arc<Client>,
    pub server_id: String,
    pub server_name: String,
    pub flavor: api::Flavor,
    pub endpoint: SocketAddr,
    pub run_tag: String,
    pub prefix: String,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn failed(e: ApiError) -> PlatformError {
    PlatformError::Failed(e.to_string())
}

/// Snapshot, restore and resize, in that order, on `t`. One failing experiment does not
/// lose the others' figures; the snapshot image is deleted at the end.
pub async fn c13(
    t: &Target,
    probe: &Probe,
    startup_timeout: Duration,
    cancel: &CancellationToken,
) -> BTreeMap<String, Series> {
    let mut out = BTreeMap::new();
    let prober = Prober::start(t.endpoint, probe.clone());
    let snapshot = match snapshot(t, &prober, &mut out).await {
        Ok(id) => Some(id),
        Err(e) => {
            tracing::warn!("openstack snapshot experiment failed: {e}");
            None
        }
    };
    if let Some(image) = &snapshot {
        if let Err(e) = restore(t, image, &prober, probe, startup_timeout, cancel, &mut out).await {
            tracing::warn!("openstack restore experiment failed: {e}");
        }
    }
    // The resize's outcome is a value, failure included (C13 reads it): whether Nova
    // took the resize of an ACTIVE instance, and whether the guest kept running across
    // it (the probe's boot id before and after: Nova's resize restarts the guest, the
    // lab's "the console drops").
    let boot_before = boot_id(t).await;
    match resize(t, &prober, probe, startup_timeout, cancel, &mut out).await {
        Ok(()) => {
            out.insert(keys::RESIZE_OK.into(), flag(true));
            out.insert(keys::RESIZE_LIVE_OK.into(), flag(true));
            // Asked of a running instance and done without our stopping it.
            out.insert(keys::RESIZE_DEMANDED_STOP.into(), flag(false));
            if let (Some(before), Some(after)) = (boot_before, boot_id(t).await) {
                out.insert(
                    keys::RESIZE_GUEST_KEPT_RUNNING.into(),
                    flag(before == after),
                );
            }
        }
        Err(PlatformError::Cancelled) => {}
        Err(e) => {
            tracing::warn!("openstack resize experiment failed: {e}");
            let why = e.to_string();
            out.insert(keys::RESIZE_OK.into(), flag(false).with_note(why.clone()));
            out.insert(keys::RESIZE_LIVE_OK.into(), flag(false).with_note(why));
        }
    }
    prober.stop();
    if let Some(image) = snapshot {
        if let Err(e) = api::delete_image(&t.client, &image).await {
            tracing::warn!("deleting snapshot image {image}: {e}");
        }
    }
    out
}

async fn server_status(t: &Target) -> Result<api::Server, PlatformError> {
    api::get_server(&t.client, &t.server_id)
        .await
        .map_err(failed)
}

/// Poll (every 250 ms) until the server's status is one of `want` with no task in
/// progress (Nova's `task_state`: a snapshot keeps the server ACTIVE while it uploads,
/// and the next action would get a 409). ERROR fails with Nova's fault; a server back
/// to ACTIVE with no task while `want` is another status (a resize the scheduler
/// refused: NoValidHost leaves the server ACTIVE, the fault only in its action log)
/// fails with the action's error. Bounded by [`OP_TIMEOUT`].
async fn until_status(t: &Target, want: &[&str], what: &str) -> Result<Instant, PlatformError> {
    let deadline = Instant::now() + OP_TIMEOUT;
    loop {
        let s = server_status(t).await?;
        match settled(&s, want) {
            Settled::Done => return Ok(Instant::now()),
            Settled::Waiting => {}
            Settled::Failed => {
                return Err(PlatformError::Failed(format!(
                    "{what}: server {} went to ERROR: {}",
                    t.server_name,
                    s.fault.as_deref().unwrap_or("no fault given")
                )))
            }
            Settled::EndedElsewhere => {
                let why = api::last_action_error(&t.client, &t.server_id)
                    .await
                    .ok()
                    .flatten()
                    .unwrap_or_else(|| "no error in its action log".into());
                return Err(PlatformError::Failed(format!(
                    "{what}: server {} is {} again with no task, not {}: {why}",
                    t.server_name,
                    s.status,
                    want.join(" or ")
                )));
            }
        }
        if Instant::now() > deadline {
            return Err(PlatformError::Timeout {
                what: format!(
                    "{what}: server {} {} (last: {}, task {})",
                    t.server_name,
                    want.join(" or "),
                    s.status,
                    s.task_state.as_deref().unwrap_or("none")
                ),
                after: OP_TIMEOUT,
            });
        }
        tokio::time::sleep(super::deployment::POLL).await;
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Settled {
    Done,
    Waiting,
    Failed,
    /// Back to ACTIVE, idle, when another status was awaited.
    EndedElsewhere,
}

/// Where a server stands against the awaited statuses.
fn settled(s: &api::Server, want: &[&str]) -> Settled {
    let idle = s.task_state.is_none();
    if s.status == "ERROR" {
        Settled::Failed
    } else if want.contains(&s.status.as_str()) && idle {
        Settled::Done
    } else if s.status == "ACTIVE" && idle && !want.contains(&"ACTIVE") {
        Settled::EndedElsewhere
    } else {
        Settled::Waiting
    }
}

async fn snapshot(
    t: &Target,
    prober: &Prober,
    out: &mut BTreeMap<String, Series>,
) -> Result<String, PlatformError> {
    let c = &t.client;
    let name = format!("{}snapshot", t.prefix);
    super::phase("snapshot (C13)", &t.prefix);
    let start = Instant::now();
    let v = api::server_action(
        c,
        &t.server_id,
        json!({ "createImage": { "name": name, "metadata": { "virtbench": "1" } } }),
    )
    .await
    .map_err(failed)?;
    let image = v["image_id"].as_str().map(str::to_string).ok_or_else(|| {
        PlatformError::Failed("nova createImage: no image_id in the answer".into())
    })?;
    // Tagged at once, so `cleanup` finds it should anything below fail.
    for tag in [api::TAG, &t.run_tag] {
        if let Err(e) = api::tag_image(c, &image, tag).await {
            tracing::warn!("tagging snapshot {image}: {e}");
        }
    }
    let deadline = Instant::now() + OP_TIMEOUT;
    let img = loop {
        let img = api::get_image(c, &image).await.map_err(failed)?;
        if img.status == "active" {
            break img;
        }
        if matches!(img.status.as_str(), "killed" | "deleted" | "deactivated")
            || Instant::now() > deadline
        {
            return Err(PlatformError::Failed(format!(
                "snapshot image {name} is {} after {:.0} s",
                img.status,
                start.elapsed().as_secs_f64()
            )));
        }
        tokio::time::sleep(super::deployment::POLL).await;
    };
    let took = start.elapsed();
    // Nova may pause the guest while it copies the disk, and keeps its task until the
    // upload is done: wait until it is ACTIVE with no task, then count the downtime
    // over the whole operation.
    until_status(t, &["ACTIVE"], "snapshot").await?;
    let end = Instant::now();
    out.insert("snapshot_ms".into(), Series::new("ms", vec![ms(took)]));
    if let Some(size) = img.size {
        out.insert(
            "snapshot_bytes".into(),
            Series::new("bytes", vec![size as f64]),
        );
    }
    out.insert(
        "snapshot_downtime_ms".into(),
        Series::new("ms", vec![ms(prober.downtime(start, end))]),
    );
    Ok(image)
}

#[allow(clippy::too_many_arguments)]
async fn restore(
    t: &Target,
    image: &str,
    prober: &Prober,
    probe: &Probe,
    startup_timeout: Duration,
    cancel: &CancellationToken,
    out: &mut BTreeMap<String, Series>,
) -> Result<(), PlatformError> {
    super::phase("restore (C13)", &t.prefix);
    let start = Instant::now();
    api::server_action(
        &t.client,
        &t.server_id,
        json!({ "rebuild": { "imageRef": image } }),
    )
    .await
    .map_err(failed)?;
    // The old guest may answer for a moment: the restore is done once Nova says
    // ACTIVE with no task again (Nova sets the `rebuilding` task before it answers the
    // call, so no REBUILD status can be missed), and the calculator answers from the
    // new disk.
    let active = until_status(t, &["ACTIVE"], "restore (rebuild)").await?;
    let answered_at = answered(t, probe, startup_timeout, cancel).await?;
    // Nova may report ACTIVE well after the rebuilt guest answers (a loaded compute
    // service): the restore is done when the prober saw the service come back.
    let ready = prober
        .back_after(start)
        .unwrap_or(answered_at)
        .min(answered_at);
    out.insert(
        "restore_ms".into(),
        Series::new("ms", vec![ms(ready.saturating_duration_since(start))]),
    );
    out.insert(
        "restore_api_active_ms".into(),
        Series::new("ms", vec![ms(active.saturating_duration_since(start))]),
    );
    out.insert(
        "restore_downtime_ms".into(),
        Series::new("ms", vec![ms(prober.downtime(start, answered_at))]),
    );
    Ok(())
}

async fn resize(
    t: &Target,
    prober: &Prober,
    probe: &Probe,
    startup_timeout: Duration,
    cancel: &CancellationToken,
    out: &mut BTreeMap<String, Series>,
) -> Result<(), PlatformError> {
    super::phase("resize (C13)", &t.prefix);
    let c = &t.client;
    let bigger = api::flavors(c)
        .await
        .map_err(failed)?
        .into_iter()
        .filter(|f| {
            f.ram_mib > t.flavor.ram_mib
                && f.vcpus >= t.flavor.vcpus
                && f.disk_gb >= t.flavor.disk_gb
        })
        .min_by_key(|f| (f.ram_mib, f.vcpus, f.disk_gb))
        .ok_or_else(|| {
            PlatformError::Failed(format!(
                "no flavor bigger than {} to resize to",
                t.flavor.name
            ))
        })?;
    let before = server_status(t).await?;
    if before.status != "ACTIVE" {
        return Err(PlatformError::Failed(format!(
            "resize: server {} is {}, not ACTIVE",
            t.server_name, before.status
        )));
    }
    let start = Instant::now();
    api::server_action(
        c,
        &t.server_id,
        json!({ "resize": { "flavorRef": bigger.id } }),
    )
    .await
    .map_err(failed)?;
    until_status(t, &["VERIFY_RESIZE"], "resize").await?;
    api::server_action(c, &t.server_id, json!({ "confirmResize": null }))
        .await
        .map_err(failed)?;
    let confirmed = until_status(t, &["ACTIVE"], "resize confirm").await?;
    let ready = answered(t, probe, startup_timeout, cancel).await?;
    tracing::info!(
        from = %t.flavor.name,
        to = %bigger.name,
        "resized a running instance"
    );
    out.insert(
        "resize_ms".into(),
        Series::new("ms", vec![ms(confirmed.saturating_duration_since(start))]),
    );
    out.insert(
        "resize_ready_ms".into(),
        Series::new("ms", vec![ms(ready.saturating_duration_since(start))]),
    );
    out.insert(
        "resize_downtime_ms".into(),
        Series::new("ms", vec![ms(prober.downtime(start, ready))]),
    );
    out.insert(
        "resize_target_ram_mib".into(),
        Series::new("MiB", vec![bigger.ram_mib as f64]),
    );
    Ok(())
}

/// The guest's boot id, asked of the calculator's probe through the access address.
async fn boot_id(t: &Target) -> Option<String> {
    crate::measure::isolation::ask(t.endpoint, &[])
        .await
        .ok()
        .and_then(|a| a.boot_id)
}

fn flag(yes: bool) -> Series {
    crate::measure::isolation::flag(yes)
}

/// The first correct answer after an operation.
async fn answered(
    t: &Target,
    probe: &Probe,
    timeout: Duration,
    cancel: &CancellationToken,
) -> Result<Instant, PlatformError> {
    let at = crate::measure::startup::wait_first_correct(t.endpoint, probe, timeout, cancel)
        .await
        .map_err(|e| {
            PlatformError::Failed(format!("after the operation on {}: {e}", t.server_name))
        })?;
    Ok(Instant::from_std(at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_end_on_status_task_and_faults() {
        let srv = |status: &str, task: Option<&str>| api::Server {
            id: "s".into(),
            name: "n".into(),
            status: status.into(),
            fault: None,
            task_state: task.map(str::to_string),
            flavor: String::new(),
            tags: Vec::new(),
            meta: Default::default(),
        };
        // A snapshot: ACTIVE while the image uploads is not done.
        assert_eq!(
            settled(&srv("ACTIVE", Some("image_uploading")), &["ACTIVE"]),
            Settled::Waiting
        );
        assert_eq!(settled(&srv("ACTIVE", None), &["ACTIVE"]), Settled::Done);
        // A resize under way, done, refused.
        assert_eq!(
            settled(&srv("RESIZE", Some("resize_migrating")), &["VERIFY_RESIZE"]),
            Settled::Waiting
        );
        assert_eq!(
            settled(&srv("ACTIVE", Some("resize_prep")), &["VERIFY_RESIZE"]),
            Settled::Waiting
        );
        assert_eq!(
            settled(&srv("VERIFY_RESIZE", None), &["VERIFY_RESIZE"]),
            Settled::Done
        );
        assert_eq!(
            settled(&srv("ACTIVE", None), &["VERIFY_RESIZE"]),
            Settled::EndedElsewhere
        );
        assert_eq!(settled(&srv("ERROR", None), &["ACTIVE"]), Settled::Failed);
        assert_eq!(
            settled(&srv("REBUILD", Some("rebuilding")), &["ACTIVE"]),
            Settled::Waiting
        );
    }
}
