//! Compiles the C programs under `bpf/` with clang (`-target bpf`).
//!
//! A machine without clang (or without the kernel/libbpf headers) still builds
//! Portico: the object is replaced by an empty file, a cargo warning says so,
//! and the agent reports at run time that the eBPF programs were not compiled.
//! A genuine compile error in the C code, with the tools present, fails the
//! build: it must not turn into silently skipped tests.

use std::path::{Path, PathBuf};
use std::process::Command;

const PROGRAMS: &[&str] = &["sock_lb", "nodeport", "nodeport_xdp"];

fn main() {
    println!("cargo:rerun-if-changed=bpf");
    println!("cargo:rerun-if-env-changed=CLANG");
    println!("cargo:rerun-if-env-changed=PORTICO_SKIP_BPF");
    let out = match std::env::var_os("OUT_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => {
            println!("cargo:warning=OUT_DIR not set; eBPF programs not compiled");
            return;
        }
    };
    let clang = std::env::var("CLANG").unwrap_or_else(|_| "clang".to_string());
    let skip = std::env::var_os("PORTICO_SKIP_BPF").is_some();
    let mut status = "compiled".to_string();
    for name in PROGRAMS {
        let obj = out.join(format!("{name}.o"));
        let result = if skip {
            Err("PORTICO_SKIP_BPF is set".to_string())
        } else {
            compile(
                &clang,
                Path::new("bpf").join(format!("{name}.c")).as_path(),
                &obj,
            )
        };
        if let Err(why) = result {
            println!("cargo:warning=eBPF program {name} not compiled: {why}");
            if let Err(e) = std::fs::write(&obj, b"") {
                println!("cargo:warning=cannot write {}: {e}", obj.display());
            }
            status = why;
        }
    }
    println!("cargo:rustc-env=PORTICO_BPF_STATUS={status}");
}

fn compile(clang: &str, src: &Path, obj: &Path) -> Result<(), String> {
    let mut cmd = Command::new(clang);
    cmd.args(["-O2", "-g", "-target", "bpf", "-Wall", "-Werror", "-c"])
        .arg(src)
        .arg("-o")
        .arg(obj)
        .arg("-Ibpf");
    if let Some(dir) = multiarch_include() {
        cmd.arg(format!("-I{dir}"));
    }
    match cmd.output() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err("clang missing".to_string()),
        Err(e) => Err(format!("cannot run {clang}: {e}")),
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => {
            let stderr = String::from_utf8_lossy(&o.stderr);
            if stderr.contains("file not found") {
                for line in stderr.lines().take(3) {
                    println!("cargo:warning={line}");
                }
                return Err("headers missing (install libbpf-dev)".to_string());
            }
            panic!(
                "{clang} failed on {} ({}):\n{stderr}",
                src.display(),
                o.status
            );
        }
    }
}

/// `<asm/types.h>` lives under the target's multiarch directory on Debian.
fn multiarch_include() -> Option<String> {
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").ok()?;
    let triple = match arch.as_str() {
        "x86_64" => "x86_64-linux-gnu",
        "aarch64" => "aarch64-linux-gnu",
        "riscv64" => "riscv64-linux-gnu",
        _ => return None,
    };
    let dir = format!("/usr/include/{triple}");
    Path::new(&dir).is_dir().then_some(dir)
}
