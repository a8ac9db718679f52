//! Linux behaviour a real test suite expects (issue 16), driven through `shim::dispatch` on the
//! mock platform: the calls added (set*id, priorities, rusage, vectored I/O at an offset,
//! close_range, memfd, O_TMPFILE, fallocate, flock, fcntl's owner/signal/lease/pipe size), the
//! errors corrected (epoll_create1, O_PATH, iov_len, mmap, socket protocol) and the /proc files
//! added. Every expected value is what Linux gives for the same call.
#![deny(unsafe_op_in_unsafe_fn)]

mod common;

use common::mock::{cs, Ids, Sys};
use litebox_libos::abi::*;
use litebox_libos::errno::*;
use litebox_libos::shim::nr::*;

const KEEP: usize = u32::MAX as usize;

fn ids3(s: &mut Sys, nr: usize) -> [u32; 3] {
    let mut v = [0u32; 3];
    let p = v.as_mut_ptr() as usize;
    s.sys(nr, &[p, p + 4, p + 8]).unwrap();
    v
}

fn read_all(s: &mut Sys, path: &str) -> String {
    let fd = s.open(path, O_RDONLY, 0).unwrap_or_else(|e| panic!("open {path}: errno {e}"));
    let data = s.read(fd, 8192).unwrap();
    s.close(fd).unwrap();
    String::from_utf8(data).unwrap()
}

#[test]
fn an_unprivileged_user_keeps_its_own_ids() {
    let mut s = Sys::new();
    assert_eq!(s.sys(SETUID, &[0]), Err(EPERM));
    assert_eq!(s.sys(SETGID, &[0]), Err(EPERM));
    assert_eq!(s.sys(SETUID, &[1000]), Ok(0));
    assert_eq!(s.sys(SETRESUID, &[KEEP, KEEP, KEEP]), Ok(0));
    assert_eq!(s.sys(SETRESUID, &[KEEP, 0, KEEP]), Err(EPERM));
    assert_eq!(s.sys(SETREUID, &[KEEP, 1000]), Ok(0));
    assert_eq!(s.sys(SETGROUPS, &[0, 0]), Err(EPERM));
    assert_eq!(s.sys(GETGROUPS, &[0, 0]), Ok(0));
    assert_eq!(ids3(&mut s, GETRESUID), [1000; 3]);
    // setfsuid always answers the previous fs id, and changes nothing it may not.
    assert_eq!(s.sys(SETFSUID, &[0]), Ok(1000));
    assert_eq!(s.sys(SETFSUID, &[KEEP]), Ok(1000));
}

#[test]
fn root_in_the_sandbox_may_change_ids_and_then_loses_the_privilege() {
    let mut s = Sys::with_ids(Ids { uid: 0, gid: 0, ..Ids::default() });
    let groups = [5u32, 7];
    assert_eq!(s.sys(SETGROUPS, &[2, groups.as_ptr() as usize]), Ok(0));
    let mut out = [0u32; 4];
    assert_eq!(s.sys(GETGROUPS, &[0, 0]), Ok(2));
    assert_eq!(s.sys(GETGROUPS, &[1, out.as_mut_ptr() as usize]), Err(EINVAL));
    assert_eq!(s.sys(GETGROUPS, &[4, out.as_mut_ptr() as usize]), Ok(2));
    assert_eq!(&out[..2], &groups);
    assert_eq!(s.sys(SETRESGID, &[10, 11, 12]), Ok(0));
    assert_eq!(ids3(&mut s, GETRESGID), [10, 11, 12]);
    assert_eq!(s.sys(SETRESUID, &[1, 2, 3]), Ok(0));
    assert_eq!(ids3(&mut s, GETRESUID), [1, 2, 3]);
    assert_eq!((s.sys(GETUID, &[]), s.sys(GETEUID, &[])), (Ok(1), Ok(2)));
    assert_eq!(s.sys(SETUID, &[0]), Err(EPERM), "euid 2 is no longer privileged");
    assert_eq!(s.sys(SETUID, &[3]), Ok(0), "the saved id may become the effective one");
    assert_eq!(ids3(&mut s, GETRESUID), [1, 3, 3]);
    let status = read_all(&mut s, "/proc/self/status");
    assert!(status.contains("\nUid:\t1\t3\t3\t3\n"), "{status}");
}

#[test]
fn priorities_of_the_process_itself() {
    let mut s = Sys::new();
    assert_eq!(s.sys(GETPRIORITY, &[0, 0]), Ok(20), "the raw syscall answers 20 - nice");
    assert_eq!(s.sys(SETPRIORITY, &[0, 0, 5]), Ok(0));
    assert_eq!(s.sys(GETPRIORITY, &[0, 42]), Ok(15));
    assert_eq!(s.sys(SETPRIORITY, &[0, 0, 0]), Err(EACCES), "lowering nice needs privilege");
    assert_eq!(s.sys(GETPRIORITY, &[3, 0]), Err(EINVAL));
    assert_eq!(s.sys(GETPRIORITY, &[0, 9999]), Err(ESRCH));
    let stat = read_all(&mut s, "/proc/self/stat");
    let fields: Vec<&str> = stat.rsplit_once(") ").unwrap().1.split(' ').collect();
    assert_eq!((fields[15], fields[16]), ("25", "5"), "priority and nice of proc(5) fields 18, 19");
}

