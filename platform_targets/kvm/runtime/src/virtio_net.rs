//! A virtio network card on the virtio-mmio transport, driven by polling (no interrupts).
//!
//! QEMU's `-M microvm` places up to 24 virtio-mmio transports of 0x200 bytes from 0xfeb00000;
//! [`probe`] reads each one's magic and device id and takes the first network card. Both the
//! legacy transport (version 1: what QEMU 7 gives microvm, `force-legacy=true`) and the
//! modern one (version 2: Firecracker, newer QEMU) are driven. Only the MAC address feature is
//! negotiated: no checksum or segmentation offload, no merged receive buffers, so every frame is
//! one descriptor with the 10-byte (legacy) or 12-byte (version 1) virtio-net header in front.
//!
//! Queue 0 receives, queue 1 transmits; each has [`QSIZE`] descriptors, each descriptor a fixed
//! [`BUF`]-byte buffer in its own half page. The device is told not to interrupt
//! (VIRTQ_AVAIL_F_NO_INTERRUPT); the network stack polls [`VirtioNet::receive`] instead.
//!
//! The card is the library OS's [`NetDevice`]: its TCP/IP stack (core/libos/src/netstack/)
//! serves the app's sockets over it.
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::sync::atomic::{fence, Ordering};

use litebox_libos::netstack::{self, NetDevice};

use crate::boot::phys_to_virt;
use crate::{clock, frames, paging, rng};

/// Where microvm's transports start, how many there are and how far apart.
const MMIO_BASE: usize = 0xfeb0_0000;
const MMIO_SLOTS: usize = 24;
const MMIO_STRIDE: usize = 0x200;
/// The kernel's virtual address for that window (beside the local APIC's page, see apic.rs).
const MMIO_VIRT: usize = 0xffff_c800_0000_1000;

const MAGIC: u32 = 0x7472_6976; // "virt"
const DEVICE_NET: u32 = 1;

// Transport registers (byte offsets).
const R_MAGIC: usize = 0x000;
const R_VERSION: usize = 0x004;
const R_DEVICE_ID: usize = 0x008;
const R_DEVICE_FEATURES: usize = 0x010;
const R_DEVICE_FEATURES_SEL: usize = 0x014;
const R_DRIVER_FEATURES: usize = 0x020;
const R_DRIVER_FEATURES_SEL: usize = 0x024;
const R_GUEST_PAGE_SIZE: usize = 0x028; // legacy
const R_QUEUE_SEL: usize = 0x030;
const R_QUEUE_NUM_MAX: usize = 0x034;
const R_QUEUE_NUM: usize = 0x038;
const R_QUEUE_ALIGN: usize = 0x03c; // legacy
const R_QUEUE_PFN: usize = 0x040; // legacy
const R_QUEUE_READY: usize = 0x044; // version 2
const R_QUEUE_NOTIFY: usize = 0x050;
const R_STATUS: usize = 0x070;
const R_QUEUE_DESC: usize = 0x080; // version 2: low, high at +4
const R_QUEUE_AVAIL: usize = 0x090;
const R_QUEUE_USED: usize = 0x0a0;
const R_CONFIG: usize = 0x100;

const S_ACKNOWLEDGE: u32 = 1;
const S_DRIVER: u32 = 2;
const S_DRIVER_OK: u32 = 4;
const S_FEATURES_OK: u32 = 8;

const F_MAC: u32 = 1 << 5;
/// VIRTIO_F_VERSION_1 (feature bit 32: bit 0 of the second feature word).
const F_VERSION_1_HI: u32 = 1;

const DESC_F_WRITE: u16 = 2;
const AVAIL_F_NO_INTERRUPT: u16 = 1;

/// Descriptors per queue.
pub const QSIZE: usize = 64;
/// Bytes per buffer: the header and a full Ethernet frame (1514 bytes) fit.
pub const BUF: usize = 2048;
/// The largest Ethernet frame (without FCS) the card takes.
pub const MTU: usize = 1514;
const PAGE: usize = 4096;

/// One virtqueue: descriptor table and available ring in its first page, used ring in the
/// second (the legacy layout, with QueueAlign = 4096), buffers in pages of their own.
struct Queue {
    /// Virtual address of the two ring pages.
    rings: usize,
    /// Physical address of each descriptor's buffer.
    bufs: [usize; QSIZE],
    /// The used ring's index we have consumed up to.
    last_used: u16,
    /// Next index to publish in the available ring.
    avail_idx: u16,
}

