//! Issue 16 part A on the mock platform (the core's own objects, as kvm uses them): FIFOs of
//! the in-memory layer, SysV semaphores and message queues, POSIX timers, rt_sigtimedwait and
//! signalfd. The mock's waits never block: one without a deadline ends at once with EINTR (as
//! a handled signal would end it), one with a deadline moves the fake clock there.
#![deny(unsafe_op_in_unsafe_fn)]

mod common;

use common::mock::{cs, Sys};
use litebox_libos::abi::*;
use litebox_libos::errno::*;
use litebox_libos::shim::nr::*;

const SIGUSR1: usize = 10;
const SIGUSR2: usize = 12;

#[test]
fn fifo_open_rules_data_and_stat() {
    let mut s = Sys::new();
    assert_eq!(s.path_call(MKNOD, &["/tmp/f"], &[(S_IFIFO | 0o666) as usize, 0]), Ok(0));
    let st = s.stat("/tmp/f").unwrap();
    assert_eq!((st.st_mode & S_IFMT, st.st_mode & 0o777), (S_IFIFO, 0o644));
    assert_eq!(s.path_call(MKNOD, &["/tmp/f"], &[S_IFIFO as usize, 0]), Err(EEXIST));
    assert_eq!(s.open("/tmp/f", O_WRONLY | O_NONBLOCK, 0), Err(ENXIO));
    // Nobody on the other side: the blocking opens wait (the mock ends the wait with EINTR).
    assert_eq!(s.open("/tmp/f", O_WRONLY, 0), Err(EINTR));
    assert_eq!(s.open("/tmp/f", O_RDONLY, 0), Err(EINTR));
    let r = s.open("/tmp/f", O_RDONLY | O_NONBLOCK, 0).unwrap();
    let w = s.open("/tmp/f", O_WRONLY, 0).unwrap(); // a reader is there: no wait
    assert_eq!(s.fstat(r).unwrap().st_mode & S_IFMT, S_IFIFO);
    assert_eq!(s.read(r, 8), Err(EAGAIN));
    assert_eq!(s.write(w, b"abc"), Ok(3));
    assert_eq!(s.read(r, 8).unwrap(), b"abc");
    s.close(w).unwrap();
    assert_eq!(s.read(r, 8).unwrap(), b"");
    s.close(r).unwrap();
    let rw = s.open("/tmp/f", O_RDWR, 0).unwrap();
    assert_eq!(s.write(rw, b"x"), Ok(1));
    assert_eq!(s.read(rw, 1).unwrap(), b"x");
    let p = cs("/tmp/f");
    assert_eq!(s.sys(UNLINK, &[p.as_ptr() as usize]), Ok(0));
    assert_eq!(s.stat("/tmp/f").err(), Some(ENOENT));
}

#[test]
fn sysv_semaphores() {
    let mut s = Sys::new();
    let id = s.sys(SEMGET, &[0, 2, 0o1600]).unwrap();
    let vals: [u16; 2] = [3, 0];
    assert_eq!(s.sys(SEMCTL, &[id, 0, 17 /* SETALL */, vals.as_ptr() as usize]), Ok(0));
    assert_eq!(s.sys(SEMCTL, &[id, 0, 12 /* GETVAL */]), Ok(3));
    // struct sembuf: num, op, flg (u16, i16, i16).
    let take: [i16; 3] = [1, -1, 0o4000 /* IPC_NOWAIT */];
    assert_eq!(s.sys(SEMOP, &[id, take.as_ptr() as usize, 1]), Err(EAGAIN));
    let ms: [i64; 2] = [0, 1_000_000];
    assert_eq!(s.sys(SEMTIMEDOP, &[id, take.as_ptr() as usize, 1, ms.as_ptr() as usize]), Err(EAGAIN));
    let two: [i16; 6] = [0, -2, 0, 1, 1, 0];
    assert_eq!(s.sys(SEMOP, &[id, two.as_ptr() as usize, 2]), Ok(0));
    let mut got = [0u16; 2];
    assert_eq!(s.sys(SEMCTL, &[id, 0, 13 /* GETALL */, got.as_mut_ptr() as usize]), Ok(0));
    assert_eq!(got, [1, 1]);
    assert_eq!(s.sys(SEMOP, &[id, two.as_ptr() as usize, 0]), Err(EINVAL));
    assert_eq!(s.sys(SEMCTL, &[id, 0, 0 /* IPC_RMID */]), Ok(0));
    assert_eq!(s.sys(SEMCTL, &[id, 0, 12]), Err(EINVAL));
}