#[test]
fn getrusage_and_times() {
    let mut s = Sys::new();
    let mut ru = [0i64; 18];
    assert_eq!(s.sys(GETRUSAGE, &[0, ru.as_mut_ptr() as usize]), Ok(0));
    assert_eq!(s.sys(GETRUSAGE, &[-1isize as usize, ru.as_mut_ptr() as usize]), Ok(0));
    assert_eq!(s.sys(GETRUSAGE, &[1, ru.as_mut_ptr() as usize]), Ok(0));
    assert_eq!(s.sys(GETRUSAGE, &[7, ru.as_mut_ptr() as usize]), Err(EINVAL));
    let mut tms = [1i64; 4];
    let t = s.sys(TIMES, &[tms.as_mut_ptr() as usize]).unwrap();
    assert_eq!(t, 1000 * 100, "ticks of the monotonic clock (the mock's starts at 1000 s)");
    assert_eq!(tms[2..], [0, 0], "no children's times");
    assert_eq!(s.sys(TIMES, &[0]), Ok(t), "a NULL buffer is allowed");
}

#[test]
fn preadv_pwritev_and_the_v2_forms() {
    let mut s = Sys::new();
    let fd = s.open("/tmp/vec.bin", O_CREAT | O_RDWR, 0o600).unwrap();
    let (a, b) = (b"abc".to_vec(), b"defg".to_vec());
    let iov = [Iovec { base: a.as_ptr() as usize, len: 3 }, Iovec { base: b.as_ptr() as usize, len: 4 }];
    assert_eq!(s.sys(PWRITEV, &[fd, iov.as_ptr() as usize, 2, 2, 0]), Ok(7));
    assert_eq!(s.sys(LSEEK, &[fd, 0, SEEK_CUR as usize]), Ok(0), "the file position does not move");
    let (mut x, mut y) = ([0u8; 4], [0u8; 16]);
    let riov = [Iovec { base: x.as_mut_ptr() as usize, len: 4 }, Iovec { base: y.as_mut_ptr() as usize, len: 16 }];
    assert_eq!(s.sys(PREADV, &[fd, riov.as_ptr() as usize, 2, 0, 0]), Ok(9));
    assert_eq!((&x, &y[..5]), (&[0, 0, b'a', b'b'], &b"cdefg"[..]));
    assert_eq!(s.sys(PREADV, &[fd, riov.as_ptr() as usize, 2, -1isize as usize, 0]), Err(EINVAL));
    // preadv2 with offset -1 reads at (and moves) the file position.
    assert_eq!(s.sys(PREADV2, &[fd, riov.as_ptr() as usize, 1, -1isize as usize, 0, 0]), Ok(4));
    assert_eq!(s.sys(LSEEK, &[fd, 0, SEEK_CUR as usize]), Ok(4));
    assert_eq!(s.sys(PREADV2, &[fd, riov.as_ptr() as usize, 1, 0, 0, 0x100]), Err(EOPNOTSUPP));
    let bad = [Iovec { base: x.as_mut_ptr() as usize, len: usize::MAX }];
    assert_eq!(s.sys(PREADV, &[fd, bad.as_ptr() as usize, 1, 0, 0]), Err(EINVAL), "a negative iov_len");
    assert_eq!(s.sys(READV, &[fd, bad.as_ptr() as usize, 1]), Err(EINVAL));
    assert_eq!(s.sys(WRITEV, &[fd, bad.as_ptr() as usize, 1]), Err(EINVAL));
}

#[test]
fn close_range_closes_or_marks_a_range() {
    let mut s = Sys::new();
    let fds: Vec<usize> = (0..3).map(|_| s.open("/app/hello.txt", O_RDONLY, 0).unwrap()).collect();
    assert_eq!(fds, [3, 4, 5]);
    assert_eq!(s.sys(CLOSE_RANGE, &[5, 3, 0]), Err(EINVAL));
    assert_eq!(s.sys(CLOSE_RANGE, &[3, 3, 8]), Err(EINVAL));
    assert_eq!(s.sys(CLOSE_RANGE, &[3, 3, 4]), Ok(0));
    assert_eq!(s.sys(FCNTL, &[3, F_GETFD as usize]), Ok(FD_CLOEXEC as usize));
    assert_eq!(s.sys(CLOSE_RANGE, &[4, u32::MAX as usize, 0]), Ok(0));
    assert_eq!(s.sys(FCNTL, &[4, F_GETFD as usize]), Err(EBADF));
    assert_eq!(s.sys(FCNTL, &[5, F_GETFD as usize]), Err(EBADF));
    assert_eq!(s.sys(FCNTL, &[3, F_GETFD as usize]), Ok(FD_CLOEXEC as usize));
}

