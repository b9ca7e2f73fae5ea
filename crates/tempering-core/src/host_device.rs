//! Which devices keep their tensors in host memory: where tempering's fused optimizer loops
//! (tempering-optim) and CPU kernels (tempering-models) may run instead of Burn's tensor
//! operations. Both ask [`host_backend`], so the two never disagree about a device.

use burn::tensor::Device;
use burn_dispatch::DispatchDevice;

/// A Burn backend that keeps tensors in host memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostBackend {
    /// burn-flex, the default CPU backend.
    Flex,
    /// burn-ndarray (deprecated by Burn 0.22 in favour of Flex, still selectable).
    NdArray,
}

/// The host backend of `device`, seen through autodiff, or `None` for every other device
/// (GPUs through `wgpu`).
///
/// ```
/// use burn::tensor::Device;
/// use tempering_core::host_device::{HostBackend, host_backend};
/// # #[cfg(feature = "flex")]
/// assert_eq!(host_backend(&Device::flex().autodiff()), Some(HostBackend::Flex));
/// ```
pub fn host_backend(device: &Device) -> Option<HostBackend> {
    #[allow(unreachable_patterns)]
    fn of(device: &DispatchDevice) -> Option<HostBackend> {
        match device {
            #[cfg(feature = "flex")]
            DispatchDevice::Flex(_) => Some(HostBackend::Flex),
            #[cfg(feature = "ndarray")]
            DispatchDevice::NdArray(_) => Some(HostBackend::NdArray),
            DispatchDevice::Autodiff(inner) => of(&inner.clone().inner()),
            _ => None,
        }
    }
    of(device.as_dispatch())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_devices_are_host_devices_with_or_without_autodiff() {
        #[cfg(feature = "flex")]
        for device in [Device::flex(), Device::flex().autodiff()] {
            assert_eq!(host_backend(&device), Some(HostBackend::Flex));
        }
        #[cfg(feature = "ndarray")]
        #[allow(deprecated)]
        for device in [Device::ndarray(), Device::ndarray().autodiff()] {
            assert_eq!(host_backend(&device), Some(HostBackend::NdArray));
        }
    }
}
