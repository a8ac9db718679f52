//! Link the runtime as a static, libc-free, self-relocating PIE (`-static-pie`: no
//! interpreter): the kernel places it in the mmap area at a random address, like a shared
//! library, away from where a non-PIE app (0x400000) or a PIE app (0x555555554000) is loaded.
//! `_start` (main.rs) applies its own relative relocations before any Rust code runs, packed
//! as DT_RELR (`-z pack-relative-relocs`, GNU ld 2.38+ and lld: a 336-byte table instead of 21
//! KiB of DT_RELA, 24 bytes per word, read at every start); `-z text` (implied by
//! `-static-pie`) refuses a text relocation at link time and tests/unit/test_runtime_pie.py any
//! other dynamic relocation type.
fn main() {
    for arg in [
        "-nostartfiles",
        "-nostdlib",
        "-static-pie",
        "-Wl,-z,text",
        "-Wl,-z,norelro",
        "-Wl,-z,pack-relative-relocs",
        "-Wl,--build-id=none",
        "-Wl,-z,noexecstack",
    ] {
        println!("cargo:rustc-link-arg-bins={arg}");
    }
    // The functions that run when packed apps start, laid out first and back to back
    // (bench/runtime_order.py writes the list): the kernel maps 64 KiB around each page of
    // code that faults, so code that runs scattered among code that does not made most of
    // the runtime's text resident in every process (docs/targets/linux-userland.md,
    // "Resident memory"). An augmenting script (INSERT), read by GNU ld and lld alike;
    // names it lists that no longer exist match nothing.
    let order = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("startup-order.ld");
    println!("cargo:rustc-link-arg-bins=-Wl,-T,{}", order.display());
    println!("cargo:rerun-if-changed=startup-order.ld");
    println!("cargo:rerun-if-changed=build.rs");
}