#[test]
fn memfd_and_o_tmpfile_are_unnamed_files() {
    let mut s = Sys::new();
    let memname = cs("buf");
    assert_eq!(s.sys(MEMFD_CREATE, &[memname.as_ptr() as usize, 0x100]), Err(EINVAL));
    let fd = s.sys(MEMFD_CREATE, &[memname.as_ptr() as usize, 1]).unwrap();
    assert_eq!(s.sys(FCNTL, &[fd, F_GETFD as usize]), Ok(FD_CLOEXEC as usize));
    assert_eq!(s.write(fd, b"hello"), Ok(5));
    assert_eq!(s.sys(PREAD64, &[fd, [0u8; 8].as_mut_ptr() as usize, 8, 1]), Ok(4));
    assert_eq!(s.readlink(&format!("/proc/self/fd/{fd}"), 64).unwrap(), b"/memfd:buf (deleted)");
    assert_eq!(s.fstat(fd).unwrap().st_size, 5);
    let tmp = cs("/tmp");
    assert_eq!(s.sys(OPENAT, &[AT_FDCWD as usize, tmp.as_ptr() as usize, O_TMPFILE as usize, 0o600]), Err(EINVAL));
    let hello = cs("/app/hello.txt");
    assert_eq!(
        s.sys(OPENAT, &[AT_FDCWD as usize, hello.as_ptr() as usize, (O_TMPFILE | O_RDWR) as usize, 0]),
        Err(ENOTDIR)
    );
    let t = s.sys(OPENAT, &[AT_FDCWD as usize, tmp.as_ptr() as usize, (O_TMPFILE | O_RDWR) as usize, 0o640]).unwrap();
    assert_eq!(s.write(t, b"xy"), Ok(2));
    let st = s.fstat(t).unwrap();
    assert_eq!((st.st_mode & 0o7777, st.st_size), (0o640 & !0o022, 2));
}

#[test]
fn fallocate_and_flock() {
    let mut s = Sys::new();
    let fd = s.open("/tmp/falloc", O_CREAT | O_RDWR, 0o600).unwrap();
    assert_eq!(s.sys(FALLOCATE, &[fd, 0, 0, 100]), Ok(0));
    assert_eq!(s.fstat(fd).unwrap().st_size, 100);
    assert_eq!(s.sys(FALLOCATE, &[fd, 1, 0, 500]), Ok(0), "FALLOC_FL_KEEP_SIZE");
    assert_eq!(s.fstat(fd).unwrap().st_size, 100);
    assert_eq!(s.sys(FALLOCATE, &[fd, 0, 0, 0]), Err(EINVAL));
    assert_eq!(s.sys(FALLOCATE, &[fd, 0x40, 0, 1]), Err(EOPNOTSUPP));
    let ro = s.open("/app/hello.txt", O_RDONLY, 0).unwrap();
    assert_eq!(s.sys(FALLOCATE, &[ro, 0, 0, 1]), Err(EBADF));
    assert_eq!(s.sys(FLOCK, &[fd, 2]), Ok(0));
    assert_eq!(s.sys(FLOCK, &[fd, 8]), Ok(0));
    assert_eq!(s.sys(FLOCK, &[fd, 3]), Err(EINVAL));
    assert_eq!(s.sys(FLOCK, &[99, 2]), Err(EBADF));
}

