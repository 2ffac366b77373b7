//! Host processes that platforms start and kill: when a killed process is really dead.
//!
//! Shared by every platform's `cleanup` (native processes, QEMU VMs), which must return
//! only once what it killed is gone, so that "cleaned up" means it.

use std::time::Duration;

/// Whether `pid` has finished dying: gone from /proc, or a zombie (state `Z`/`X`) that
/// its parent can now reap.
///
/// Why this exists: after `kill(SIGKILL)` a process's /proc cmdline turns empty as soon
/// as its memory is released, which happens *before* it becomes a zombie its parent can
/// `wait` for. A caller that took "no longer in the cmdline scan" for "dead" (the cleanup
/// test did, and so did `cleanup`) raced the kernel: the owner's `try_wait` still said
/// "running" for a moment, longer on a loaded host.
pub fn is_dead(pid: u32) -> bool {
    crate::host::procfs::is_dead(pid)
}

/// Waits until every pid [`is_dead`], at most `limit`; returns those still alive.
pub async fn wait_dead(pids: &[u32], limit: Duration) -> Vec<u32> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let alive: Vec<u32> = pids.iter().copied().filter(|p| !is_dead(*p)).collect();
        if alive.is_empty() || tokio::time::Instant::now() >= deadline {
            return alive;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A killed child counts as dead while still a zombie (its owner can reap it), and
    /// a live process is reported as alive when the wait runs out.
    #[tokio::test]
    async fn a_killed_child_is_dead_before_it_is_reaped() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id();
        assert!(!is_dead(pid));
        assert_eq!(
            wait_dead(&[pid], Duration::from_millis(50)).await,
            vec![pid]
        );
        // SAFETY: kill(2) of our own child.
        assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGKILL) }, 0);
        assert!(wait_dead(&[pid], Duration::from_secs(10)).await.is_empty());
        // Not reaped yet: the zombie is still there, and waiting on it succeeds at once.
        assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
        assert!(child.try_wait().unwrap().is_some());
        assert!(is_dead(pid));
    }
}
