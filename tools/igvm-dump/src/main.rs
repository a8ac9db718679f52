//! Test-only: reads an IGVM file with the `igvm` crate (an independent parser and launch
//! measurement, not ours) and prints one line per header, `key=value` separated by spaces, so
//! tests can compare the file with what the manifest says.
//!
//! ```text
//! igvm-dump FILE
//! ```
//!
//! Lines: `revision`, `platform`, `policy`, `page`, `param_area`, `command_line`, `memory_map`,
//! `insert`, `required`, `vp_native`, `vp_snp`, `id_block`, `other`, and last `snp_measurement` (the
//! crate's SEV-SNP launch digest, VMSA in file order) when the file has an SNP platform.
#![deny(unsafe_op_in_unsafe_fn)]

use igvm::{IgvmDirectiveHeader, IgvmFile, IgvmInitializationHeader, IgvmPlatformHeader};
use igvm_defs::IgvmPlatformType;
use std::process::ExitCode;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn platform_name(t: IgvmPlatformType) -> String {
    match t {
        IgvmPlatformType::NATIVE => "native".into(),
        IgvmPlatformType::SEV_SNP => "sev-snp".into(),
        other => format!("{:#x}", other.0),
    }
}

fn directive_line(d: &IgvmDirectiveHeader) -> String {
    match d {
        IgvmDirectiveHeader::PageData { gpa, compatibility_mask, flags, data_type, data } => format!(
            "page gpa={gpa:#x} mask={compatibility_mask:#x} type={} flags={:#x} data={}",
            data_type.0,
            u32::from(*flags),
            if data.is_empty() { "zero".to_string() } else { data.len().to_string() }
        ),
        IgvmDirectiveHeader::ParameterArea { number_of_bytes, parameter_area_index, .. } => {
            format!("param_area index={parameter_area_index} bytes={number_of_bytes}")
        }
        IgvmDirectiveHeader::CommandLine(p) => {
            format!("command_line index={} offset={}", p.parameter_area_index, p.byte_offset)
        }
        IgvmDirectiveHeader::MemoryMap(p) => {
            format!("memory_map index={} offset={}", p.parameter_area_index, p.byte_offset)
        }
        IgvmDirectiveHeader::ParameterInsert(i) => {
            format!("insert gpa={:#x} mask={:#x} index={}", i.gpa, i.compatibility_mask, i.parameter_area_index)
        }
        IgvmDirectiveHeader::RequiredMemory { gpa, compatibility_mask, number_of_bytes, .. } => {
            format!("required gpa={gpa:#x} mask={compatibility_mask:#x} bytes={number_of_bytes}")
        }
        IgvmDirectiveHeader::X64NativeVpContext { compatibility_mask, vp_index, context } => format!(
            "vp_native mask={compatibility_mask:#x} vp={vp_index} rip={:#x} rbx={:#x} cr0={:#x} cr3={:#x} efer={:#x}",
            context.rip, context.rbx, context.cr0, context.cr3, context.efer
        ),
        IgvmDirectiveHeader::SnpVpContext { gpa, compatibility_mask, vp_index, vmsa } => format!(
            "vp_snp mask={compatibility_mask:#x} vp={vp_index} gpa={gpa:#x} rip={:#x} rbx={:#x} sev_features={:#x}",
            vmsa.rip,
            vmsa.rbx,
            u64::from(vmsa.sev_features)
        ),
        IgvmDirectiveHeader::SnpIdBlock {
            compatibility_mask,
            ld,
            family_id,
            image_id,
            version,
            guest_svn,
            id_key_algorithm,
            ..
        } => format!(
            "id_block mask={compatibility_mask:#x} ld={} family_id={} image_id={} version={version} guest_svn={guest_svn} algorithm={id_key_algorithm}",
            hex(ld),
            hex(family_id),
            hex(image_id)
        ),
        other => format!("other {other:?}").replace('\n', " "),
    }
}

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: igvm-dump FILE");
        return ExitCode::from(2);
    };
    let data = match std::fs::read(&path) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("igvm-dump: {path}: {e}");
            return ExitCode::from(2);
        }
    };
    let file = match IgvmFile::new_from_binary(&data, None) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("igvm-dump: {path}: {e} ({e:?})");
            return ExitCode::from(1);
        }
    };
    // The crate checked the fixed header; its revision fields, as the file states them.
    let word = |at: usize| u32::from_le_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]);
    if word(4) >= 2 {
        println!("revision {} arch={} page_size={}", word(4), word(24), word(28));
    } else {
        println!("revision {}", word(4));
    }
    let mut snp_mask = None;
    for p in file.platforms() {
        let IgvmPlatformHeader::SupportedPlatform(p) = p;
        if p.platform_type == IgvmPlatformType::SEV_SNP {
            snp_mask = Some(p.compatibility_mask);
        }
        println!(
            "platform mask={:#x} type={} version={}",
            p.compatibility_mask,
            platform_name(p.platform_type),
            p.platform_version
        );
    }
    for i in file.initializations() {
        match i {
            IgvmInitializationHeader::GuestPolicy { policy, compatibility_mask } => {
                println!("policy mask={compatibility_mask:#x} value={policy:#x}")
            }
            other => println!("other {other:?}"),
        }
    }
    for d in file.directives() {
        println!("{}", directive_line(d));
    }
    if let Some(mask) = snp_mask {
        match igvm::measurement::generate_snp_measurement(file.initializations(), file.directives(), mask) {
            Ok(ld) => println!("snp_measurement digest={}", hex(&ld)),
            Err(e) => {
                eprintln!("igvm-dump: {path}: SNP measurement: {e}");
                return ExitCode::from(1);
            }
        }
    }
    ExitCode::SUCCESS
}