#[test]
fn fcntl_owner_signal_lease_and_pipe_size() {
    let mut s = Sys::new();
    let fd = s.open("/app/hello.txt", O_RDONLY, 0).unwrap();
    assert_eq!(s.sys(FCNTL, &[fd, 10, 65]), Err(EINVAL), "F_SETSIG past the last signal");
    assert_eq!(s.sys(FCNTL, &[fd, 10, 34]), Ok(0));
    assert_eq!(s.sys(FCNTL, &[fd, 11]), Ok(34));
    let mut own = [9u32; 2];
    assert_eq!(s.sys(FCNTL, &[fd, 16, own.as_mut_ptr() as usize]), Ok(0));
    assert_eq!(own, [0, 0], "no owner: F_OWNER_TID 0");
    assert_eq!(s.sys(FCNTL, &[fd, 8, 42]), Ok(0));
    assert_eq!(s.sys(FCNTL, &[fd, 9]), Ok(42));
    assert_eq!(s.sys(FCNTL, &[fd, 16, own.as_mut_ptr() as usize]), Ok(0));
    assert_eq!(own, [1, 42], "F_OWNER_PID");
    assert_eq!(s.sys(FCNTL, &[fd, 1025]), Ok(2), "F_GETLEASE: F_UNLCK");
    assert_eq!(s.sys(FCNTL, &[fd, 1024, 0]), Ok(0), "a read lease on a read-only descriptor");
    assert_eq!(s.sys(FCNTL, &[fd, 1025]), Ok(0));
    assert_eq!(s.sys(FCNTL, &[fd, 1032]), Err(EBADF), "F_GETPIPE_SZ of a regular file");
    let mut p = [0i32; 2];
    assert_eq!(s.sys(PIPE2, &[p.as_mut_ptr() as usize, 0]), Ok(0));
    assert_eq!(s.sys(FCNTL, &[p[0] as usize, 1032]), Ok(65536));
    assert_eq!(s.sys(FCNTL, &[p[0] as usize, 1031, 5000]), Ok(8192));
    assert_eq!(s.sys(FCNTL, &[p[0] as usize, 1032]), Ok(8192));
    assert_eq!(s.sys(FCNTL, &[p[1] as usize, 1032]), Ok(8192), "the size is the pipe's, not one end's");
    // The pipe holds that much and no more (a non-blocking write takes what fits).
    assert_eq!(s.sys(FCNTL, &[p[1] as usize, F_SETFL as usize, O_NONBLOCK as usize]), Ok(0));
    let big = [7u8; 10000];
    assert_eq!(s.sys(WRITE, &[p[1] as usize, big.as_ptr() as usize, big.len()]), Ok(8192));
    assert_eq!(s.sys(FCNTL, &[p[1] as usize, 1031, 4096]), Err(EBUSY), "smaller than what it holds");
    let mut back = [0u8; 8192];
    assert_eq!(s.sys(READ, &[p[0] as usize, back.as_mut_ptr() as usize, back.len()]), Ok(8192));
    assert_eq!(s.sys(FCNTL, &[p[1] as usize, 1031, 4096]), Ok(4096), "empty: it may shrink");
    assert_eq!(s.sys(FCNTL, &[p[0] as usize, 1031, 1 << 21]), Err(EPERM), "past pipe-max-size, unprivileged");
    assert_eq!(s.sys(FCNTL, &[p[0] as usize, 1024, 0]), Err(EINVAL), "no lease on a pipe");
    let on = 1i32;
    assert_eq!(s.sys(IOCTL, &[p[0] as usize, 0x5452, &on as *const i32 as usize]), Ok(0), "FIOASYNC");
    assert_eq!(s.sys(FCNTL, &[p[0] as usize, F_GETFL as usize]), Ok((O_RDONLY | O_ASYNC) as usize));
}

#[test]
fn corrected_errors() {
    let mut s = Sys::new();
    assert_eq!(s.sys(EPOLL_CREATE1, &[-1isize as usize]), Err(EINVAL));
    let ep = s.sys(EPOLL_CREATE1, &[0]).unwrap();
    let path = s.open("/app/hello.txt", O_PATH, 0).unwrap();
    assert_eq!(s.read(path, 4), Err(EBADF), "O_PATH descriptors do no I/O");
    assert_eq!(s.write(path, b"x"), Err(EBADF));
    let ev = [0u8; 12];
    assert_eq!(s.sys(EPOLL_CTL, &[ep, 1, path, ev.as_ptr() as usize]), Err(EBADF));
    assert_eq!(s.sys(ACCEPT, &[path, 0, 0]), Err(EBADF));
    assert_eq!(s.sys(MMAP, &[0, 4096, PROT_READ as usize, MAP_PRIVATE as usize, 77, 0]), Err(EBADF));
    let fd = s.open("/app/hello.txt", O_RDONLY, 0).unwrap();
    assert_eq!(
        s.sys(MMAP, &[0, 4096, PROT_READ as usize, (MAP_SHARED_VALIDATE | 0x80_0000) as usize, fd, 0]),
        Err(EOPNOTSUPP)
    );
    assert_eq!(s.sys(SOCKET, &[1, 1, 17]), Err(EPROTONOSUPPORT));
    let mut sv = [0i32; 2];
    assert_eq!(s.sys(SOCKETPAIR, &[1, 1, 6, sv.as_mut_ptr() as usize]), Err(EPROTONOSUPPORT));
    let mut u = [0u8; 65 * 6];
    assert_eq!(s.sys(UNAME, &[u.as_mut_ptr() as usize]), Ok(0));
    assert!(u[130..].starts_with(b"6.12."), "a current kernel release");
}

