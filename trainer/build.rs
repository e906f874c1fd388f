//! Embeds LibTorch's library folder as an rpath in every binary and test of
//! this crate, so `odex-train` runs without LD_LIBRARY_PATH.

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if let Ok(dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
        println!("cargo:rustc-env=ODEX_LIBTORCH_LIB={dir}");
    }
}
