//! The application master's own TLS certificate.
//!
//! With TLS on, the AM serves its TaskUmbilical and JobClient services
//! over TLS, but it runs as the job's user, so it must not hold a daemon's
//! key (a job could then pass for a daemon). Instead it makes, at start, a
//! fresh key pair and a self-signed certificate for the host it
//! advertises ([`AmCert::generate`]). The key stays in the AM's memory;
//! the certificate (public) is what its clients pin as their only root:
//! - its task containers get it in `$TUSK_AM_CERT` ([`super::env::AM_CERT`]);
//! - `mapred` and the resource manager's web UI get it from the
//!   application report (the AM registers it with the resource manager).
//!
//! Pinning one self-signed certificate per AM attempt means nothing else
//! (not a daemon, not another job's AM) can stand in for this AM.

use std::net::IpAddr;

use rcgen::{
    CertificateParams, DnType, ExtendedKeyUsagePurpose, KeyPair, KeyUsagePurpose, SanType,
};

/// A certificate and its private key, both PEM. The key is never written
/// anywhere: it goes to the AM's TLS acceptor and nowhere else.
pub struct AmCert {
    /// The self-signed certificate, handed to every client of the AM.
    pub cert_pem: String,
    /// Its private key; private to this module's users in this process.
    key_pem: String,
}

impl AmCert {
    /// A fresh key pair (ECDSA P-256) and a self-signed certificate naming
    /// `host` (the host the AM advertises: an IP address becomes an IP
    /// SAN, a name a DNS SAN) and `app_id` (in the subject, so the
    /// certificate says whose it is). It is not a CA and is good for TLS
    /// server authentication only.
    pub fn generate(host: &str, app_id: &str) -> Result<AmCert, String> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let bad = |why: &str| format!("application master certificate: host {host:?} {why}");
        let san = match host.parse::<IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            // What clients will check the name against (a DNS name).
            Err(_) if !is_dns_name(host) => {
                return Err(bad("is neither an IP address nor a DNS name"))
            }
            Err(_) => SanType::DnsName(host.try_into().map_err(|e| bad(&format!("{e}")))?),
        };
        let mut params = CertificateParams::default();
        params.subject_alt_names = vec![san];
        params.distinguished_name.push(
            DnType::CommonName,
            format!("tusk application master {app_id}"),
        );
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate()
            .map_err(|e| format!("application master certificate: key generation: {e}"))?;
        let cert = params
            .self_signed(&key)
            .map_err(|e| format!("application master certificate for {host}: {e}"))?;
        Ok(AmCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// The private key (PEM), for the AM's own TLS acceptor.
    pub(crate) fn key_pem(&self) -> &[u8] {
        self.key_pem.as_bytes()
    }
}

/// Letters, digits, `-` and `_` in dot-separated labels of 1 to 63.
fn is_dns_name(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.trim_end_matches('.').split('.').all(|l| {
            (1..=63).contains(&l.len())
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

impl std::fmt::Debug for AmCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key, even in a log line.
        f.debug_struct("AmCert")
            .field("cert_pem", &self.cert_pem)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    //! The AM's services over TLS with its own certificate: a client that
    //! pins it gets answers; one that pins another AM's certificate, or
    //! speaks plain text, does not.
    use super::*;
    use crate::am::pb;
    use crate::am::pb::job_client_client::JobClientClient;
    use crate::am::umbilical::{self, JobStatusCell, TaskTable};
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn names_the_host_and_the_application() {
        let c = AmCert::generate("127.0.0.1", "application_1_0001").unwrap();
        assert!(c.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(std::str::from_utf8(c.key_pem())
            .unwrap()
            .contains("PRIVATE KEY"));
        assert!(
            !format!("{c:?}").contains("PRIVATE KEY"),
            "Debug shows the key"
        );
        // Names and IPv6 hosts (bracketed or not) are fine; two certificates
        // never share a key.
        let d = AmCert::generate("node-1.example", "application_1_0001").unwrap();
        assert_ne!(c.key_pem(), d.key_pem());
        AmCert::generate("[::1]", "application_1_0001").unwrap();
        let e = AmCert::generate("bad host", "application_1_0001").unwrap_err();
        assert!(e.contains("bad host") && !e.contains('\n'), "{e}");
    }

    #[tokio::test]
    async fn clients_trust_only_the_am_certificate() {
        let cert = AmCert::generate("127.0.0.1", "application_1_0002").unwrap();
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let status: JobStatusCell = Arc::new(parking_lot::Mutex::new(pb::GetJobStatusResponse {
            app_id: "application_1_0002".into(),
            state: "RUNNING".into(),
            ..Default::default()
        }));
        let incoming = umbilical::incoming(l, Some(&cert)).unwrap();
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(umbilical::serve(
            incoming,
            Arc::new(TaskTable::default()),
            status,
            async {
                let _ = stop_rx.await;
            },
        ));
        let call = |pem: String| {
            let addr = addr.clone();
            async move {
                let ch = crate::am::am_channel(&addr, &pem)?;
                tokio::time::timeout(
                    Duration::from_secs(10),
                    JobClientClient::new(ch).get_job_status(pb::GetJobStatusRequest {}),
                )
                .await
                .map_err(|_| "timed out".to_string())?
                .map(|r| r.into_inner())
                .map_err(|s| format!("{s}"))
            }
        };

        let got = call(cert.cert_pem.clone()).await.unwrap();
        assert_eq!(got.app_id, "application_1_0002");
        assert_eq!(got.state, "RUNNING");

        // Another AM's certificate (same host): refused.
        let other = AmCert::generate("127.0.0.1", "application_1_0003").unwrap();
        let e = call(other.cert_pem.clone()).await.unwrap_err();
        assert!(!e.contains("RUNNING"), "{e}");
        // Plain text (no certificate, no TLS in this process): no answer.
        assert!(call(String::new()).await.is_err());

        let _ = stop.send(());
        tokio::time::timeout(Duration::from_secs(10), server)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }
}