impl Queue {
    fn new() -> Option<Self> {
        let rings_pa = frames::alloc_contiguous(2)?;
        // The device reads and writes the rings and buffers: the host must see them.
        litebox_vmkernel::machine().make_shared(rings_pa, 2 * PAGE);
        // SAFETY: two fresh frames, mapped through the direct map.
        unsafe { core::ptr::write_bytes(phys_to_virt(rings_pa) as *mut u8, 0, 2 * PAGE) };
        let mut bufs = [0usize; QSIZE];
        for pair in bufs.chunks_mut(PAGE / BUF) {
            let pa = frames::alloc_zeroed()?;
            litebox_vmkernel::machine().make_shared(pa, PAGE);
            for (i, b) in pair.iter_mut().enumerate() {
                *b = pa + i * BUF;
            }
        }
        // Descriptors are written when offered (receive buffers at start, frames when sent).
        let q = Queue { rings: phys_to_virt(rings_pa), bufs, last_used: 0, avail_idx: 0 };
        // SAFETY: avail.flags, inside the first ring page.
        unsafe { ((q.rings + QSIZE * 16) as *mut u16).write_volatile(AVAIL_F_NO_INTERRUPT) };
        Some(q)
    }

    fn rings_pa(&self) -> usize {
        self.rings - phys_to_virt(0)
    }

    fn avail_pa(&self) -> usize {
        self.rings_pa() + QSIZE * 16
    }

    fn used_pa(&self) -> usize {
        self.rings_pa() + PAGE
    }

    fn set_desc(&self, i: usize, addr: usize, len: u32, flags: u16) {
        let d = self.rings + i * 16;
        // SAFETY: descriptor i < QSIZE of our table (16 bytes each, in the first ring page).
        unsafe {
            (d as *mut u64).write_volatile(addr as u64);
            ((d + 8) as *mut u32).write_volatile(len);
            ((d + 12) as *mut u16).write_volatile(flags);
            ((d + 14) as *mut u16).write_volatile(0);
        }
    }

    /// Publishes descriptor `id` to the device.
    fn offer(&mut self, id: usize) {
        let avail = self.rings + QSIZE * 16;
        let slot = self.avail_idx as usize % QSIZE;
        // SAFETY: avail.ring[slot] and avail.idx inside the first ring page.
        unsafe { ((avail + 4 + 2 * slot) as *mut u16).write_volatile(id as u16) };
        fence(Ordering::SeqCst);
        self.avail_idx = self.avail_idx.wrapping_add(1);
        // SAFETY: as above.
        unsafe { ((avail + 2) as *mut u16).write_volatile(self.avail_idx) };
        fence(Ordering::SeqCst);
    }

    /// The next (descriptor id, length) the device has finished with, if any.
    fn take_used(&mut self) -> Option<(usize, usize)> {
        let used = self.rings + PAGE;
        // SAFETY: used.idx inside the second ring page, written by the device.
        let idx = unsafe { ((used + 2) as *const u16).read_volatile() };
        if idx == self.last_used {
            return None;
        }
        fence(Ordering::SeqCst);
        let slot = self.last_used as usize % QSIZE;
        // SAFETY: used.ring[slot] (8 bytes each) inside the second ring page.
        let (id, len) = unsafe {
            (
                ((used + 4 + 8 * slot) as *const u32).read_volatile(),
                ((used + 8 + 8 * slot) as *const u32).read_volatile(),
            )
        };
        self.last_used = self.last_used.wrapping_add(1);
        Some((id as usize % QSIZE, len as usize))
    }

    fn buf(&self, id: usize) -> *mut u8 {
        phys_to_virt(self.bufs[id]) as *mut u8
    }
}

/// The network card.
pub struct VirtioNet {
    regs: usize,
    /// Bytes of virtio-net header in front of each frame.
    hdr: usize,
    rx: Queue,
    tx: Queue,
    /// Transmit descriptors not in flight.
    tx_free: alloc::vec::Vec<usize>,
    mac: [u8; 6],
}

