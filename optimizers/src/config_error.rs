//! Validation of optimizer configurations: a bad value is an error that names the field.

/// A configuration value an optimizer cannot use.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{optimizer}: invalid {field} = {value}: {problem}")]
pub struct OptimConfigError {
    /// The optimizer whose config is wrong.
    pub optimizer: &'static str,
    /// The field.
    pub field: &'static str,
    /// The value given.
    pub value: f64,
    /// What is wrong with it.
    pub problem: &'static str,
}

/// Checks fields of one optimizer's config.
pub(crate) struct Check(pub &'static str);

impl Check {
    fn fail(&self, field: &'static str, value: f64, problem: &'static str) -> OptimConfigError {
        OptimConfigError {
            optimizer: self.0,
            field,
            value,
            problem,
        }
    }

    /// A decay rate of a moving average: 0 ≤ β < 1.
    pub fn beta(&self, field: &'static str, value: f32) -> Result<(), OptimConfigError> {
        if (0.0..1.0).contains(&value) {
            Ok(())
        } else {
            Err(self.fail(field, value.into(), "must be in [0, 1)"))
        }
    }

    /// A strictly positive finite number (ε, learning rates).
    pub fn positive(&self, field: &'static str, value: f64) -> Result<(), OptimConfigError> {
        if value > 0.0 && value.is_finite() {
            Ok(())
        } else {
            Err(self.fail(field, value, "must be a positive finite number"))
        }
    }

    /// A finite number ≥ 0 (weight decay, an ε that may be zero).
    pub fn non_negative(&self, field: &'static str, value: f64) -> Result<(), OptimConfigError> {
        if value >= 0.0 && value.is_finite() {
            Ok(())
        } else {
            Err(self.fail(field, value, "must be a finite number >= 0"))
        }
    }

    /// A number in the closed interval `[lo, hi]`.
    pub fn within(
        &self,
        field: &'static str,
        value: f64,
        lo: f64,
        hi: f64,
        problem: &'static str,
    ) -> Result<(), OptimConfigError> {
        if (lo..=hi).contains(&value) {
            Ok(())
        } else {
            Err(self.fail(field, value, problem))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_optimizer_field_and_value() {
        let check = Check("AmsGrad");
        let err = check.beta("beta_2", 1.0).unwrap_err();
        assert_eq!(
            err.to_string(),
            "AmsGrad: invalid beta_2 = 1: must be in [0, 1)"
        );
        assert!(check.positive("epsilon", 0.0).is_err());
        assert!(check.positive("epsilon", f64::NAN).is_err());
        assert!(check.non_negative("weight_decay", -1e-4).is_err());
        assert!(check.non_negative("weight_decay", 0.0).is_ok());
        assert!(
            check
                .within("p", 0.6, 0.0, 0.5, "must be in [0, 1/2]")
                .is_err()
        );
    }
}
