//! All of a module's parameters as one flat vector, the form multi-pass optimizers work in: GAM
//! and SAM take global norms over every parameter, Entropy-SGD averages whole iterates.
//!
//! The vector lives on the inner (non-autodiff) device, in the module's visit order, as in
//! burn-optim's `LBFGS`. It holds the parameters that require gradients: frozen parameters and
//! buffers such as batch-norm running statistics (which a module visits as float tensors too)
//! are left out, so no optimizer moves them and no perturbation touches them.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;

/// The module's float parameters, flattened and concatenated in visit order.
pub fn flatten_params<M: Module>(module: &M) -> Tensor<1> {
    struct Collect(Vec<Tensor<1>>);
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let value = param.val();
            if !value.is_require_grad() {
                return;
            }
            let n = value.shape().num_elements();
            self.0.push(value.inner().reshape([n]));
        }
    }
    let mut collect = Collect(Vec::new());
    module.visit(&mut collect);
    concat(collect.0, module)
}

/// The gradients of the module's float parameters in the same layout as [`flatten_params`];
/// a parameter without a gradient contributes zeros.
pub fn flatten_grads<M: Module>(module: &M, grads: &GradientsParams) -> Tensor<1> {
    struct Collect<'a>(&'a GradientsParams, Vec<Tensor<1>>);
    impl ModuleVisitor for Collect<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let value = param.val();
            if !value.is_require_grad() {
                return;
            }
            let value = value.inner();
            let n = value.shape().num_elements();
            let grad = self
                .0
                .get::<D>(param.id)
                .unwrap_or_else(|| value.zeros_like());
            self.1.push(grad.reshape([n]));
        }
    }
    let mut collect = Collect(grads, Vec::new());
    module.visit(&mut collect);
    concat(collect.1, module)
}

fn concat<M: Module>(parts: Vec<Tensor<1>>, module: &M) -> Tensor<1> {
    if parts.is_empty() {
        let device = module
            .devices()
            .first()
            .cloned()
            .unwrap_or_default()
            .inner();
        return Tensor::empty([0], &device);
    }
    Tensor::cat(parts, 0)
}

/// The module with its float parameters replaced by consecutive slices of `flat` (the layout
/// of [`flatten_params`]). Parameters keep their ids and require gradients; the others (frozen
/// parameters, running statistics) are left as they are.
///
/// # Panics
/// If `flat` has fewer elements than the module has parameters.
pub fn load_flat_params<M: Module>(module: M, flat: &Tensor<1>) -> M {
    struct Assign<'a> {
        flat: &'a Tensor<1>,
        offset: usize,
    }
    impl ModuleMapper for Assign<'_> {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            if !param.val().is_require_grad() {
                return param;
            }
            let (id, tensor, mapper) = param.consume();
            let n = tensor.shape().num_elements();
            let start = self.offset;
            self.offset += n;
            let value = self.flat.clone().slice(start..self.offset);
            let updated = Tensor::from_inner(value.reshape(tensor.shape())).require_grad();
            Param::from_mapped_value(id, updated, mapper)
        }
    }
    module.map(&mut Assign { flat, offset: 0 })
}

/// The Euclidean norm of a flat vector, as `f64` (read back to the host).
pub fn norm(v: &Tensor<1>) -> f64 {
    v.clone().square().sum().into_scalar::<f64>().sqrt()
}

/// The inner product of two flat vectors, as `f64`.
pub fn dot(a: &Tensor<1>, b: &Tensor<1>) -> f64 {
    (a.clone() * b.clone()).sum().into_scalar::<f64>()
}
