//! Path resolution and overlay semantics of the library OS's namespace, on the shared image
//! vector written by the Python packager.
#![deny(unsafe_op_in_unsafe_fn)]

mod common;

use common::vfs;
use litebox_image::Image;
use litebox_libos::errno::*;
use litebox_libos::fs::{NodeKind, Vfs};

fn resolve(v: &Vfs, cwd: &str, p: &str, follow: bool) -> Result<(String, Option<NodeKind>), Errno> {
    v.resolve(cwd.as_bytes(), p.as_bytes(), follow)
        .map(|r| (String::from_utf8(r.path).unwrap(), r.node.map(|n| v.kind(&n))))
}

fn names(v: &Vfs, dir: &str) -> Vec<String> {
    v.list(dir.as_bytes()).into_iter().map(|d| String::from_utf8(d.name).unwrap()).collect()
}

fn content(v: &Vfs, p: &str) -> Vec<u8> {
    let n = v.resolve(b"/", p.as_bytes(), true).unwrap().node.unwrap();
    v.read_all(&n).unwrap()
}

#[test]
fn resolves_like_linux() {
    let v = vfs();
    assert_eq!(resolve(&v, "/", "/app/hello.txt", true), Ok(("/app/hello.txt".into(), Some(NodeKind::File))));
    assert_eq!(resolve(&v, "/app", "link", true), Ok(("/app/hello.txt".into(), Some(NodeKind::File))));
    assert_eq!(resolve(&v, "/app", "link", false), Ok(("/app/link".into(), Some(NodeKind::Symlink))));
    assert_eq!(resolve(&v, "/", "/app/abs-link/deeper/file", true).unwrap().0, "/app/sub/deeper/file");
    // ".." after a symlinked directory goes to the physical parent, as on Linux.
    assert_eq!(resolve(&v, "/", "/app/abs-link/..", true).unwrap().0, "/app");
    assert_eq!(resolve(&v, "/app/sub", "../../../..", true).unwrap().0, "/");
    assert_eq!(resolve(&v, "/", "/app/./sub//deeper/", true).unwrap().0, "/app/sub/deeper");
    assert_eq!(resolve(&v, "/", "/app/hello.txt/x", true), Err(ENOTDIR));
    assert_eq!(resolve(&v, "/", "/app/hello.txt/", true), Err(ENOTDIR));
    assert_eq!(resolve(&v, "/", "/nope/x", true), Err(ENOENT));
    assert_eq!(resolve(&v, "/", "", true), Err(ENOENT));
    assert_eq!(resolve(&v, "/", "/app/new", true), Ok(("/app/new".into(), None)));
    // The host's files are simply not in the namespace: /etc holds only the fallback name
    // files (hosts, passwd, group) where the image has none.
    assert_eq!(resolve(&v, "/", "/etc/hostname", true), Ok(("/etc/hostname".into(), None)));
    assert_eq!(resolve(&v, "/", "/etc/hosts", true), Ok(("/etc/hosts".into(), Some(NodeKind::File))));
    assert_eq!(resolve(&v, "/", "/usr/lib/os-release", true), Err(ENOENT));
    assert_eq!(resolve(&v, "/", "/dev/null", true).unwrap().1, Some(NodeKind::CharDev));
    assert_eq!(resolve(&v, "/", "/proc/self/exe", true).unwrap().0, "/app/big.bin");
}

#[test]
fn symlink_loops_end_in_eloop() {
    let v = vfs();
    v.symlink(b"/tmp/a", b"/tmp/b");
    v.symlink(b"/tmp/b", b"a");
    assert_eq!(resolve(&v, "/", "/tmp/a", true), Err(ELOOP));
    assert_eq!(resolve(&v, "/", "/tmp/a", false).unwrap().1, Some(NodeKind::Symlink));
}

