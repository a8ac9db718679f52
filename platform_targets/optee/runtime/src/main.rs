//! litebox-runtime-optee: the optee target's TA host. The artifact is this executable with the
//! packed image (`.litebox.image`) holding the TA at the image's entry path. It runs the TA
//! under the OP-TEE North (core/optee) and either serves GP TEE Client API programs on a Unix
//! socket or runs a JSON command list. See docs/targets/optee.md.
#![deny(unsafe_op_in_unsafe_fn)]

mod commands;
mod confine;
mod host;
mod instance;
mod loader;
mod sandbox;
mod selfimage;
mod server;
mod tahost;
mod wire;

use std::path::PathBuf;

use litebox_image::{ChunkCache, Image};
use litebox_optee::tahead::read_ta_head;

use crate::tahost::TaHost;

const USAGE: &str =
    "usage: ARTIFACT [--socket PATH] [--storage DIR] [--quiet]   serve the TA to GP TEE Client API programs
       ARTIFACT --commands FILE.json [--storage DIR]            run a JSON command list (output parameters on stderr)
       ARTIFACT --info                                          print the TA's UUID, stack size and flags

--socket PATH   the Unix socket to listen on (default: $LITEBOX_OPTEE_SOCKET, else ./TA-UUID.sock)
--storage DIR   the secure-storage directory (default: the policy's first writable mount; none: no storage)
Arguments packed in [app].args come first; arguments given here are added after them.";

struct Options {
    socket: Option<PathBuf>,
    storage: Option<PathBuf>,
    commands: Option<PathBuf>,
    info: bool,
    quiet: bool,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options { socket: None, storage: None, commands: None, info: false, quiet: false };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().cloned().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "--socket" => o.socket = Some(value("--socket")?.into()),
            "--storage" => o.storage = Some(value("--storage")?.into()),
            "--commands" => o.commands = Some(value("--commands")?.into()),
            "--info" => o.info = true,
            "--quiet" => o.quiet = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok(o)
}

fn run() -> Result<i32, String> {
    let exe = std::fs::read("/proc/self/exe").map_err(|e| format!("cannot read /proc/self/exe: {e}"))?;
    let blob = selfimage::section(&exe, b".litebox.image")?;
    let image = Image::open(blob).map_err(|e| format!("the packed image is damaged: {e:?}"))?;
    let cfg = image.launch_config().map_err(|e| format!("the packed image is damaged: {e:?}"))?;
    let damaged = |e: litebox_image::ImageError| format!("the packed image is damaged: {e:?}");
    let index = image.try_lookup(cfg.entry).map_err(damaged)?.ok_or("the packed image has no TA at its entry path")?;
    let entry = image.try_entry(index).map_err(damaged)?;
    let mut ta = vec![0u8; entry.size as usize];
    let cache = ChunkCache::new(image.header().chunk_count);
    let n = cache.read(&image, &entry, 0, &mut ta).map_err(|e| format!("cannot read the TA from the image: {e:?}"))?;
    ta.truncate(n);
    let head = read_ta_head(&ta).map_err(|e| format!("the packed TA: {}", e.message()))?;

    let mut args: Vec<String> = cfg.args.iter().skip(1).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
    args.extend(std::env::args().skip(1));
    let opts = parse(&args)?;
    if opts.info {
        println!("uuid {}\nstack_size {}\nflags {:#x}", head.uuid, head.stack_size, head.flags);
        return Ok(0);
    }
    let storage = opts.storage.or_else(|| {
        cfg.mounts.iter().find(|m| m.writable).map(|m| PathBuf::from(String::from_utf8_lossy(m.host).into_owned()))
    });
    if let Some(dir) = &storage {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("{}: cannot create the storage directory: {e}", dir.display()))?;
    }
    let window = loader::Window::reserve()?;
    sandbox::install(window.base, loader::WINDOW_SIZE)?;
    // Everything the host opens on the file system or the network is opened here, before
    // lock_down: afterwards only the storage directory is reachable (confine.rs).
    let commands = match &opts.commands {
        Some(path) => Some(std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?),
        None => None,
    };
    let listening = match &commands {
        Some(_) => None,
        None => {
            let socket = opts
                .socket
                .clone()
                .or_else(|| std::env::var_os("LITEBOX_OPTEE_SOCKET").map(PathBuf::from))
                .unwrap_or_else(|| PathBuf::from(format!("{}.sock", head.uuid)));
            let listener = server::listen(&socket)?;
            Some((listener, socket))
        }
    };
    let applied = confine::lock_down(window.base, loader::WINDOW_SIZE, storage.as_deref())?;
    if !opts.quiet {
        if let Err(errno) = applied.landlock {
            eprintln!("litebox-optee: note: no Landlock on this kernel (errno {errno}): the file system is not reduced to the storage directory");
        }
    }
    let mut host = TaHost::new(ta, head, window, storage, opts.quiet);
    if let (Some(text), Some(path)) = (commands, &opts.commands) {
        let ok = commands::run(&mut host, &text).map_err(|e| format!("{}: {e}", path.display()))?;
        return Ok(if ok { 0 } else { 1 });
    }
    if let Some((listener, socket)) = listening {
        server::serve(listener, &socket, host)?;
    }
    Ok(0)
}

fn main() {
    match run() {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("litebox-optee: {e}");
            std::process::exit(2);
        }
    }
}
