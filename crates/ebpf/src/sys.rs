//! The host side: capabilities, bpffs and cgroup v2 mounts.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

const CAP_NET_ADMIN: u32 = 12;
const CAP_SYS_ADMIN: u32 = 21;
const CAP_BPF: u32 = 39;

/// Where the agent mounts cgroup v2 when the host has none.
pub const FALLBACK_CGROUP2: &str = "/run/portico/cgroupv2";
/// The bpffs mount point.
pub const BPFFS: &str = "/sys/fs/bpf";

/// Capabilities missing from `cap_eff` (the `CapEff:` mask of
/// `/proc/self/status`) for loading and attaching cgroup programs.
pub fn missing_capabilities(cap_eff: u64) -> Vec<&'static str> {
    let has = |cap: u32| cap_eff & (1u64 << cap) != 0;
    let mut missing = Vec::new();
    if !has(CAP_SYS_ADMIN) && !has(CAP_BPF) {
        missing.push("CAP_BPF (or CAP_SYS_ADMIN)");
    }
    if !has(CAP_NET_ADMIN) {
        missing.push("CAP_NET_ADMIN");
    }
    missing
}

/// Parses the `CapEff:` line of a `/proc/<pid>/status` text.
pub fn parse_cap_eff(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
}

/// Fails with [`Error::MissingCapability`] unless this process may load BPF.
pub fn check_capabilities() -> Result<()> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| Error::io("reading /proc/self/status", e))?;
    let cap_eff = parse_cap_eff(&status).unwrap_or(0);
    let missing = missing_capabilities(cap_eff);
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Error::MissingCapability {
            missing: missing.join(", "),
        })
    }
}

/// Mount points of a filesystem type in a `/proc/self/mounts` text.
pub fn mount_points(mounts: &str, fstype: &str) -> Vec<PathBuf> {
    mounts
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_src, target, ty) = (f.next()?, f.next()?, f.next()?);
            (ty == fstype).then(|| PathBuf::from(unescape_mount(target)))
        })
        .collect()
}

/// `/proc/mounts` escapes space, tab, newline and backslash as octal.
fn unescape_mount(s: &str) -> String {
    s.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

fn read_mounts() -> Result<String> {
    std::fs::read_to_string("/proc/self/mounts")
        .map_err(|e| Error::io("reading /proc/self/mounts", e))
}

/// The cgroup v2 root: the host's (`/sys/fs/cgroup` on unified hosts,
/// `/sys/fs/cgroup/unified` on hybrid ones) or one mounted at
/// [`FALLBACK_CGROUP2`].
pub fn cgroup2_root() -> Result<PathBuf> {
    let mounts = read_mounts()?;
    if let Some(p) = mount_points(&mounts, "cgroup2").into_iter().next() {
        return Ok(p);
    }
    let target = PathBuf::from(FALLBACK_CGROUP2);
    mount("cgroup2", "cgroup2", &target)?;
    tracing::info!(target = %target.display(), "mounted cgroup2");
    Ok(target)
}

/// Makes sure bpffs is mounted at [`BPFFS`] (or the pin directory is on one).
pub fn ensure_bpffs(pin_dir: &Path) -> Result<()> {
    let mounts = read_mounts()?;
    let points = mount_points(&mounts, "bpf");
    if points.iter().any(|p| pin_dir.starts_with(p)) {
        return Ok(());
    }
    mount("bpf", "bpf", Path::new(BPFFS))?;
    tracing::info!(target = BPFFS, "mounted bpffs");
    Ok(())
}

fn mount(source: &str, fstype: &'static str, target: &Path) -> Result<()> {
    let err = |source| Error::Mount {
        fstype,
        target: target.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(target).map_err(err)?;
    let c = |s: &[u8]| CString::new(s).map_err(|_| err(std::io::ErrorKind::InvalidInput.into()));
    let src = c(source.as_bytes())?;
    let ty = c(fstype.as_bytes())?;
    let tgt = c(target.as_os_str().as_bytes())?;
    // SAFETY: all pointers are NUL-terminated strings that outlive the call;
    // `data` may be NULL for both filesystems.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::mount(src.as_ptr(), tgt.as_ptr(), ty.as_ptr(), 0, std::ptr::null()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(err(std::io::Error::last_os_error()))
    }
}

/// Runs `f` with the calling thread inside the network namespace at
/// `netns` (e.g. `/var/run/netns/NAME`), then moves the thread back. Only
/// this thread changes namespace; the rest of the process stays.
pub fn in_netns<T>(netns: &Path, f: impl FnOnce() -> T) -> Result<T> {
    use std::os::fd::AsRawFd;
    let open = |p: &Path| {
        std::fs::File::open(p).map_err(|e| Error::io(format!("opening {}", p.display()), e))
    };
    let home = open(Path::new("/proc/thread-self/ns/net"))?;
    let target = open(netns)?;
    let enter = |fd: &std::fs::File, what: &str| {
        // SAFETY: setns(2) on a valid namespace fd that outlives the call; it
        // only changes the calling thread's network namespace.
        #[allow(unsafe_code)]
        let rc = unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) };
        if rc == 0 {
            Ok(())
        } else {
            Err(Error::io(
                format!("setns into {what}"),
                std::io::Error::last_os_error(),
            ))
        }
    };
    enter(&target, &netns.display().to_string())?;
    let out = f();
    enter(&home, "the original network namespace")?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities() {
        assert!(missing_capabilities(u64::MAX).is_empty());
        assert_eq!(
            missing_capabilities(0),
            vec!["CAP_BPF (or CAP_SYS_ADMIN)", "CAP_NET_ADMIN"]
        );
        let bpf_and_net = (1 << CAP_BPF) | (1 << CAP_NET_ADMIN);
        assert!(missing_capabilities(bpf_and_net).is_empty());
        assert_eq!(
            missing_capabilities(1 << CAP_SYS_ADMIN),
            vec!["CAP_NET_ADMIN"]
        );
        let status = "Name:\tx\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\n";
        assert_eq!(parse_cap_eff(status), Some(0x1ff_ffff_ffff));
        assert_eq!(parse_cap_eff("Name: x"), None);
    }

    #[test]
    fn finds_mounts() {
        let mounts = "tmpfs /sys/fs/cgroup tmpfs rw 0 0\n\
                      cgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\n\
                      bpf /sys/fs/bpf bpf rw 0 0\n\
                      bpf /tmp/my\\040dir bpf rw 0 0\n";
        assert_eq!(
            mount_points(mounts, "cgroup2"),
            vec![PathBuf::from("/sys/fs/cgroup/unified")]
        );
        assert_eq!(
            mount_points(mounts, "bpf"),
            vec![PathBuf::from("/sys/fs/bpf"), PathBuf::from("/tmp/my dir")]
        );
        assert!(mount_points(mounts, "ext4").is_empty());
    }
}