#[test]
fn overlay_creates_copies_up_and_whites_out() {
    let v = vfs();
    let f = v.create_file(b"/tmp/new.txt", 0o644, 0);
    f.data.lock().extend_from_slice(b"fresh");
    assert_eq!(content(&v, "/tmp/new.txt"), b"fresh");
    assert_eq!(names(&v, "/tmp"), vec!["new.txt"]);

    // Copy-up: the overlay copy shadows the image file; the image is untouched.
    let img_idx = v.image.lookup(b"/app/hello.txt").unwrap();
    let up = v.copy_up(b"/app/hello.txt", img_idx, false).unwrap();
    up.data.lock().extend_from_slice(b"more\n");
    assert_eq!(content(&v, "/app/hello.txt"), b"hello, world\nmore\n");
    assert_eq!(content(&v, "/app/copy.txt"), b"hello, world\n");

    // Removing an image file hides it; listing no longer shows it.
    v.remove(b"/app/copy.txt");
    assert_eq!(resolve(&v, "/", "/app/copy.txt", true), Ok(("/app/copy.txt".into(), None)));
    assert!(!names(&v, "/app").contains(&"copy.txt".to_string()));

    // Removing an image directory (after emptying it) and making a new one: the new one is
    // opaque, the image's old children do not come back.
    v.remove(b"/app/sub/deeper/file");
    v.remove(b"/app/sub/deeper");
    assert_eq!(names(&v, "/app/sub"), Vec::<String>::new());
    v.mkdir(b"/app/sub/deeper", 0o755);
    assert_eq!(names(&v, "/app/sub/deeper"), Vec::<String>::new());
    assert_eq!(resolve(&v, "/", "/app/sub/deeper/file", true), Ok(("/app/sub/deeper/file".into(), None)));
}

#[test]
fn rename_moves_files_and_refuses_image_directories() {
    let v = vfs();
    v.rename(b"/app/hello.txt", b"/tmp/moved.txt").unwrap();
    assert_eq!(content(&v, "/tmp/moved.txt"), b"hello, world\n");
    assert_eq!(resolve(&v, "/", "/app/hello.txt", true).unwrap().1, None);
    // Image directories cannot be moved (EXDEV, as overlayfs without redirect_dir).
    assert_eq!(v.rename(b"/app/sub", b"/tmp/sub"), Err(EXDEV));
    // Overlay directories move with their contents.
    v.mkdir(b"/tmp/d", 0o755);
    v.create_file(b"/tmp/d/f", 0o644, 0).data.lock().extend_from_slice(b"x");
    v.rename(b"/tmp/d", b"/tmp/e").unwrap();
    assert_eq!(content(&v, "/tmp/e/f"), b"x");
    assert_eq!(resolve(&v, "/", "/tmp/d", true), Ok(("/tmp/d".into(), None)));
    // A directory cannot move into itself, nor replace a non-empty one.
    assert_eq!(v.rename(b"/tmp/e", b"/tmp/e/inside"), Err(EINVAL));
    assert_eq!(v.rename(b"/tmp/e", b"/app"), Err(ENOTEMPTY));
}

/// readlink("/proc/self/exe") without the walk (`Vfs::self_exe_link`) gives the walk's answer,
/// and steps aside whenever the writable layer could make the walk end elsewhere.
#[test]
fn self_exe_link_is_the_walks_answer() {
    let walk = |v: &Vfs| v.resolve(b"/", b"/proc/self/exe", false).and_then(|r| v.readlink(&r.node.ok_or(ENOENT)?));
    let v = vfs();
    assert_eq!(v.self_exe_link(b"/proc/self/exe").as_deref(), Some(common::EXE));
    assert_eq!(walk(&v).as_deref(), Ok(common::EXE));
    for other in ["/proc/self//exe", "/proc/self/exe/", "/proc/0/exe", "proc/self/exe", "/proc/self/cwd", ""] {
        assert_eq!(v.self_exe_link(other.as_bytes()), None, "{other}");
    }
    // Writable-layer entries elsewhere change nothing.
    v.mkdir(b"/tmp/d", 0o755);
    v.mkdir(b"/procs", 0o755);
    assert_eq!(v.self_exe_link(b"/proc/self/exe").as_deref(), Some(common::EXE));
    assert_eq!(walk(&v).as_deref(), Ok(common::EXE));
    // An entry of the writable layer at /proc/self shadows the synthetic link: the walk decides.
    let v = vfs();
    v.symlink(b"/proc/self", b"/app");
    assert_eq!(v.self_exe_link(b"/proc/self/exe"), None);
    assert_eq!(walk(&v), Err(ENOENT));
    // Anything below /proc in the writable layer: the walk answers (the same here).
    let v = vfs();
    v.mkdir(b"/proc/x", 0o755);
    assert_eq!(v.self_exe_link(b"/proc/self/exe"), None);
    assert_eq!(walk(&v).as_deref(), Ok(common::EXE));
    // /proc removed (a whiteout): no /proc/self/exe either.
    let v = vfs();
    v.remove(b"/proc");
    assert_eq!(v.self_exe_link(b"/proc/self/exe"), None);
    assert_eq!(walk(&v), Err(ENOENT));
}

