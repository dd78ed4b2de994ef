//! The TLS Secrets and CA ConfigMaps the upstream suite generates when it
//! starts (they are not part of the manifests).

use std::collections::BTreeMap;

use portico_testkit::{CertifiedPem, TestCa, manifests, self_signed};

use crate::error::{Context, Failure};
use crate::{APP_BACKEND_NS, INFRA_NS, WEB_BACKEND_NS};

/// Generated material: YAML documents for the config directory, and the
/// Secrets' data for backends that mount them.
pub struct Certs {
    pub yaml: String,
    /// `namespace/name` of each Secret and CA ConfigMap → data key
    /// (`tls.crt`, `tls.key`, `ca.crt`) → PEM, for backends that mount them.
    pub secrets: BTreeMap<String, BTreeMap<String, String>>,
    /// CA that signed the `tls-checks-*` certificates (clients trust it).
    pub checks_ca_pem: String,
    /// `tls-checks-certificate`'s `tls.crt` (leaf + CA), which the
    /// upstream TLSRoute tests trust directly.
    pub checks_chain_pem: String,
    /// CA that signed the default-configuration client certificate for
    /// frontend validation (the per-port one has its own CA).
    pub client_ca_pem: String,
    /// Client certificates by Secret name.
    pub clients: BTreeMap<String, CertifiedPem>,
    /// The self-signed `tls-validity-checks-certificate`.
    pub validity: CertifiedPem,
}

impl Certs {
    pub fn generate() -> Result<Certs, Failure> {
        let mut certs = Certs {
            yaml: String::new(),
            secrets: BTreeMap::new(),
            checks_ca_pem: String::new(),
            checks_chain_pem: String::new(),
            client_ca_pem: String::new(),
            clients: BTreeMap::new(),
            validity: self_signed(&["*", "*.org", "*.wildcard.org"]).context("self-signed")?,
        };
        let validity = certs.validity.clone();
        certs.secret(INFRA_NS, "tls-validity-checks-certificate", &validity);
        let any = self_signed(&["*"]).context("self-signed")?;
        certs.secret(WEB_BACKEND_NS, "certificate", &any);

        let checks_ca = TestCa::new("tls-checks-ca").context("CA")?;
        for (name, hosts) in [
            (
                "tls-checks-certificate",
                &[
                    "abc.example.com",
                    "other.example.com",
                    "spiffe://abc.example.com/test-identity",
                ][..],
            ),
            (
                "tls-passthrough-checks-certificate",
                &["abc.example.com"][..],
            ),
            ("tls-terminate-checks-certificate", &["tls.example.com"][..]),
        ] {
            let cert = checks_ca.server_cert(hosts).context(name)?;
            certs.secret(INFRA_NS, name, &cert);
            if name == "tls-checks-certificate" {
                certs.checks_chain_pem = cert.chain_pem.clone();
            }
            if name == "tls-passthrough-checks-certificate" {
                certs.secret(APP_BACKEND_NS, name, &cert);
            }
        }
        certs.checks_ca_pem = checks_ca.cert_pem().to_string();
        // A CA nothing is signed by (BackendTLSPolicy cert-mismatch).
        let unused_ca = TestCa::new("mismatch-ca").context("CA")?;
        certs.config_map(INFRA_NS, "mismatch-ca-certificate", unused_ca.cert_pem());
        certs.config_map(
            INFRA_NS,
            "tls-checks-ca-certificate",
            &certs.checks_ca_pem.clone(),
        );

        // Frontend validation: the default and the per-port configuration
        // trust different CAs, so a client of one is refused by the other.
        let client_ca = TestCa::new("tls-validity-checks-ca").context("CA")?;
        let per_port_ca = TestCa::new("tls-validity-checks-per-port-ca").context("CA")?;
        certs.client_ca_pem = client_ca.cert_pem().to_string();
        for (ca, config_map, client) in [
            (
                &client_ca,
                "tls-validity-checks-ca-certificate",
                "tls-validity-checks-client-certificate",
            ),
            (
                &per_port_ca,
                "tls-validity-checks-per-port-ca-certificate",
                "tls-validity-checks-per-port-client-certificate",
            ),
        ] {
            certs.config_map(INFRA_NS, config_map, ca.cert_pem());
            let cert = ca.client_cert(client).context(client)?;
            certs.secret(INFRA_NS, client, &cert);
            certs.clients.insert(client.to_string(), cert);
        }
        // The Gateway's client certificate towards backends: the backends
        // trust tls-checks-ca-certificate for client certificates too.
        let name = "tls-checks-client-certificate";
        let cert = checks_ca.client_cert(name).context(name)?;
        certs.secret(INFRA_NS, name, &cert);
        certs.clients.insert(name.to_string(), cert);
        Ok(certs)
    }

    fn secret(&mut self, namespace: &str, name: &str, cert: &CertifiedPem) {
        self.yaml.push_str("---\n");
        self.yaml
            .push_str(&manifests::tls_secret(namespace, name, cert));
        let data = BTreeMap::from([
            ("tls.crt".to_string(), cert.chain_pem.clone()),
            ("tls.key".to_string(), cert.key_pem.clone()),
        ]);
        self.secrets.insert(format!("{namespace}/{name}"), data);
    }

    fn config_map(&mut self, namespace: &str, name: &str, ca_pem: &str) {
        self.yaml.push_str("---\n");
        self.yaml
            .push_str(&manifests::ca_config_map(namespace, name, ca_pem));
        // Backends may mount the ConfigMap (e.g. as TLS_CLIENT_CACERTS).
        let data = BTreeMap::from([("ca.crt".to_string(), ca_pem.to_string())]);
        self.secrets.insert(format!("{namespace}/{name}"), data);
    }
}
