//! # unlearn-audit
//!
//! Audits machine-unlearning claims. Given an original model, an unlearned model and a
//! retrained-from-scratch reference (exported as arrays), the library
//!
//! * measures how far the unlearned model is from the retrained one ([`metrics`]),
//! * attacks it with membership inference ([`mia`]),
//! * checks a claimed (ε, δ)-unlearning bound by repeated sampling ([`audit`]),
//! * computes the theoretical ε of certified mechanisms ([`certify`]) and ships reference
//!   implementations of them ([`models`], [`mechanisms`], [`sampling`]).
//!
//! Data flow (`docs/architecture.md`): files are read and validated by [`io`] into evidence
//! (weights, outputs, labels, sample sets; the claim under audit is an [`evidence::Claim`]);
//! each analysis is a pure function from evidence to typed findings; [`report`]
//! renders findings as JSON (the contract), Markdown or text, and maps outcomes to exit codes.
//! Sampling is the only place that owns randomness.
//!
//! The library never prints and never exits; the `unlearn-audit` binary does both.
//! Every estimator, bound and certificate has its definition and source in `docs/`.

pub mod audit;
pub mod certify;
pub mod defaults;
pub mod evidence;
pub mod io;
pub mod mechanisms;
pub mod metrics;
pub mod mia;
pub mod models;
pub mod plan;
pub mod report;
pub mod sampling;
pub mod stats;
pub mod tolerance;
pub mod verdict;