/// A program's path resolved through the image's index alone (`Vfs::resolve_image_file`, the
/// loader's shortcut) gives the walk's answer, and steps aside whenever the walk could end
/// elsewhere: a symlink on the way, anything not an image file, a path the walk normalizes,
/// the synthetic trees, anything in the writable layer.
#[test]
fn resolve_image_file_is_the_walks_answer() {
    let v = vfs();
    for p in ["/app/hello.txt", "/app/big.bin", "/app/sub/deeper/file", "/app/empty"] {
        let fast = v.resolve_image_file(p.as_bytes()).unwrap_or_else(|| panic!("{p}: walked"));
        let walk = v.resolve(b"/", p.as_bytes(), true).unwrap();
        assert_eq!(fast.path, walk.path, "{p}");
        assert_eq!(fast.path, p.as_bytes(), "{p}");
        let (f, w) = (fast.node.unwrap(), walk.node.unwrap());
        assert_eq!(v.stat(&f).st_ino, v.stat(&w).st_ino, "{p}");
        assert_eq!(v.kind(&f), NodeKind::File, "{p}");
    }
    for p in [
        "/app/link",
        "/app/abs-link/deeper/file",
        "/app",
        "/",
        "/app//hello.txt",
        "/app/./hello.txt",
        "/app/sub/../hello.txt",
        "/app/hello.txt/",
        "app/hello.txt",
        "/app/nope",
        "/proc/self/exe",
        "/dev/null",
        "",
    ] {
        assert!(v.resolve_image_file(p.as_bytes()).is_none(), "{p}");
    }
    // Anything in the writable layer: the walk decides (here a file shadowing the image's).
    let v = vfs();
    v.mkdir(b"/tmp/d", 0o755);
    assert!(v.resolve_image_file(b"/app/hello.txt").is_none());
    assert_eq!(resolve(&v, "/", "/app/hello.txt", true), Ok(("/app/hello.txt".into(), Some(NodeKind::File))));
}

/// The image vector with every chunk stored raw, in 4 KiB chunks (big.bin spans several).
const STORED4K: &[u8] = include_bytes!("../../image/tests/vectors/stored4k.img");

/// A file read from an image held in memory (no stored reader: the VM targets) copies the
/// bytes stored raw straight from the image (`Vfs::read_in_memory`): the bytes the file was
/// packed with, clipped at its end, nothing written past it; the same through `read_once_at`.
#[test]
fn reads_from_an_image_in_memory_are_the_files_bytes() {
    let v = Vfs::new(Image::open(STORED4K).unwrap(), common::EXE.to_vec(), common::fatal);
    let n = v.resolve(b"/", b"/app/big.bin", true).unwrap().node.unwrap();
    // scripts/gen_image_vectors.py's big.bin.
    let packed: Vec<u8> = (0..20000usize).map(|i| ((i * 7 + i / 4096) % 251) as u8).collect();
    assert_eq!(v.read_all(&n).unwrap(), packed);
    for (off, len) in [(0usize, 1usize), (1, 4096), (4095, 3), (8000, 9000), (19990, 64), (20000, 8), (30000, 8)] {
        let want = &packed[off.min(packed.len())..(off + len).min(packed.len())];
        for once in [false, true] {
            let mut buf = vec![0xa5u8; len];
            let got = if once { v.read_once_at(&n, off as u64, &mut buf) } else { v.read_at(&n, off as u64, &mut buf) };
            assert_eq!(&buf[..got.unwrap()], want, "{off}+{len}");
            assert!(buf[want.len()..].iter().all(|&b| b == 0xa5), "{off}+{len}: written past the file");
        }
    }
    assert_eq!(content(&v, "/app/sub/deeper/file"), b"deep\n");
}

/// A tampered chunk of an image held in memory never reaches the reader: the read ends in the
/// image's fatal handler (the runtimes end the process with the tampered code).
#[test]
fn a_tampered_chunk_read_from_an_image_in_memory_is_fatal() {
    let img = Image::open(STORED4K).unwrap();
    let e = img.entry(img.lookup(b"/app/big.bin").unwrap());
    let (at, _, _) = img.raw_span(&e, 5000, 1).unwrap();
    let mut bytes = STORED4K.to_vec();
    bytes[at as usize] ^= 0x40;
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    let v = Vfs::new(Image::open(bytes).unwrap(), common::EXE.to_vec(), common::fatal);
    let n = v.resolve(b"/", b"/app/big.bin", true).unwrap().node.unwrap();
    for once in [false, true] {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut buf = [0u8; 16];
            if once {
                v.read_once_at(&n, 4996, &mut buf)
            } else {
                v.read_at(&n, 4996, &mut buf)
            }
        }));
        let msg = r.expect_err("a tampered chunk was read").downcast::<String>().unwrap();
        assert!(msg.contains("tampered"), "{msg}");
    }
}
