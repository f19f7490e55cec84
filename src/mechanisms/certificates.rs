//! The certificate a mechanism carries into the manifest: the crate's one certificate type,
//! [`crate::certify::Certificate`], re-exported here.

pub use crate::certify::{Certificate, CertificateStatus};
