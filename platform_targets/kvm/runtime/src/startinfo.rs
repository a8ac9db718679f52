//! The PVH `hvm_start_info` structure (Xen's arch-x86/hvm/start_info.h): magic 0x336ec578,
//! version, flags, nr_modules, modlist_paddr, cmdline_paddr, rsdp_paddr, then (version 1)
//! memmap_paddr and memmap_entries. Modules are {paddr, size, cmdline_paddr, reserved}; memory
//! map entries are {addr, size, type (1 = RAM), reserved}.
use crate::boot::phys_to_virt;
use crate::frames::PHYS_LIMIT;
use litebox_vmkernel::BootInfo;

const MAGIC: u32 = 0x336e_c578;

/// What the VMM told us at boot (physical addresses).
pub struct StartInfo {
    pub cmdline: Option<(usize, usize)>,
    pub modules: [(usize, usize); 4],
    pub module_count: usize,
    pub memmap: [(usize, usize); 32],
    pub memmap_count: usize,
    pub structures: [(usize, usize); 3],
}

fn rd<T: Copy>(pa: usize) -> T {
    // SAFETY: callers pass addresses below PHYS_LIMIT, which the direct map covers; the VMM
    // placed the structure there and nothing else writes it.
    unsafe { core::ptr::read_unaligned(phys_to_virt(pa) as *const T) }
}

fn ok(pa: usize, len: usize) -> bool {
    pa != 0 && pa.checked_add(len).is_some_and(|e| e <= PHYS_LIMIT)
}

/// Reads the start info at physical `pa`; None if it is not one.
pub fn parse(pa: usize) -> Option<StartInfo> {
    if !ok(pa, 56) || rd::<u32>(pa) != MAGIC {
        return None;
    }
    let version: u32 = rd(pa + 4);
    let nr_modules: u32 = rd(pa + 12);
    let modlist: u64 = rd(pa + 16);
    let cmdline: u64 = rd(pa + 24);
    let mut si = StartInfo {
        cmdline: None,
        modules: [(0, 0); 4],
        module_count: 0,
        memmap: [(0, 0); 32],
        memmap_count: 0,
        structures: [(pa, 56), (0, 0), (0, 0)],
    };
    if ok(cmdline as usize, 1) {
        let c = cmdline as usize;
        let mut n = 0;
        while n < 65536 && ok(c, n + 1) && rd::<u8>(c + n) != 0 {
            n += 1;
        }
        si.cmdline = Some((c, n));
    }
    let count = (nr_modules as usize).min(si.modules.len());
    if count > 0 && ok(modlist as usize, 32 * count) {
        si.structures[1] = (modlist as usize, 32 * count);
        for i in 0..count {
            let e = modlist as usize + 32 * i;
            let (mpa, size): (u64, u64) = (rd(e), rd(e + 8));
            if ok(mpa as usize, size as usize) {
                si.modules[si.module_count] = (mpa as usize, size as usize);
                si.module_count += 1;
            }
        }
    }
    if version >= 1 {
        let map: u64 = rd(pa + 40);
        let entries: u32 = rd(pa + 48);
        let n = (entries as usize).min(si.memmap.len());
        if ok(map as usize, 24 * n) {
            si.structures[2] = (map as usize, 24 * n);
            for i in 0..n {
                let e = map as usize + 24 * i;
                let (addr, size, kind): (u64, u64, u32) = (rd(e), rd(e + 8), rd(e + 16));
                if kind == 1 {
                    si.memmap[si.memmap_count] = (addr as usize, (addr + size) as usize);
                    si.memmap_count += 1;
                }
            }
        }
    }
    Some(si)
}

impl StartInfo {
    /// The kernel's view: RAM, the ranges to keep (this structure, the module list, the memory
    /// map, the command line, the modules), the command line and the modules.
    pub fn boot_info(&self) -> BootInfo {
        let mut bi = BootInfo::EMPTY;
        for &(s, e) in &self.memmap[..self.memmap_count] {
            bi.add_ram(s, e);
        }
        for &(pa, len) in &self.structures {
            bi.reserve(pa, pa + len);
        }
        if let Some((pa, len)) = self.cmdline {
            bi.reserve(pa, pa + len + 1);
            bi.cmdline = bytes(pa, len);
        }
        for &(pa, len) in &self.modules[..self.module_count] {
            bi.reserve(pa, pa + len);
            bi.modules[bi.module_count] = bytes(pa, len);
            bi.module_count += 1;
        }
        bi
    }
}

/// The bytes at physical [pa, pa + len) (below PHYS_LIMIT), for the life of the kernel.
pub fn bytes(pa: usize, len: usize) -> &'static [u8] {
    if len == 0 {
        return &[];
    }
    // SAFETY: the range was checked against PHYS_LIMIT and is reserved from the frame pool, so
    // nothing reuses it while the kernel runs.
    unsafe { core::slice::from_raw_parts(phys_to_virt(pa) as *const u8, len) }
}
