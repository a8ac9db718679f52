//! Link the runtime as a libc-free console PE32+ at a fixed image base (no ASLR, no relocations:
//! rewritten syscall sites call the fast-path entry at its absolute address), with no time
//! stamp, against kernel32, bcrypt (entropy) and the synchronization API set (WaitOnAddress).
fn main() {
    for arg in [
        "-nostartfiles",
        "-nostdlib",
        "-Wl,-e,litebox_start",
        "-Wl,--subsystem,console",
        "-Wl,--image-base=0x7e0000000000",
        "-Wl,--disable-dynamicbase",
        "-Wl,--disable-high-entropy-va",
        "-Wl,--no-insert-timestamp",
        "-Wl,--build-id=none",
        "-Wl,--file-alignment=0x200",
        "-Wl,--section-alignment=0x1000",
        "-lkernel32",
        "-lbcrypt",
        "-lsynchronization",
    ] {
        println!("cargo:rustc-link-arg-bins={arg}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
