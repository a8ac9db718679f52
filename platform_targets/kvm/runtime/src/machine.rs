//! The kvm machine: what [`litebox_vmkernel`] needs from a PVH micro-VM under QEMU, KVM,
//! cloud-hypervisor or Firecracker. The console is COM1, the log COM3 when present (else
//! COM1), the exit isa-debug-exit plus the status line on COM2 (`exit.rs`), the boot
//! information the PVH `hvm_start_info` (`startinfo.rs`), no memory encryption, and the one
//! device a virtio-mmio network card (`virtio_net.rs`, under the library OS's `netstack`).
use litebox_vmkernel::{BootInfo, Machine};

use litebox_libos::netstack;

use crate::{control, exit, serial, virtio_net};

/// The kvm machine (a unit: its state lives in the device modules).
pub struct Kvm;

/// The one instance, registered at boot.
pub static KVM: Kvm = Kvm;

static mut BOOT_INFO: BootInfo = BootInfo::EMPTY;

/// Records what the PVH loader handed over (at boot, once, before `litebox_vmkernel::init`).
///
/// # Safety
/// Call once, at boot, before anything reads the boot information.
pub unsafe fn set_boot_info(bi: BootInfo) {
    // SAFETY: per the contract, nothing reads BOOT_INFO while it is written.
    unsafe { BOOT_INFO = bi };
}

impl Machine for Kvm {
    fn console_write(&self, bytes: &[u8]) {
        serial::write(serial::COM1, bytes);
    }

    fn log_write(&self, bytes: &[u8]) {
        serial::write(serial::err_port(), bytes);
    }

    fn exit(&self, code: i32) -> ! {
        exit::exit_vm(code)
    }

    fn boot_info(&self) -> &BootInfo {
        let p = &raw const BOOT_INFO;
        // SAFETY: written once by `set_boot_info` before any reader; read-only afterwards.
        unsafe { &*p }
    }

    fn make_shared(&self, pa: usize, len: usize) {
        if litebox_vmkernel::snp::active() {
            litebox_vmkernel::snp::mem::make_shared(pa, len);
        }
    }

    fn make_private(&self, pa: usize, len: usize) {
        if litebox_vmkernel::snp::active() {
            litebox_vmkernel::snp::mem::make_private(pa, len);
        }
    }

    /// QEMU's guest RAM is fresh anonymous memory; what the VMM wrote (the kernel, the image,
    /// the command line, the modules, the start info below 1 MiB) is reserved. Not under
    /// SEV-SNP: memory validated by the guest holds whatever the host left there (decrypted
    /// with the guest's key, so not zeros), and it must be zeroed before use.
    fn fresh_ram_zeroed(&self) -> bool {
        !litebox_vmkernel::snp::active()
    }

    fn probe_devices(&self) -> bool {
        virtio_net::start()
    }

    fn poll_events(&self) -> bool {
        control::poll()
    }

    fn poll_devices(&self) {
        netstack::poll();
    }

    fn poll_interval_ns(&self) -> u64 {
        if netstack::present() {
            netstack::poll_interval()
        } else if control::listening() {
            control::POLL_NS
        } else {
            u64::MAX
        }
    }
}
