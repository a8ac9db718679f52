//! The contract between the kernel and one kind of virtual machine: what differs between a
//! PVH micro-VM under QEMU/KVM and an SEV-SNP guest is behind [`Machine`]; everything else in
//! this crate is the same for both.

/// Most RAM ranges a machine reports.
pub const MAX_RAM: usize = 32;
/// Most reserved ranges (boot structures, modules, the packed image).
pub const MAX_RESERVED: usize = 16;
/// Most boot modules.
pub const MAX_MODULES: usize = 4;

/// What the machine found at boot. Addresses are physical, below
/// [`PHYS_LIMIT`](crate::frames::PHYS_LIMIT) (the direct map); the byte slices point into the
/// direct map and live as long as the kernel (their memory is in `reserved`).
#[derive(Clone, Copy)]
pub struct BootInfo {
    /// Usable RAM, `[start, end)` ranges; `ram_count` are valid.
    pub ram: [(usize, usize); MAX_RAM],
    /// How many `ram` entries are valid.
    pub ram_count: usize,
    /// Memory the frame allocator must never hand out (besides the kernel image and the first
    /// MiB): the machine's boot structures, the modules, the command line, the packed image.
    pub reserved: [(usize, usize); MAX_RESERVED],
    /// How many `reserved` entries are valid.
    pub reserved_count: usize,
    /// The kernel command line (no NUL), possibly empty.
    pub cmdline: &'static [u8],
    /// Boot modules (initrd-like blobs), `module_count` valid.
    pub modules: [&'static [u8]; MAX_MODULES],
    /// How many `modules` entries are valid.
    pub module_count: usize,
}

impl BootInfo {
    /// No RAM, nothing reserved, no command line or modules.
    pub const EMPTY: BootInfo = BootInfo {
        ram: [(0, 0); MAX_RAM],
        ram_count: 0,
        reserved: [(0, 0); MAX_RESERVED],
        reserved_count: 0,
        cmdline: &[],
        modules: [&[]; MAX_MODULES],
        module_count: 0,
    };

    /// Adds a RAM range (ignored when the table is full).
    pub fn add_ram(&mut self, start: usize, end: usize) {
        if self.ram_count < MAX_RAM {
            self.ram[self.ram_count] = (start, end);
            self.ram_count += 1;
        }
    }

    /// Reserves `[start, end)` (ignored when empty; the table is sized for every caller).
    pub fn reserve(&mut self, start: usize, end: usize) {
        if start < end && self.reserved_count < MAX_RESERVED {
            self.reserved[self.reserved_count] = (start, end);
            self.reserved_count += 1;
        }
    }

    /// The usable RAM ranges.
    pub fn ram(&self) -> &[(usize, usize)] {
        &self.ram[..self.ram_count]
    }

    /// The reserved ranges.
    pub fn reserved(&self) -> &[(usize, usize)] {
        &self.reserved[..self.reserved_count]
    }

    /// The boot modules.
    pub fn modules(&self) -> &[&'static [u8]] {
        &self.modules[..self.module_count]
    }
}

/// One kind of virtual machine: its console, its way out, what its loader told it, its memory
/// encryption, and its devices. Implemented once per target (kvm: PVH + 16550 UARTs +
/// isa-debug-exit + virtio-mmio; snp: IGVM + GHCB). Registered with [`crate::set_machine`];
/// every method may be called from any kernel context (interrupts off, one CPU).
pub trait Machine: Sync {
    /// Writes the app's standard output.
    fn console_write(&self, bytes: &[u8]);

    /// Writes the app's standard error and the kernel's own messages (may be the console).
    fn log_write(&self, bytes: &[u8]);

    /// Ends the VM, reporting `code` (0..=255) to whoever started it.
    fn exit(&self, code: i32) -> !;

    /// What the loader handed over at boot (read by [`crate::init`] and the OS layer).
    fn boot_info(&self) -> &BootInfo;

    /// Bits to set in every page-table entry that maps private (encrypted) RAM: 0 without
    /// memory encryption (kvm), the C-bit under SEV-SNP. Read once by [`crate::init`].
    fn encryption_mask(&self) -> u64 {
        0
    }

    /// Makes the frames of `[pa, pa + len)` readable by the host (device buffers, rings): a
    /// no-op without memory encryption; under SNP a page-state change to shared.
    fn make_shared(&self, pa: usize, len: usize) {
        let _ = (pa, len);
    }

    /// Undoes [`Machine::make_shared`] before the frames are reused as private memory.
    fn make_private(&self, pa: usize, len: usize) {
        let _ = (pa, len);
    }

    /// Whether RAM the kernel has not used yet reads as zeros (QEMU's guest RAM: fresh
    /// anonymous memory), so first-use frames skip zeroing ([`crate::frames::set_fresh_zeroed`]).
    /// False by default (SNP's private pages promise nothing).
    fn fresh_ram_zeroed(&self) -> bool {
        false
    }

    /// Looks for the machine's devices (once, when the OS layer first needs them); true when
    /// a network device was found.
    fn probe_devices(&self) -> bool {
        false
    }

    /// Cheap, frequent work: messages from the runner (signals). Called whenever a thread waits
    /// and from the preemption tick; true when it may have made a thread runnable.
    fn poll_events(&self) -> bool {
        false
    }

    /// The background work of devices that raise no interrupts (the network card), done while
    /// the CPU idles.
    fn poll_devices(&self) {}

    /// How long the CPU may idle before [`Machine::poll_devices`] and
    /// [`Machine::poll_events`] are due again (ns); `u64::MAX` when nothing needs polling.
    fn poll_interval_ns(&self) -> u64 {
        u64::MAX
    }
}