#[test]
fn proc_stat_statm_task_mounts_and_sys() {
    let mut s = Sys::new();
    let stat = read_all(&mut s, "/proc/42/stat");
    assert!(stat.starts_with("42 ("), "{stat}");
    let rest: Vec<&str> = stat.rsplit_once(") ").unwrap().1.trim_end().split(' ').collect();
    assert_eq!(rest.len(), 50, "52 fields in all: {stat}");
    let ppid = s.sys(GETPPID, &[]).unwrap().to_string();
    assert_eq!((rest[0], rest[1]), ("R", ppid.as_str()), "state and ppid (getppid's)");
    let statm = read_all(&mut s, "/proc/self/statm");
    assert_eq!(statm.split(' ').count(), 7, "{statm}");
    assert!(read_all(&mut s, "/proc/mounts").contains(" /proc proc "));
    assert_eq!(read_all(&mut s, "/proc/self/mounts"), read_all(&mut s, "/proc/mounts"));
    assert_eq!(read_all(&mut s, "/proc/sys/kernel/pid_max"), "4194304\n");
    assert_eq!(read_all(&mut s, "/proc/sys/kernel/tainted"), "0\n");
    assert_eq!(read_all(&mut s, "/proc/sys/kernel/hostname"), "litebox-test\n");
    assert_eq!(read_all(&mut s, "/proc/sys/fs/pipe-max-size"), "1048576\n");
    assert!(!read_all(&mut s, "/proc/sys/kernel/core_pattern").is_empty());
    assert_eq!(s.open("/proc/sys/kernel/core_pattern", O_WRONLY, 0), Err(EACCES));
    assert_eq!(read_all(&mut s, "/proc/self/task/42/stat"), read_all(&mut s, "/proc/self/stat"));
    let dir = s.open("/proc/self/task", O_RDONLY | O_DIRECTORY, 0).unwrap();
    let mut buf = [0u8; 512];
    let n = s.sys(GETDENTS64, &[dir, buf.as_mut_ptr() as usize, buf.len()]).unwrap();
    assert!(buf[..n].windows(3).any(|w| w == b"42\0"), "the task directory lists the process");
    assert_eq!(s.stat("/proc/sys/kernel").unwrap().st_mode & S_IFMT, S_IFDIR);
}

#[test]
fn hard_links_in_the_memory_layer() {
    let mut s = Sys::new();
    let fd = s.open("/tmp/orig", O_CREAT | O_WRONLY, 0o600).unwrap();
    assert_eq!(s.write(fd, b"abc"), Ok(3));
    let (o, h) = (cs("/tmp/orig"), cs("/tmp/hard"));
    assert_eq!(s.sys(LINK, &[o.as_ptr() as usize, h.as_ptr() as usize]), Ok(0));
    assert_eq!(s.sys(LINK, &[o.as_ptr() as usize, h.as_ptr() as usize]), Err(EEXIST));
    let (a, b) = (s.stat("/tmp/orig").unwrap(), s.stat("/tmp/hard").unwrap());
    assert_eq!((a.st_ino, a.st_nlink), (b.st_ino, 2));
    assert_eq!(s.write(fd, b"d"), Ok(1));
    let rd = s.open("/tmp/hard", O_RDONLY, 0).unwrap();
    assert_eq!(s.read(rd, 16).unwrap(), b"abcd", "one file under two names");
    assert_eq!(s.path_call(UNLINK, &["/tmp/orig"], &[]), Ok(0));
    assert_eq!(s.stat("/tmp/hard").unwrap().st_nlink, 1);
    let missing = cs("/tmp/none");
    assert_eq!(s.sys(LINK, &[missing.as_ptr() as usize, o.as_ptr() as usize]), Err(ENOENT));
    let dir = cs("/tmp");
    assert_eq!(s.sys(LINK, &[dir.as_ptr() as usize, o.as_ptr() as usize]), Err(EPERM), "no links to directories");
    assert_eq!(
        s.sys(LINKAT, &[AT_FDCWD as usize, h.as_ptr() as usize, AT_FDCWD as usize, o.as_ptr() as usize, 1]),
        Err(EINVAL)
    );
    // An image file gets its second name after a copy-up; an O_TMPFILE file gets its first.
    let (img, img2) = (cs("/app/hello.txt"), cs("/tmp/hello2"));
    assert_eq!(s.sys(LINK, &[img.as_ptr() as usize, img2.as_ptr() as usize]), Ok(0));
    let t = s.sys(OPENAT, &[AT_FDCWD as usize, dir.as_ptr() as usize, (O_TMPFILE | O_RDWR) as usize, 0o600]).unwrap();
    assert_eq!(s.write(t, b"tmp"), Ok(3));
    let (empty, named) = (cs(""), cs("/tmp/named"));
    let args = [t, empty.as_ptr() as usize, AT_FDCWD as usize, named.as_ptr() as usize, AT_EMPTY_PATH as usize];
    assert_eq!(s.sys(LINKAT, &args), Ok(0));
    let n = s.open("/tmp/named", O_RDONLY, 0).unwrap();
    assert_eq!(s.read(n, 8).unwrap(), b"tmp");
}