fn reg(base: usize, off: usize) -> u32 {
    // SAFETY: `base` is a mapped transport window (MMIO_VIRT + slot), `off` inside it.
    unsafe { ((base + off) as *const u32).read_volatile() }
}

fn set_reg(base: usize, off: usize, v: u32) {
    // SAFETY: as in `reg`.
    unsafe { ((base + off) as *mut u32).write_volatile(v) }
}

/// Maps the transport window (uncached) into the kernel's half; false if page tables ran out.
fn map_window() -> bool {
    let nx = if crate::cpu::has_nx() { paging::NX } else { 0 };
    for off in (0..MMIO_SLOTS * MMIO_STRIDE).step_by(PAGE) {
        let Some(e) = paging::pte(MMIO_VIRT + off, true) else { return false };
        // SAFETY: a kernel page-table entry of our own window: present, writable, cache
        // disabled and write-through (PCD | PWT), as for the APIC's page.
        unsafe { e.write_volatile((MMIO_BASE + off) as u64 | paging::P | paging::W | 0x18 | nx) };
        crate::cpu::invlpg(MMIO_VIRT + off);
    }
    true
}

/// Finds and starts the first virtio network card; None when the VM has none (or it cannot
/// be set up: a line on the debug console says why).
pub fn probe() -> Option<VirtioNet> {
    if !map_window() {
        return None;
    }
    let base = (0..MMIO_SLOTS).map(|i| MMIO_VIRT + i * MMIO_STRIDE).find(|&b| {
        reg(b, R_MAGIC) == MAGIC && matches!(reg(b, R_VERSION), 1 | 2) && reg(b, R_DEVICE_ID) == DEVICE_NET
    })?;
    let legacy = reg(base, R_VERSION) == 1;
    set_reg(base, R_STATUS, 0);
    set_reg(base, R_STATUS, S_ACKNOWLEDGE);
    set_reg(base, R_STATUS, S_ACKNOWLEDGE | S_DRIVER);
    set_reg(base, R_DEVICE_FEATURES_SEL, 0);
    let offered = reg(base, R_DEVICE_FEATURES);
    set_reg(base, R_DRIVER_FEATURES_SEL, 0);
    set_reg(base, R_DRIVER_FEATURES, offered & F_MAC);
    let mut status = S_ACKNOWLEDGE | S_DRIVER;
    if !legacy {
        set_reg(base, R_DEVICE_FEATURES_SEL, 1);
        if reg(base, R_DEVICE_FEATURES) & F_VERSION_1_HI == 0 {
            crate::debug_line(format_args!("litebox: virtio-net: a version 2 transport without VIRTIO_F_VERSION_1"));
            return None;
        }
        set_reg(base, R_DRIVER_FEATURES_SEL, 1);
        set_reg(base, R_DRIVER_FEATURES, F_VERSION_1_HI);
        status |= S_FEATURES_OK;
        set_reg(base, R_STATUS, status);
        if reg(base, R_STATUS) & S_FEATURES_OK == 0 {
            crate::debug_line(format_args!("litebox: virtio-net: the device refused our features"));
            return None;
        }
    } else {
        set_reg(base, R_GUEST_PAGE_SIZE, PAGE as u32);
    }
    let (rx, tx) = (Queue::new()?, Queue::new()?);
    for (i, q) in [&rx, &tx].into_iter().enumerate() {
        set_reg(base, R_QUEUE_SEL, i as u32);
        let max = reg(base, R_QUEUE_NUM_MAX) as usize;
        if max < QSIZE {
            crate::debug_line(format_args!("litebox: virtio-net: queue {i} holds {max} descriptors, {QSIZE} needed"));
            return None;
        }
        set_reg(base, R_QUEUE_NUM, QSIZE as u32);
        if legacy {
            set_reg(base, R_QUEUE_ALIGN, PAGE as u32);
            set_reg(base, R_QUEUE_PFN, (q.rings_pa() / PAGE) as u32);
        } else {
            for (off, pa) in [(R_QUEUE_DESC, q.rings_pa()), (R_QUEUE_AVAIL, q.avail_pa()), (R_QUEUE_USED, q.used_pa())]
            {
                set_reg(base, off, pa as u32);
                set_reg(base, off + 4, (pa >> 32) as u32);
            }
            set_reg(base, R_QUEUE_READY, 1);
        }
    }
    let mut mac = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56]; // QEMU's default, if no MAC is offered
    if offered & F_MAC != 0 {
        for (i, b) in mac.iter_mut().enumerate() {
            // SAFETY: the device's config space (MAC: its first 6 bytes) in our window.
            *b = unsafe { ((base + R_CONFIG + i) as *const u8).read_volatile() };
        }
    }
    let mut dev =
        VirtioNet { regs: base, hdr: if legacy { 10 } else { 12 }, rx, tx, tx_free: (0..QSIZE).collect(), mac };
    for i in 0..QSIZE {
        dev.rx.set_desc(i, dev.rx.bufs[i], BUF as u32, DESC_F_WRITE);
        dev.rx.offer(i);
    }
    set_reg(base, R_STATUS, status | S_DRIVER_OK);
    set_reg(base, R_QUEUE_NOTIFY, 0);
    Some(dev)
}

