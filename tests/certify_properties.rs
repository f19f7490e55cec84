//! Properties of the Gaussian calibrations (proptest, 64 cases each to stay fast).

use proptest::prelude::*;
use unlearn_audit::certify::gaussian;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn sigma_decreases_in_epsilon_and_delta(
        epsilon in 0.01f64..20.0,
        factor in 1.01f64..3.0,
        log_delta in -14.0f64..-1.0,
    ) {
        let delta = 10f64.powf(log_delta);
        let base = gaussian::sigma_analytic(1.0, epsilon, delta).unwrap();
        prop_assert!(gaussian::sigma_analytic(1.0, epsilon * factor, delta).unwrap() < base);
        let larger_delta = (delta * factor).min(0.9);
        prop_assert!(gaussian::sigma_analytic(1.0, epsilon, larger_delta).unwrap() < base);
        prop_assert!(gaussian::sigma_classical(1.0, epsilon * factor, delta).unwrap()
            < gaussian::sigma_classical(1.0, epsilon, delta).unwrap());
    }

    #[test]
    fn sigma_is_linear_in_sensitivity(
        epsilon in 0.01f64..20.0,
        sensitivity in 1e-3f64..1e3,
        log_delta in -14.0f64..-1.0,
    ) {
        let delta = 10f64.powf(log_delta);
        let unit = gaussian::sigma_analytic(1.0, epsilon, delta).unwrap();
        let scaled = gaussian::sigma_analytic(sensitivity, epsilon, delta).unwrap();
        prop_assert!((scaled / (sensitivity * unit) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn epsilon_decreases_in_sigma(
        sigma in 0.1f64..50.0,
        factor in 1.01f64..3.0,
        log_delta in -14.0f64..-2.0,
    ) {
        let delta = 10f64.powf(log_delta);
        let base = gaussian::epsilon_analytic(1.0, sigma, delta).unwrap();
        let noisier = gaussian::epsilon_analytic(1.0, sigma * factor, delta).unwrap();
        prop_assert!(noisier < base || (base == 0.0 && noisier == 0.0));
    }

    #[test]
    fn round_trip_sigma_epsilon_sigma(
        epsilon in 0.01f64..20.0,
        sensitivity in 1e-2f64..1e2,
        log_delta in -14.0f64..-2.0,
    ) {
        let delta = 10f64.powf(log_delta);
        let sigma = gaussian::sigma_analytic(sensitivity, epsilon, delta).unwrap();
        let back_epsilon = gaussian::epsilon_analytic(sensitivity, sigma, delta).unwrap();
        let back_sigma = gaussian::sigma_analytic(sensitivity, back_epsilon, delta).unwrap();
        prop_assert!((back_sigma / sigma - 1.0).abs() < 1e-9, "{sigma} -> {back_epsilon} -> {back_sigma}");
        prop_assert!((back_epsilon / epsilon - 1.0).abs() < 1e-9);
    }
}