#[test]
fn sendfile_copies_between_descriptors() {
    let mut s = Sys::new();
    let src = s.open("/app/hello.txt", O_RDONLY, 0).unwrap();
    let dst = s.open("/tmp/sent", O_CREAT | O_RDWR, 0o600).unwrap();
    let mut off: i64 = 7;
    assert_eq!(s.sys(SENDFILE, &[dst, src, &mut off as *mut i64 as usize, 100]), Ok(6));
    assert_eq!(off, 13, "the offset advances; the file position does not");
    assert_eq!(s.sys(LSEEK, &[src, 0, SEEK_CUR as usize]), Ok(0));
    assert_eq!(s.sys(SENDFILE, &[dst, src, 0, 5]), Ok(5));
    assert_eq!(s.sys(LSEEK, &[src, 0, SEEK_CUR as usize]), Ok(5));
    assert_eq!(s.sys(PREAD64, &[dst, [0u8; 16].as_mut_ptr() as usize, 16, 0]), Ok(11));
    assert_eq!(s.sys(SENDFILE, &[dst, 99, 0, 5]), Err(EBADF));
    let mut neg: i64 = -1;
    assert_eq!(s.sys(SENDFILE, &[dst, src, &mut neg as *mut i64 as usize, 5]), Err(EINVAL));
}

#[test]
fn prctl_sched_caps_and_small_calls() {
    let mut s = Sys::new();
    let nm = cs("worker-name-that-is-long");
    assert_eq!(s.sys(PRCTL, &[15, nm.as_ptr() as usize]), Ok(0));
    let mut got = [0u8; 16];
    assert_eq!(s.sys(PRCTL, &[16, got.as_mut_ptr() as usize]), Ok(0));
    assert_eq!(&got, b"worker-name-tha\0", "15 bytes and a NUL, as TASK_COMM_LEN");
    assert_eq!(read_all(&mut s, "/proc/self/comm"), "worker-name-tha\n");
    assert_eq!(s.sys(PRCTL, &[3]), Ok(1), "dumpable by default");
    assert_eq!(s.sys(PRCTL, &[38, 1, 0, 0, 0]), Ok(0));
    assert_eq!(s.sys(PRCTL, &[39]), Ok(1));
    assert_eq!(s.sys(PRCTL, &[1, 65]), Err(EINVAL));
    assert_eq!(s.sys(PRCTL, &[9999]), Err(EINVAL));
    assert_eq!(s.sys(SCHED_GETSCHEDULER, &[0]), Ok(0));
    assert_eq!(s.sys(SCHED_GETSCHEDULER, &[9999]), Err(ESRCH));
    let prio = 10i32;
    assert_eq!(s.sys(SCHED_SETSCHEDULER, &[0, 1, &prio as *const i32 as usize]), Err(EPERM), "SCHED_FIFO unprivileged");
    assert_eq!(s.sys(SCHED_GET_PRIORITY_MAX, &[1]), Ok(99));
    assert_eq!(s.sys(SCHED_GET_PRIORITY_MIN, &[7]), Err(EINVAL));
    let mut hdr = [0x2008_0522u32, 0];
    let mut data = [7u32; 6];
    assert_eq!(s.sys(CAPGET, &[hdr.as_mut_ptr() as usize, data.as_mut_ptr() as usize]), Ok(0));
    assert_eq!(data, [0; 6], "no capabilities");
    hdr[0] = 1;
    assert_eq!(s.sys(CAPGET, &[hdr.as_mut_ptr() as usize, 0]), Ok(0));
    assert_eq!(hdr[0], 0x2008_0522, "the preferred version is written back");
    let (mut cpu, mut node) = (9u32, 9u32);
    assert_eq!(s.sys(GETCPU, &[&mut cpu as *mut u32 as usize, &mut node as *mut u32 as usize, 0]), Ok(0));
    assert_eq!((cpu, node), (0, 0));
    assert_eq!(s.sys(MEMBARRIER, &[0, 0]), Ok(0));
    assert_eq!(s.sys(SYNC, &[]), Ok(0));
    assert_eq!(s.sys(SYNCFS, &[77]), Err(EBADF));
    let mut p = [0i32; 2];
    assert_eq!(s.sys(PIPE2, &[p.as_mut_ptr() as usize, 0]), Ok(0));
    assert_eq!(s.sys(FADVISE64, &[p[0] as usize, 0, 0, 0]), Err(ESPIPE));
    let fd = s.open("/app/hello.txt", O_RDONLY, 0).unwrap();
    assert_eq!(s.sys(FADVISE64, &[fd, 0, 0, 9]), Err(EINVAL));
    assert_eq!(s.sys(FADVISE64, &[fd, 0, 0, 4]), Ok(0));
    assert_eq!(s.sys(MLOCKALL, &[0]), Err(EINVAL));
    let mut vec = [0u8; 2];
    assert_eq!(s.sys(MINCORE, &[0x1000, 8192, vec.as_mut_ptr() as usize]), Err(ENOMEM), "nothing mapped there");
}

