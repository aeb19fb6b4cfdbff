//! Reading /proc, where files vanish and permissions vary by process.

use std::io::{self, Read};
use std::path::Path;

/// Why something under /proc could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Miss {
    /// The process (or file) went away: normal on a live system.
    Vanished,
    /// Not allowed: counted, skipped, never fatal.
    Denied,
    /// Anything else (I/O error, unexpected format): counted and skipped.
    Other,
}

impl From<io::Error> for Miss {
    fn from(e: io::Error) -> Self {
        match e.raw_os_error() {
            Some(libc::ENOENT | libc::ESRCH) => Miss::Vanished,
            Some(libc::EACCES | libc::EPERM) => Miss::Denied,
            _ => Miss::Other,
        }
    }
}

/// Reads a whole file into `buf` (cleared first), reusing its allocation.
pub fn read_into(path: &Path, buf: &mut Vec<u8>) -> Result<(), Miss> {
    buf.clear();
    let mut f = std::fs::File::open(path)?;
    f.read_to_end(buf)?;
    Ok(())
}

/// Reads a whole file as (lossy) UTF-8.
pub fn read_string(path: &Path) -> Result<String, Miss> {
    let mut buf = Vec::new();
    read_into(path, &mut buf)?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// The target of a symbolic link, as text.
pub fn link(path: &Path) -> Result<String, Miss> {
    Ok(std::fs::read_link(path)?.to_string_lossy().into_owned())
}

/// The inode in a `type:[inode]` link target (`socket:[123]`, `net:[456]`).
pub fn bracketed_inode(target: &str, prefix: &str) -> Option<u64> {
    target
        .strip_prefix(prefix)?
        .strip_prefix(":[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// Clock ticks per second, for /proc times.
pub fn clock_ticks() -> u64 {
    // SAFETY: sysconf has no preconditions and only reads a constant.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as u64 } else { 100 }
}

/// Bytes per memory page, for resident set sizes.
pub fn page_size() -> u64 {
    // SAFETY: as above.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 { p as u64 } else { 4096 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inodes_come_out_of_link_targets() {
        assert_eq!(bracketed_inode("socket:[12345]", "socket"), Some(12345));
        assert_eq!(bracketed_inode("net:[4026531840]", "net"), Some(4026531840));
        assert_eq!(bracketed_inode("pipe:[12]", "socket"), None);
        assert_eq!(bracketed_inode("/dev/null", "socket"), None);
    }
}
