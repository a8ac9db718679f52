//! The OP-TEE North's platform services on a Linux host: trace lines on stderr, clocks,
//! sleeping, the kernel's random numbers, and secure-storage files in one host directory.
//!
//! The storage key: the hex in `LITEBOX_OPTEE_STORAGE_KEY` (64 hex digits) if set, else the
//! 32 bytes of `.litebox-optee-key` in the storage directory, made (mode 0600) on first use.
//! This host has no hardware root of trust, so whoever can read that directory can read the
//! key: the sealing protects integrity and confidentiality against others, not the host owner.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use litebox_optee::abi::{TeeResult, TEE_ERROR_GENERIC, TEE_ERROR_STORAGE_NO_SPACE};
use litebox_optee::sys::TeeHost;

/// The TA host's platform.
pub struct Host {
    pub storage: Option<PathBuf>,
    started: Instant,
    key: Option<[u8; 32]>,
    /// Trace output (TA log lines), stderr unless quiet.
    pub quiet: bool,
}

const KEY_FILE: &str = ".litebox-optee-key";

impl Host {
    /// A host whose secure storage lives in `storage` (None: no secure storage).
    pub fn new(storage: Option<PathBuf>, quiet: bool) -> Self {
        Host { storage, started: Instant::now(), key: None, quiet }
    }

    fn file(&self, name: &str) -> Result<PathBuf, TeeResult> {
        // Names come from the North (64 hex digits); anything else is refused.
        if name.len() != 64 || !name.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(TEE_ERROR_GENERIC);
        }
        Ok(self.storage.as_ref().ok_or(TEE_ERROR_GENERIC)?.join(name))
    }

    fn load_key(&self) -> Option<[u8; 32]> {
        if let Ok(hex) = std::env::var("LITEBOX_OPTEE_STORAGE_KEY") {
            return parse_hex32(&hex);
        }
        let dir = self.storage.as_ref()?;
        let path = dir.join(KEY_FILE);
        if let Ok(bytes) = fs::read(&path) {
            return bytes.try_into().ok();
        }
        let mut key = [0u8; 32];
        fill_random(&mut key);
        let tmp = dir.join(format!("{KEY_FILE}.{}", std::process::id()));
        let mut f = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp).ok()?;
        f.write_all(&key).ok()?;
        f.sync_all().ok()?;
        // Another TA host may have made one meanwhile: the first one wins.
        if fs::hard_link(&tmp, &path).is_err() {
            let _ = fs::remove_file(&tmp);
            return fs::read(&path).ok()?.try_into().ok();
        }
        let _ = fs::remove_file(&tmp);
        Some(key)
    }
}

fn parse_hex32(s: &str) -> Option<[u8; 32]> {
    let s = s.trim();
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Fills `buf` from the kernel's random source.
pub fn fill_random(buf: &mut [u8]) {
    let mut done = 0;
    while done < buf.len() {
        // SAFETY: getrandom writes at most the remaining length into the buffer.
        let n = unsafe { libc::getrandom(buf[done..].as_mut_ptr() as *mut libc::c_void, buf.len() - done, 0) };
        if n > 0 {
            done += n as usize;
        }
    }
}

impl TeeHost for Host {
    fn log(&mut self, msg: &[u8]) {
        if !self.quiet {
            let _ = std::io::stderr().write_all(msg);
        }
    }

    fn now_ms(&mut self) -> (u64, u64) {
        let ree = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64;
        (ree, self.started.elapsed().as_millis() as u64)
    }

    fn sleep_ms(&mut self, ms: u32) {
        std::thread::sleep(Duration::from_millis(u64::from(ms)));
    }

    fn random(&mut self, buf: &mut [u8]) {
        fill_random(buf);
    }

    fn storage_key(&mut self) -> Option<[u8; 32]> {
        if self.key.is_none() {
            self.key = self.load_key();
        }
        self.key
    }

    fn store_read(&mut self, name: &str) -> Result<Option<Vec<u8>>, TeeResult> {
        match fs::read(self.file(name)?) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(_) => Err(TEE_ERROR_GENERIC),
        }
    }

    fn store_write(&mut self, name: &str, data: &[u8]) -> Result<(), TeeResult> {
        let path = self.file(name)?;
        let tmp = path.with_extension("tmp");
        let write = || -> std::io::Result<()> {
            let mut f = fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
            f.write_all(data)?;
            f.sync_all()?;
            fs::rename(&tmp, &path)
        };
        write().map_err(|e| {
            if e.raw_os_error() == Some(libc::ENOSPC) {
                TEE_ERROR_STORAGE_NO_SPACE
            } else {
                TEE_ERROR_GENERIC
            }
        })
    }

    fn store_delete(&mut self, name: &str) -> Result<(), TeeResult> {
        match fs::remove_file(self.file(name)?) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(_) => Err(TEE_ERROR_GENERIC),
        }
    }

    fn store_list(&mut self) -> Result<Vec<String>, TeeResult> {
        let Some(dir) = &self.storage else { return Ok(Vec::new()) };
        let mut names: Vec<String> = fs::read_dir(dir)
            .map_err(|_| TEE_ERROR_GENERIC)?
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.len() == 64 && n.bytes().all(|b| b.is_ascii_hexdigit()))
            .collect();
        names.sort();
        Ok(names)
    }
}
