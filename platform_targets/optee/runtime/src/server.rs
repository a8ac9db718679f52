//! Serving GP TEE Client API programs on a Unix socket: a thread per connection, the TA
//! behind one lock (a TA instance runs one entry point at a time), and every session a
//! connection opened closed when it goes away. A malformed request gets
//! `TEEC_ERROR_BAD_FORMAT` (origin COMMS) and the connection stays usable; a message over the
//! size limit gets `TEEC_ERROR_EXCESS_DATA` and the connection is closed.

use std::io::{Read, Write};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::{Arc, Mutex};

use litebox_optee::abi::{TEE_ERROR_BAD_FORMAT, TEE_ERROR_EXCESS_DATA, TEE_ORIGIN_COMMS};
use litebox_optee::params::Param;

use crate::tahost::TaHost;
use crate::wire::{decode_request, encode_reply, Request, MAX_MESSAGE};

fn lock(ta: &Mutex<TaHost>) -> std::sync::MutexGuard<'_, TaHost> {
    ta.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn serve_client(mut stream: UnixStream, ta: Arc<Mutex<TaHost>>) {
    let mut mine: Vec<u32> = Vec::new();
    let none: [Param; 4] = Default::default();
    loop {
        let mut len = [0u8; 4];
        if stream.read_exact(&mut len).is_err() {
            break;
        }
        let len = u32::from_le_bytes(len);
        if len > MAX_MESSAGE {
            let _ = stream.write_all(&encode_reply(TEE_ERROR_EXCESS_DATA, TEE_ORIGIN_COMMS, 0, &none));
            break;
        }
        let mut body = vec![0u8; len as usize];
        if stream.read_exact(&mut body).is_err() {
            break;
        }
        let reply = match decode_request(&body) {
            None => encode_reply(TEE_ERROR_BAD_FORMAT, TEE_ORIGIN_COMMS, 0, &none),
            Some(Request::Open { uuid, mut params }) => {
                let (out, id) = lock(&ta).open(&uuid, &mut params);
                if let Some(id) = id {
                    mine.push(id);
                }
                encode_reply(out.result, out.origin, id.unwrap_or(0), &params)
            }
            Some(Request::Invoke { session, cmd, mut params }) => {
                let out = if mine.contains(&session) {
                    lock(&ta).invoke(session, cmd, &mut params)
                } else {
                    // Another client's session is not this one's to use.
                    litebox_optee::session::Outcome {
                        result: litebox_optee::abi::TEE_ERROR_ITEM_NOT_FOUND,
                        origin: litebox_optee::abi::TEE_ORIGIN_API,
                    }
                };
                encode_reply(out.result, out.origin, session, &params)
            }
            Some(Request::Close { session }) => {
                let out = if let Some(i) = mine.iter().position(|s| *s == session) {
                    mine.remove(i);
                    lock(&ta).close(session)
                } else {
                    litebox_optee::session::Outcome {
                        result: litebox_optee::abi::TEE_ERROR_ITEM_NOT_FOUND,
                        origin: litebox_optee::abi::TEE_ORIGIN_API,
                    }
                };
                encode_reply(out.result, out.origin, session, &none)
            }
        };
        if stream.write_all(&reply).is_err() {
            break;
        }
    }
    for id in mine {
        lock(&ta).close(id);
    }
}

/// Listens on `path` (a stale socket there is replaced; any other file is an error).
pub fn listen(path: &Path) -> Result<UnixListener, String> {
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(format!("{}: exists and is not a socket", path.display()));
        }
        let _ = std::fs::remove_file(path);
    }
    // Listen on a temporary name, then rename: a client that sees the socket can connect.
    let mut staging = path.as_os_str().to_owned();
    staging.push(format!(".{}.tmp", std::process::id()));
    let staging = std::path::PathBuf::from(staging);
    let _ = std::fs::remove_file(&staging);
    let listener = UnixListener::bind(&staging).map_err(|e| format!("{}: cannot listen: {e}", path.display()))?;
    std::fs::rename(&staging, path).map_err(|e| format!("{}: cannot listen: {e}", path.display()))?;
    Ok(listener)
}

/// Serves clients connecting to `listener` until the process is ended.
pub fn serve(listener: UnixListener, path: &Path, ta: TaHost) -> Result<(), String> {
    eprintln!("litebox-optee: serving TA {} on {}", ta.head.uuid, path.display());
    let ta = Arc::new(Mutex::new(ta));
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let ta = Arc::clone(&ta);
        std::thread::spawn(move || serve_client(stream, ta));
    }
    Ok(())
}
