//! The release binary is fully static (no ELF interpreter, no shared library needed), so
//! it runs `FROM scratch` and as the VM's `/init`. Builds it exactly as the harness does
//! (`src/artifact/calculator.rs`), into the same cache directory, `target/static`.

use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "x86_64-unknown-linux-gnu";
const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;
const DT_NEEDED: u64 = 1;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn build_static() -> PathBuf {
    let target_dir = workspace().join("target/static");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(workspace())
        .args([
            "build",
            "--release",
            "--quiet",
            "-p",
            "calculator",
            "--target",
            TARGET,
        ])
        .env("CARGO_TARGET_DIR", &target_dir)
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    target_dir.join(TARGET).join("release/calculator")
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(b[at..at + 2].try_into().unwrap())
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// What makes an ELF file dynamic: its interpreter and the libraries it needs.
fn dynamic_parts(path: &Path) -> (bool, usize) {
    let elf = std::fs::read(path).unwrap();
    assert_eq!(
        &elf[..5],
        b"\x7fELF\x02",
        "{} is a 64-bit ELF file",
        path.display()
    );
    let phoff = u64_at(&elf, 0x20) as usize;
    let (phentsize, phnum) = (u16_at(&elf, 0x36) as usize, u16_at(&elf, 0x38) as usize);
    let (mut interp, mut needed) = (false, 0);
    for i in 0..phnum {
        let ph = &elf[phoff + i * phentsize..];
        match u32_at(ph, 0) {
            PT_INTERP => interp = true,
            PT_DYNAMIC => {
                // static-pie keeps a dynamic section to relocate itself, needing nothing.
                let (offset, size) = (u64_at(ph, 0x08) as usize, u64_at(ph, 0x20) as usize);
                needed += elf[offset..offset + size]
                    .chunks_exact(16)
                    .filter(|entry| u64_at(entry, 0) == DT_NEEDED)
                    .count();
            }
            _ => {}
        }
    }
    (interp, needed)
}

#[test]
fn the_check_sees_a_dynamic_binary() {
    let (interp, needed) = dynamic_parts(Path::new("/bin/sh"));
    assert!(
        interp && needed > 0,
        "/bin/sh: interp {interp}, needed {needed}"
    );
}

#[test]
fn release_binary_is_fully_static() {
    let path = build_static();
    assert_eq!(
        dynamic_parts(&path),
        (false, 0),
        "{} is not fully static",
        path.display()
    );
    let out = Command::new(&path).arg("--version").output().unwrap();
    assert!(out.status.success());
    let bytes = std::fs::metadata(&path).unwrap().len();
    eprintln!("{}: {bytes} bytes", path.display());
}