#[test]
fn sysv_message_queues() {
    let mut s = Sys::new();
    let q = s.sys(MSGGET, &[0, 0o1600]).unwrap();
    let mut msg = [0u8; 16];
    let mut send = |s: &mut Sys, ty: i64, text: &[u8]| {
        msg[..8].copy_from_slice(&ty.to_le_bytes());
        msg[8..8 + text.len()].copy_from_slice(text);
        s.sys(MSGSND, &[q, msg.as_ptr() as usize, text.len(), 0])
    };
    assert_eq!(send(&mut s, 1, b"one"), Ok(0));
    assert_eq!(send(&mut s, 2, b"two"), Ok(0));
    assert_eq!(send(&mut s, 0, b"bad"), Err(EINVAL));
    let mut buf = [0u8; 16];
    assert_eq!(s.sys(MSGRCV, &[q, buf.as_mut_ptr() as usize, 8, 2, 0]), Ok(3));
    assert_eq!((&buf[..8], &buf[8..11]), (&2i64.to_le_bytes()[..], &b"two"[..]));
    assert_eq!(s.sys(MSGRCV, &[q, buf.as_mut_ptr() as usize, 2, 0, 0]), Err(E2BIG));
    assert_eq!(s.sys(MSGRCV, &[q, buf.as_mut_ptr() as usize, 2, 0, 0o10000 /* MSG_NOERROR */]), Ok(2));
    assert_eq!(s.sys(MSGRCV, &[q, buf.as_mut_ptr() as usize, 8, 0, 0o4000 /* IPC_NOWAIT */]), Err(ENOMSG));
    assert_eq!(s.sys(MSGCTL, &[q, 0, 0]), Ok(0));
    assert_eq!(s.sys(MSGRCV, &[q, buf.as_mut_ptr() as usize, 8, 0, 0o4000]), Err(EINVAL));
}

#[test]
fn posix_timer_fires_with_si_timer_and_its_value() {
    let mut s = Sys::new();
    // struct sigevent: value, signo, notify.
    let mut ev = [0u8; 64];
    ev[0..8].copy_from_slice(&77u64.to_le_bytes());
    ev[8..12].copy_from_slice(&(SIGUSR1 as i32).to_le_bytes());
    let mut id = -1i32;
    assert_eq!(s.sys(TIMER_CREATE, &[1, ev.as_ptr() as usize, &mut id as *mut i32 as usize]), Ok(0));
    let spec: [i64; 4] = [0, 0, 0, 5_000_000];
    assert_eq!(s.sys(TIMER_SETTIME, &[id as usize, 0, spec.as_ptr() as usize, 0]), Ok(0));
    let mut cur = [0i64; 4];
    assert_eq!(s.sys(TIMER_GETTIME, &[id as usize, cur.as_mut_ptr() as usize]), Ok(0));
    assert!(cur[2] == 0 && cur[3] > 0 && cur[3] <= 5_000_000, "{cur:?}");
    // Waiting for it: the mock's clock moves to the wait's deadline, the timer is then due.
    s.sigmask = 1 << (SIGUSR1 - 1);
    let set: u64 = 1 << (SIGUSR1 - 1);
    let ts: [i64; 2] = [1, 0];
    let r = s.sys(RT_SIGTIMEDWAIT, &[&set as *const u64 as usize, 0, ts.as_ptr() as usize, 8]);
    assert_eq!(r, Err(EAGAIN));
    let now = s.os.monotonic_ns();
    s.os.signals.pending.lock().fire_timer(now);
    let mut si = [0u8; 128];
    let r = s.sys(RT_SIGTIMEDWAIT, &[&set as *const u64 as usize, si.as_mut_ptr() as usize, ts.as_ptr() as usize, 8]);
    assert_eq!(r, Ok(SIGUSR1));
    assert_eq!(i32::from_le_bytes(si[8..12].try_into().unwrap()), -2); // SI_TIMER
    assert_eq!(u64::from_le_bytes(si[24..32].try_into().unwrap()), 77);
    assert_eq!(s.sys(TIMER_GETOVERRUN, &[id as usize]), Ok(0));
    assert_eq!(s.sys(TIMER_DELETE, &[id as usize]), Ok(0));
    assert_eq!(s.sys(TIMER_DELETE, &[id as usize]), Err(EINVAL));
    ev[8..12].copy_from_slice(&31i32.to_le_bytes());
    assert_eq!(s.sys(TIMER_CREATE, &[1, ev.as_ptr() as usize, &mut id as *mut i32 as usize]), Err(EPERM));
}

#[test]
fn signalfd_reads_pending_signals_of_its_mask() {
    let mut s = Sys::new();
    s.sigmask = (1 << (SIGUSR1 - 1)) | (1 << (SIGUSR2 - 1));
    let mask: u64 = 1 << (SIGUSR1 - 1);
    let fd = s.sys(SIGNALFD4, &[usize::MAX, &mask as *const u64 as usize, 8, O_NONBLOCK as usize]).unwrap();
    assert_eq!(s.read(fd, 128), Err(EAGAIN));
    let me = s.sys(GETPID, &[]).unwrap();
    assert_eq!(s.sys(TGKILL, &[me, me, SIGUSR1]), Ok(0));
    let rec = s.read(fd, 128).unwrap();
    assert_eq!(rec.len(), 128);
    assert_eq!(u32::from_le_bytes(rec[0..4].try_into().unwrap()), SIGUSR1 as u32);
    assert_eq!(u32::from_le_bytes(rec[12..16].try_into().unwrap()), me as u32);
    let mask2: u64 = 1 << (SIGUSR2 - 1);
    assert_eq!(s.sys(SIGNALFD4, &[fd, &mask2 as *const u64 as usize, 8, 0]), Ok(fd));
    assert_eq!(s.sys(TGKILL, &[me, me, SIGUSR2]), Ok(0));
    assert_eq!(u32::from_le_bytes(s.read(fd, 128).unwrap()[0..4].try_into().unwrap()), SIGUSR2 as u32);
    assert_eq!(s.read(fd, 64), Err(EINVAL));
}