impl VirtioNet {
    /// Calls `f` with the next received frame (without the virtio header), if one arrived;
    /// the buffer goes back to the device afterwards.
    pub fn receive<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        let (id, len) = self.rx.take_used()?;
        let len = len.clamp(self.hdr, BUF);
        // SAFETY: the device finished writing `len` bytes into buffer `id` (BUF bytes, ours).
        let frame = unsafe { core::slice::from_raw_parts(self.rx.buf(id).add(self.hdr), len - self.hdr) };
        let r = f(frame);
        // The device leaves descriptors as they are: offering the same one again suffices.
        self.rx.offer(id);
        set_reg(self.regs, R_QUEUE_NOTIFY, 0);
        Some(r)
    }

    /// Whether a frame can be queued for sending now (reclaims finished transmissions).
    pub fn can_send(&mut self) -> bool {
        while let Some((id, _)) = self.tx.take_used() {
            self.tx_free.push(id);
        }
        !self.tx_free.is_empty()
    }

    /// Sends a frame of `len` bytes (at most [`MTU`]) that `f` fills in; None (the frame is
    /// dropped, as a busy card would) when no transmit buffer is free.
    pub fn send<R>(&mut self, len: usize, f: impl FnOnce(&mut [u8]) -> R) -> Option<R> {
        if !self.can_send() {
            return None;
        }
        let id = self.tx_free.pop()?;
        let len = len.min(MTU);
        let buf = self.tx.buf(id);
        // SAFETY: buffer `id` is ours (not in flight) and BUF bytes long; hdr + MTU fits.
        let (hdr, frame) = unsafe {
            core::ptr::write_bytes(buf, 0, self.hdr);
            (self.hdr, core::slice::from_raw_parts_mut(buf.add(self.hdr), len))
        };
        let r = f(frame);
        self.tx.set_desc(id, self.tx.bufs[id], (hdr + len) as u32, 0);
        self.tx.offer(id);
        set_reg(self.regs, R_QUEUE_NOTIFY, 1);
        Some(r)
    }
}

impl NetDevice for VirtioNet {
    fn mac(&self) -> [u8; 6] {
        self.mac
    }

    fn max_frame(&self) -> usize {
        MTU
    }

    fn can_send(&mut self) -> bool {
        VirtioNet::can_send(self)
    }

    fn receive(&mut self) -> Option<Vec<u8>> {
        VirtioNet::receive(self, |f| f.to_vec())
    }

    fn transmit(&mut self, len: usize, fill: &mut dyn FnMut(&mut [u8])) -> bool {
        self.send(len, fill).is_some()
    }
}

/// Starts the library OS's network stack, over the card if the VM has one; says whether it has.
/// Without a card the app's sockets exist but reach nothing (ENETDOWN).
pub fn start() -> bool {
    let card = probe();
    let mac = card.as_ref().map(|c| c.mac);
    let mut seed = [0u8; 8];
    rng::fill(&mut seed);
    let present =
        netstack::init(card.map(|c| Box::new(c) as Box<dyn NetDevice>), u64::from_le_bytes(seed), clock::monotonic_ns);
    if let Some(mac) = mac {
        crate::debug_line(format_args!(
            "litebox: net: virtio-net {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}, 10.0.2.15/24 via 10.0.2.2",
            mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]
        ));
    }
    present
}
