//! The output-perturbation pattern shared by mechanisms whose runs publish a deterministic point
//! plus Gaussian noise (Descent-to-Delete, Sekhari et al., Zhang et al.; `docs/mechanisms.md`
//! §2), and the σ/10 "small-noise" faulty variants of the noised mechanisms.

use ndarray::Array1;
use rand_chacha::ChaCha8Rng;

use super::Certificate;
use super::linear::gaussian_vector;

/// σ a run of the mechanism draws with: σ/10 in a `-small-noise` faulty variant, else σ.
pub(crate) fn run_sigma(sigma: f64, small_noise: bool) -> f64 {
    if small_noise { sigma / 10.0 } else { sigma }
}

/// The mechanism's name: `faulty` (the `-small-noise` variant) when `small_noise`, else `sound`.
pub(crate) fn variant_name(
    small_noise: bool,
    sound: &'static str,
    faulty: &'static str,
) -> &'static str {
    if small_noise { faulty } else { sound }
}

/// `point + N(0, σ²I)`, the noise drawn from the run's stream.
pub(crate) fn perturb(point: &Array1<f64>, sigma: f64, rng: &mut ChaCha8Rng) -> Array1<f64> {
    point + &gaussian_vector(rng, point.len(), sigma)
}

/// The certificate a mechanism publishes: as derived, or, in a `-small-noise` faulty variant,
/// marked as only claimed (`weakness` says what the variant gets wrong).
pub(crate) fn claimed_certificate(
    certificate: Certificate,
    small_noise: bool,
    weakness: &str,
) -> Certificate {
    if small_noise {
        certificate.as_claimed_by_faulty_variant(weakness)
    } else {
        certificate
    }
}

/// Output perturbation with both points computed once at construction: each unlearning run
/// publishes `unlearned + N(0, σ²I)` (σ/10 when `small_noise`), each reference run
/// `reference + N(0, σ²I)`; a run draws only the noise from its stream.
pub(crate) struct OutputPerturbation {
    /// The deterministic unlearned point.
    pub unlearned: Array1<f64>,
    /// The deterministic reference (retrained) point.
    pub reference: Array1<f64>,
    /// The calibrated σ of the certificate.
    pub sigma: f64,
    /// The faulty variant publishing with σ/10.
    pub small_noise: bool,
}

impl OutputPerturbation {
    /// One noised unlearned release.
    pub fn unlearn(&self, rng: &mut ChaCha8Rng) -> Array1<f64> {
        perturb(
            &self.unlearned,
            run_sigma(self.sigma, self.small_noise),
            rng,
        )
    }

    /// One noised reference release (always the full σ).
    pub fn reference(&self, rng: &mut ChaCha8Rng) -> Array1<f64> {
        perturb(&self.reference, self.sigma, rng)
    }

    /// `certificate`, marked as only claimed in the small-noise variant.
    pub fn certificate(&self, certificate: Certificate) -> Certificate {
        claimed_certificate(certificate, self.small_noise, "the output noise has σ/10")
    }
}