#[test]
fn mknod_makes_regular_files_and_refuses_devices() {
    let mut s = Sys::new();
    assert_eq!(s.path_call(MKNOD, &["/tmp/plain"], &[(S_IFREG | 0o640) as usize, 0]), Ok(0));
    let st = s.stat("/tmp/plain").unwrap();
    assert_eq!((st.st_mode & S_IFMT, st.st_mode & 0o777), (S_IFREG, 0o640 & !0o022));
    assert_eq!(s.path_call(MKNOD, &["/tmp/plain"], &[S_IFREG as usize, 0]), Err(EEXIST));
    assert_eq!(s.path_call(MKNOD, &["/tmp/null2"], &[(S_IFCHR | 0o600) as usize, 0x103]), Err(EPERM));
    assert_eq!(s.path_call(MKNOD, &["/tmp/none/x"], &[(S_IFCHR | 0o600) as usize, 0x103]), Err(ENOENT));
    assert_eq!(s.path_call(MKNOD, &["/tmp/bad"], &[0o170000, 0]), Err(EINVAL));
}

#[test]
fn getdents_copy_file_range_affinity_ioprio_personality() {
    let mut s = Sys::new();
    let dir = s.open("/app", O_RDONLY | O_DIRECTORY, 0).unwrap();
    let mut buf = [0u8; 1024];
    let n = s.sys(GETDENTS, &[dir, buf.as_mut_ptr() as usize, buf.len()]).unwrap();
    // struct linux_dirent: ino, off, reclen, name at 18, the type in the record's last byte.
    let (mut at, mut names) = (0, Vec::new());
    while at < n {
        let reclen = u16::from_le_bytes([buf[at + 16], buf[at + 17]]) as usize;
        let end = buf[at + 18..].iter().position(|&c| c == 0).unwrap() + at + 18;
        names.push((String::from_utf8(buf[at + 18..end].to_vec()).unwrap(), buf[at + reclen - 1]));
        at += reclen;
    }
    assert!(names.contains(&(".".to_string(), 4)), "{names:?}");
    assert!(names.contains(&("hello.txt".to_string(), 8)), "{names:?}");

    let src = s.open("/app/hello.txt", O_RDONLY, 0).unwrap();
    let dst = s.open("/tmp/cfr", O_CREAT | O_RDWR, 0o600).unwrap();
    let mut off_in: i64 = 7;
    assert_eq!(s.sys(COPY_FILE_RANGE, &[src, &mut off_in as *mut i64 as usize, dst, 0, 100, 0]), Ok(6));
    assert_eq!(off_in, 13);
    assert_eq!(s.sys(LSEEK, &[dst, 0, SEEK_CUR as usize]), Ok(6), "the output's position moved");
    assert_eq!(s.sys(COPY_FILE_RANGE, &[src, 0, dst, 0, 1, 1]), Err(EINVAL), "flags must be 0");
    let mut p = [0i32; 2];
    assert_eq!(s.sys(PIPE2, &[p.as_mut_ptr() as usize, 0]), Ok(0));
    assert_eq!(s.sys(COPY_FILE_RANGE, &[src, 0, p[1] as usize, 0, 1, 0]), Err(EINVAL), "not a regular file");

    let mask = [1u8; 8];
    assert_eq!(s.sys(SCHED_SETAFFINITY, &[0, 8, mask.as_ptr() as usize]), Ok(0));
    assert_eq!(s.sys(SCHED_SETAFFINITY, &[0, 8, [0u8; 8].as_ptr() as usize]), Err(EINVAL));
    assert_eq!(s.sys(IOPRIO_GET, &[1, 0]), Ok((2 << 13) | 4));
    assert_eq!(s.sys(IOPRIO_SET, &[1, 0, (2 << 13) | 7]), Ok(0));
    assert_eq!(s.sys(IOPRIO_GET, &[1, 0]), Ok((2 << 13) | 7));
    assert_eq!(s.sys(IOPRIO_SET, &[1, 0, 1 << 13]), Err(EPERM), "the real-time class needs privilege");
    assert_eq!(s.sys(PERSONALITY, &[0xffff_ffff]), Ok(0), "PER_LINUX");
    assert_eq!(s.sys(PERSONALITY, &[0x0040000]), Ok(0));
    assert_eq!(s.sys(PERSONALITY, &[0xffff_ffff]), Ok(0x0040000), "ADDR_NO_RANDOMIZE kept");
}

