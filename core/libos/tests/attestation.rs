//! `/dev/attestation` through `shim::dispatch` on the mock platform (which, like every platform
//! but the VM kernel under SEV-SNP, has no attestation report): the directory and its files,
//! the 64-byte report data, the report's ENODEV (docs/targets/snp.md).
#![deny(unsafe_op_in_unsafe_fn)]

mod common;

use common::mock::Sys;
use litebox_libos::abi::*;
use litebox_libos::errno::*;

#[test]
fn the_files_exist_and_the_report_is_enodev_without_hardware() {
    let mut s = Sys::new();
    assert_eq!(s.stat("/dev/attestation").unwrap().st_mode & S_IFMT, S_IFDIR);
    let fd = s.open("/dev/attestation/attestation_type", O_RDONLY, 0).unwrap();
    assert_eq!(s.read(fd, 64).unwrap(), b"none");
    s.close(fd).unwrap();
    assert_eq!(s.open("/dev/attestation/report", O_RDONLY, 0), Err(ENODEV));
    assert_eq!(s.open("/dev/attestation/report", O_WRONLY, 0), Err(EACCES));
    assert_eq!(s.open("/dev/attestation/quote", O_RDONLY, 0), Err(ENOENT));
}

#[test]
fn user_report_data_takes_exactly_64_bytes_and_reads_them_back() {
    let mut s = Sys::new();
    let data: Vec<u8> = (0..64u8).map(|i| i.wrapping_mul(37) ^ 0x5a).collect();
    let fd = s.open("/dev/attestation/user_report_data", O_RDWR, 0).unwrap();
    assert_eq!(s.read(fd, 64).unwrap(), [0u8; 64], "zeroes before the first write");
    assert_eq!(s.write(fd, &data[..10]), Err(EINVAL));
    assert_eq!(s.write(fd, &[data.as_slice(), b"x"].concat()), Err(EINVAL));
    assert_eq!(s.write(fd, &data), Ok(64));
    s.close(fd).unwrap();
    let fd = s.open("/dev/attestation/user_report_data", O_RDONLY, 0).unwrap();
    assert_eq!(s.read(fd, 40).unwrap(), &data[..40]);
    assert_eq!(s.read(fd, 40).unwrap(), &data[40..], "reads continue at the file position");
    assert_eq!(s.read(fd, 40).unwrap(), b"", "and end after 64 bytes");
    s.close(fd).unwrap();
}
