//! What PID 1 does before anything else: file systems, console, kernel modules.

use std::ffi::CString;
use std::io::{self, Write};
use std::os::fd::AsRawFd;

/// Seconds since boot from CLOCK_BOOTTIME: the guest's own clock, comparable with the
/// kernel's printk timestamps.
pub fn uptime() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid pointer to a timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

/// Write one line to the console (stdout is the console when the kernel could open
/// /dev/console; else open it ourselves).
pub fn say(line: &str) {
    let text = format!("{line}\n");
    if let Ok(mut c) = std::fs::OpenOptions::new().write(true).open("/dev/console") {
        let _ = c.write_all(text.as_bytes());
    } else {
        let _ = io::stdout().write_all(text.as_bytes());
    }
}

/// A boot marker the host reads from the serial console log.
pub fn marker(name: &str, extra: &str) {
    let sep = if extra.is_empty() { "" } else { " " };
    say(&format!(
        "VIRTBENCH {name} uptime={:.3}{sep}{extra}",
        uptime()
    ));
}

/// Make sure fds 0-2 exist (when the initramfs had no /dev/console the kernel
/// started us without them, and the first file opened would become stdout).
pub fn attach_console() {
    for fd in 0..3 {
        // SAFETY: F_GETFD only queries.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
            if let Ok(f) = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/console")
            {
                // SAFETY: both fds valid; dup2 replaces fd.
                unsafe { libc::dup2(f.as_raw_fd(), fd) };
            }
        }
    }
}

pub fn mount(source: &str, target: &str, fstype: &str) -> io::Result<()> {
    let _ = std::fs::create_dir_all(target);
    let c = |s: &str| {
        CString::new(s)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in mount argument"))
    };
    let (source, target_c, fstype) = (c(source)?, c(target)?, c(fstype)?);
    // SAFETY: NUL-terminated strings, no data argument.
    let rc = unsafe {
        libc::mount(
            source.as_ptr(),
            target_c.as_ptr(),
            fstype.as_ptr(),
            libc::MS_NOSUID | libc::MS_NOEXEC,
            std::ptr::null(),
        )
    };
    if rc < 0 {
        let e = io::Error::last_os_error();
        // Already mounted (e.g. the kernel's own devtmpfs automount) is fine.
        if e.raw_os_error() == Some(libc::EBUSY) {
            return Ok(());
        }
        return Err(io::Error::new(e.kind(), format!("mount {target}: {e}")));
    }
    Ok(())
}

/// What loading one module did.
#[derive(Debug, PartialEq, Eq)]
pub enum Loaded {
    Loaded,
    /// Already there (built into the kernel, or loaded before).
    AlreadyPresent,
}

/// Load a module with finit_module(2).
pub fn load_module(path: &str) -> io::Result<Loaded> {
    let f =
        std::fs::File::open(path).map_err(|e| io::Error::new(e.kind(), format!("{path}: {e}")))?;
    let params = c"";
    // SAFETY: valid fd and NUL-terminated empty parameter string.
    let rc = unsafe { libc::syscall(libc::SYS_finit_module, f.as_raw_fd(), params.as_ptr(), 0) };
    if rc < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EEXIST) {
            return Ok(Loaded::AlreadyPresent);
        }
        return Err(io::Error::new(
            e.kind(),
            format!("finit_module {path}: {e}"),
        ));
    }
    Ok(Loaded::Loaded)
}

/// Reap every exited child (PID 1 adopts orphans); never blocks.
pub fn reap_children() {
    loop {
        let mut status = 0;
        // SAFETY: plain syscall with a valid status pointer.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid <= 0 {
            break;
        }
    }
}

/// PID 1 must never exit (the kernel would panic): report and park forever.
pub fn halt_forever(reason: &str) -> ! {
    say(&format!("VIRTBENCH fatal uptime={:.3} {reason}", uptime()));
    loop {
        reap_children();
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}
