//! Control messages of sendmsg/recvmsg (`struct cmsghdr` chains). Descriptors passed with
//! `SCM_RIGHTS` are translated: the app's numbers become host descriptors on the way out, and
//! received host descriptors are installed in the app's table on the way in. Only host-backed
//! descriptors (sockets, pipes, eventfds, files of host directories) can be passed; a file of
//! the image or the writable layer gives EOPNOTSUPP. Other control messages pass unchanged.
use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::abi::O_RDWR;
use crate::errno::*;
use crate::fd::{FileKind, HostFd, OpenFile};
use crate::kernel::LibOs;
use crate::platform::Platform;
use crate::user;

const SOL_SOCKET: i32 = 1;
const SCM_RIGHTS: i32 = 1;
const HDR: usize = 16;
/// SCM_MAX_FD: Linux refuses more descriptors in one message (EINVAL).
const MAX_FDS: usize = 253;
/// The largest control buffer taken from the app (Linux's default optmem_max is 20 KiB;
/// beyond it sendmsg gives ENOBUFS).
pub const CONTROL_MAX: usize = 64 << 10;

/// A control buffer ready for the host, and the open files it names, kept open until the
/// host call is done.
pub struct Outgoing {
    pub buf: Vec<u8>,
    _held: Vec<Arc<OpenFile>>,
}

fn word(b: &[u8], at: usize) -> usize {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    usize::from_le_bytes(w)
}

fn int(b: &[u8], at: usize) -> i32 {
    i32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// The `(offset, cmsg_len)` of each well-formed header in `buf`, as the kernel walks them;
/// None when one is malformed (cmsg_len shorter than the header or past the end).
fn headers(buf: &[u8]) -> Option<Vec<(usize, usize)>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + HDR <= buf.len() {
        let len = word(buf, at);
        if len < HDR || len > buf.len() - at {
            return None;
        }
        out.push((at, len));
        at = at.checked_add(len.next_multiple_of(8))?;
    }
    Some(out)
}

/// Copies the app's control buffer (`ptr`, `len`) and translates its SCM_RIGHTS descriptors.
/// Errors as Linux: ENOBUFS for an oversized buffer, EINVAL for a malformed header or too many
/// descriptors, EBADF for a descriptor that is not open.
pub fn outgoing<P: Platform>(os: &LibOs<P>, ptr: usize, len: usize) -> Result<Outgoing, Errno> {
    if len > CONTROL_MAX {
        return Err(ENOBUFS);
    }
    let mut buf = user::slice_in(&os.mem, ptr, len)?.to_vec();
    let mut held = Vec::new();
    for (at, clen) in headers(&buf).ok_or(EINVAL)? {
        if int(&buf, at + 8) != SOL_SOCKET || int(&buf, at + 12) != SCM_RIGHTS {
            continue;
        }
        let n = (clen - HDR) / 4;
        if n > MAX_FDS {
            return Err(EINVAL);
        }
        for i in 0..n {
            let off = at + HDR + 4 * i;
            // A library-OS pipe travels as the host pipe it becomes.
            os.promote_fd(int(&buf, off));
            let f = os.fds.lock().get(int(&buf, off))?;
            let FileKind::Host(h) = &f.kind else {
                os.debug_log(&[b"network: SCM_RIGHTS of a file that has no host descriptor -> EOPNOTSUPP"]);
                return Err(EOPNOTSUPP);
            };
            buf[off..off + 4].copy_from_slice(&h.0.to_le_bytes());
            held.push(f.clone());
        }
    }
    Ok(Outgoing { buf, _held: held })
}

/// Installs the host descriptors that SCM_RIGHTS messages in `buf` (filled by the host's
/// recvmsg) carry, and writes the app's numbers in their place. When the table is full, the
/// rest are closed and the message shortened, as Linux does; returns whether that happened
/// (the caller sets MSG_CTRUNC).
pub fn incoming<P: Platform>(os: &LibOs<P>, buf: &mut [u8], cloexec: bool) -> bool {
    let mut truncated = false;
    for (at, clen) in headers(buf).unwrap_or_default() {
        if int(buf, at + 8) != SOL_SOCKET || int(buf, at + 12) != SCM_RIGHTS {
            continue;
        }
        let n = (clen - HDR) / 4;
        let mut installed = 0;
        for i in 0..n {
            let off = at + HDR + 4 * i;
            let host = HostFd(int(buf, off));
            if truncated {
                continue; // dropped: closed on the host
            }
            let file = OpenFile::new(FileKind::Host(host), Vec::new(), O_RDWR);
            match os.fds.lock().alloc(file, cloexec, 0) {
                Ok(fd) => {
                    buf[off..off + 4].copy_from_slice(&fd.to_le_bytes());
                    installed += 1;
                }
                Err(_) => truncated = true,
            }
        }
        if installed < n {
            buf[at..at + 8].copy_from_slice(&(HDR + 4 * installed).to_le_bytes());
        }
    }
    truncated
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmsg(len: usize, level: i32, ty: i32, data: &[u8]) -> Vec<u8> {
        let mut v = len.to_le_bytes().to_vec();
        v.extend_from_slice(&level.to_le_bytes());
        v.extend_from_slice(&ty.to_le_bytes());
        v.extend_from_slice(data);
        v.resize(v.len().next_multiple_of(8), 0);
        v
    }

    #[test]
    fn headers_walk_aligned_and_refuse_malformed() {
        let mut buf = cmsg(20, SOL_SOCKET, SCM_RIGHTS, &7i32.to_le_bytes());
        buf.extend(cmsg(24, SOL_SOCKET, SCM_RIGHTS, &[0; 8]));
        assert_eq!(headers(&buf), Some(alloc::vec![(0, 20), (24, 24)]));
        assert_eq!(headers(&cmsg(8, 1, 1, &[])), None, "cmsg_len shorter than the header");
        assert_eq!(headers(&cmsg(64, 1, 1, &[])), None, "cmsg_len past the end");
        assert_eq!(headers(&[0u8; 8]), Some(alloc::vec![]), "a tail shorter than a header is ignored");
    }
}
