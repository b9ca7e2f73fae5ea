//! Choosing the compute backend from a command-line flag.
//!
//! Backends are cargo features (`flex` by default, `ndarray`, `wgpu`); a flag picks among the
//! compiled ones at run time. Without a flag Burn's `Device::default()` decides (a GPU when
//! `wgpu` is compiled in, else Flex, else NdArray; `BURN_DEVICE` overrides).

use burn::tensor::Device;

/// A backend the examples can run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendChoice {
    /// burn-flex: pure-Rust CPU backend (the default feature).
    Flex,
    /// burn-ndarray: pure-Rust CPU backend (deprecated by Burn 0.22; `--features ndarray`).
    Ndarray,
    /// wgpu: GPU through Vulkan/Metal/DX12 (`--features wgpu`).
    Wgpu,
}

impl BackendChoice {
    /// The device of this backend, or an error saying which feature to build with.
    pub fn device(self) -> Result<Device, String> {
        let missing = |feature: &str| {
            Err(format!(
                "backend {feature} is not compiled in; rebuild with `--features {feature}`"
            ))
        };
        match self {
            #[cfg(feature = "flex")]
            Self::Flex => Ok(Device::flex()),
            #[cfg(not(feature = "flex"))]
            Self::Flex => missing("flex"),
            // Burn 0.22 deprecates NdArray in favour of Flex; we keep it selectable so the two
            // CPU backends can be compared (see the README's performance notes).
            #[cfg(feature = "ndarray")]
            #[allow(deprecated)]
            Self::Ndarray => Ok(Device::ndarray()),
            #[cfg(not(feature = "ndarray"))]
            Self::Ndarray => missing("ndarray"),
            #[cfg(feature = "wgpu")]
            Self::Wgpu => Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)),
            #[cfg(not(feature = "wgpu"))]
            Self::Wgpu => missing("wgpu"),
        }
    }
}

/// The device for an optional choice: the chosen backend, or Burn's default.
pub fn device_for(choice: Option<BackendChoice>) -> Result<Device, String> {
    choice.map_or_else(|| Ok(Device::default()), BackendChoice::device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uncompiled_backends_say_which_feature_to_enable() {
        for choice in [
            BackendChoice::Flex,
            BackendChoice::Ndarray,
            BackendChoice::Wgpu,
        ] {
            if let Err(e) = choice.device() {
                assert!(e.contains("--features"), "{e}");
            }
        }
        #[cfg(feature = "flex")]
        assert!(BackendChoice::Flex.device().is_ok());
    }
}