#[test]
fn buffers_in_memory_mapped_without_the_access_give_efault() {
    let mut s = Sys::new();
    let anon = (MAP_PRIVATE | MAP_ANONYMOUS) as usize;
    let none = s.sys(MMAP, &[0, 4096, 0, anon, -1isize as usize, 0]).unwrap();
    let ro = s.sys(MMAP, &[0, 4096, PROT_READ as usize, anon, -1isize as usize, 0]).unwrap();
    let fd = s.open("/app/hello.txt", O_RDONLY, 0).unwrap();
    assert_eq!(s.sys(READ, &[fd, none, 5]), Err(EFAULT), "a PROT_NONE page (LTP's tst_get_bad_addr)");
    assert_eq!(s.sys(READ, &[fd, ro, 5]), Err(EFAULT), "a read-only page written by read");
    assert_eq!(s.sys(PREAD64, &[fd, none + 4000, 200, 0]), Err(EFAULT), "a buffer that ends there");
    assert_eq!(s.sys(PREAD64, &[fd, none, 5, 13]), Ok(0), "at the end of the file nothing is copied: no EFAULT");
    assert_eq!(s.sys(READ, &[99, none, 5]), Err(EBADF), "the descriptor is checked first");
    assert_eq!(s.sys(WRITE, &[1, none, 1]), Err(EFAULT));
    assert_eq!(s.sys(WRITE, &[1, ro, 0]), Ok(0), "a read-only page may be written from");
    assert_eq!(s.sys(FSTAT, &[fd, none]), Err(EFAULT));
    assert_eq!(s.sys(CLOCK_GETTIME, &[1, ro]), Err(EFAULT));
    let iov = [Iovec { base: none, len: 8 }];
    assert_eq!(s.sys(READV, &[fd, iov.as_ptr() as usize, 1]), Err(EFAULT));
    assert_eq!(s.sys(PREADV, &[fd, iov.as_ptr() as usize, 1, 0, 0]), Err(EFAULT));
    assert_eq!(s.sys(MPROTECT, &[none, 4096, (PROT_READ | PROT_WRITE) as usize]), Ok(0));
    assert_eq!(s.sys(READ, &[fd, none, 5]), Ok(5), "readable and writable now");
}

#[test]
fn memory_calls_check_their_arguments_as_linux_does() {
    let mut s = Sys::new();
    let anon = MAP_PRIVATE | MAP_ANONYMOUS;
    let m = s.sys(MMAP, &[0, 2 * 4096, 3, anon as usize, usize::MAX, 0]).unwrap();
    assert_eq!(s.sys(MMAP, &[0, 4096, 3, (MAP_SHARED_VALIDATE | MAP_ANONYMOUS) as usize, usize::MAX, 0]), Err(EINVAL));
    assert_eq!(s.sys(MMAP, &[0, usize::MAX - 4095, 3, anon as usize, usize::MAX, 0]), Err(ENOMEM));
    assert_eq!(s.sys(MPROTECT, &[m, 4096, 0x1000]), Err(EINVAL), "unknown protection bit");
    assert_eq!(s.sys(MPROTECT, &[m, 0, PROT_READ as usize]), Ok(0), "a zero length does nothing");
    assert_eq!(s.sys(MSYNC, &[m, 4096, 1 | 4]), Err(EINVAL), "MS_ASYNC with MS_SYNC");
    assert_eq!(s.sys(MSYNC, &[m, 4096, 8]), Err(EINVAL), "unknown flag");
    assert_eq!(s.sys(MSYNC, &[m + 1, 4096, 4]), Err(EINVAL));
    assert_eq!(s.sys(MSYNC, &[m, 0, 4]), Ok(0));
    assert_eq!(s.sys(MADVISE, &[m + 1, 4096, 0]), Err(EINVAL));
    assert_eq!(s.sys(MADVISE, &[m, 4096, 999]), Err(EINVAL));
    assert_eq!(s.sys(MADVISE, &[m, 0, 0]), Ok(0));
    assert_eq!(s.sys(MREMAP, &[m + 1, 4096, 8192, 1]), Err(EINVAL), "unaligned");
    assert_eq!(s.sys(MREMAP, &[m, 4096, 8192, 0x80]), Err(EINVAL), "unknown flag");
    assert_eq!(s.sys(MREMAP, &[m, 4096, 4096, 2, m + 16 * 4096]), Err(EINVAL), "MREMAP_FIXED without MAYMOVE");
    assert_eq!(s.sys(MREMAP, &[m, 4096, 0, 1]), Err(EINVAL), "to nothing");
}

#[test]
fn mremap_moves_a_mapping_by_copy_where_the_platform_has_no_mremap() {
    let mut s = Sys::new();
    let anon = (MAP_PRIVATE | MAP_ANONYMOUS) as usize;
    let m = s.sys(MMAP, &[0, 4096, 3, anon, usize::MAX, 0]).unwrap();
    // SAFETY: the mock mapped 4096 writable bytes at m.
    unsafe { core::ptr::copy_nonoverlapping(b"kept".as_ptr(), m as *mut u8, 4) };
    let r = s.sys(MREMAP, &[m, 4096, 3 * 4096, 1]).unwrap();
    // SAFETY: mremap returned a mapping of 3 pages at r.
    let (head, tail) = unsafe { (core::slice::from_raw_parts(r as *const u8, 4), *((r + 2 * 4096) as *const u8)) };
    assert_eq!((head, tail), (&b"kept"[..], 0));
    assert_eq!(s.sys(MREMAP, &[r, 3 * 4096, 8192, 0]), Ok(r), "shrinking stays in place");
    assert_eq!(s.sys(MREMAP, &[r, 8192, 1 << 20, 0]), Err(ENOMEM), "growing in place only, without MAYMOVE");
}
