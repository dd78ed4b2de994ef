//! A Gateway's addresses: `spec.addresses` and the `lbipam.cilium.io/ips`
//! annotation turned into IPAM requests, and the IPAM result turned into the
//! address-related conditions.

use std::collections::BTreeMap;
use std::net::IpAddr;

use portico_model::gateway::Gateway;

use super::ipam::{self, Assignment, Pool, Request, Wants};
use super::problem::Problem;
use crate::Options;

/// Annotation (in `spec.infrastructure.annotations`) that overrides `spec.addresses`.
pub const LBIPAM_IPS_ANNOTATION: &str = "lbipam.cilium.io/ips";

/// The address part of a Gateway's status.
#[derive(Clone, Debug, Default)]
pub struct AddressOutcome {
    pub addresses: Vec<IpAddr>,
    /// `Accepted=False` (UnsupportedAddress).
    pub not_accepted: Option<Problem>,
    /// `Programmed=False` (AddressNotUsable, AddressNotAssigned).
    pub not_programmed: Option<Problem>,
}

/// What the Gateway asks for, or why it cannot be served.
fn wants(gateway: &Gateway) -> Result<Wants, Problem> {
    let infra = gateway.spec.infrastructure.as_ref();
    if let Some(ips) = infra
        .and_then(|i| i.annotations.as_ref())
        .and_then(|a| a.get(LBIPAM_IPS_ANNOTATION))
    {
        let mut addresses = Vec::new();
        for part in ips.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let ip = part.parse::<IpAddr>().map_err(|_| {
                Problem::new(
                    "UnsupportedAddress",
                    format!("{LBIPAM_IPS_ANNOTATION} value {part:?} is not an IP address"),
                )
            })?;
            addresses.push(ip);
        }
        if !addresses.is_empty() {
            return Ok(Wants::Static {
                addresses,
                extra_dynamic: false,
            });
        }
    }
    let Some(entries) = gateway.spec.addresses.as_ref().filter(|a| !a.is_empty()) else {
        return Ok(Wants::Dynamic);
    };
    let mut addresses = Vec::new();
    let mut extra_dynamic = false;
    for entry in entries {
        let type_ = entry.r#type.as_deref().unwrap_or("IPAddress");
        if type_ != "IPAddress" {
            return Err(Problem::new(
                "UnsupportedAddress",
                format!("address type {type_:?} is not supported (only IPAddress is)"),
            ));
        }
        match entry
            .value
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
        {
            None => extra_dynamic = true,
            Some(value) => match value.parse::<IpAddr>() {
                Ok(ip) => addresses.push(ip),
                Err(_) => {
                    return Err(Problem::new(
                        "UnsupportedAddress",
                        format!("address {value:?} is not a valid IPAddress"),
                    ));
                }
            },
        }
    }
    Ok(Wants::Static {
        addresses,
        extra_dynamic,
    })
}

fn labels(gateway: &Gateway) -> BTreeMap<String, String> {
    let mut labels = gateway
        .spec
        .infrastructure
        .as_ref()
        .and_then(|i| i.labels.clone())
        .unwrap_or_default();
    labels.insert(
        ipam::SERVICE_NAMESPACE_LABEL.to_string(),
        gateway.metadata.namespace.clone().unwrap_or_default(),
    );
    labels.insert(
        ipam::SERVICE_NAME_LABEL.to_string(),
        gateway.metadata.name.clone().unwrap_or_default(),
    );
    labels
}

/// Assigns addresses to `gateways`, which must be in age order.
pub fn assign(gateways: &[&Gateway], pools: &[Pool], options: &Options) -> Vec<AddressOutcome> {
    let mut outcomes: Vec<AddressOutcome> = Vec::with_capacity(gateways.len());
    let mut requests = Vec::new();
    let mut index = Vec::new();
    for gw in gateways {
        match wants(gw) {
            Ok(w) => {
                index.push(Some(requests.len()));
                requests.push(Request {
                    labels: labels(gw),
                    wants: w,
                });
            }
            Err(problem) => {
                index.push(None);
                outcomes.push(AddressOutcome {
                    not_accepted: Some(problem),
                    ..AddressOutcome::default()
                });
                continue;
            }
        }
        outcomes.push(AddressOutcome::default());
    }
    let default = Pool::default_pool(&options.default_pool);
    let assignments = ipam::allocate(&requests, pools, &default, options.usable_address);
    for (outcome, idx) in outcomes.iter_mut().zip(index) {
        let Some(a) = idx.and_then(|i| assignments.get(i)) else {
            continue;
        };
        *outcome = outcome_of(a);
    }
    outcomes
}

fn outcome_of(a: &Assignment) -> AddressOutcome {
    let not_programmed = if !a.unusable.is_empty() {
        let list: Vec<String> = a
            .unusable
            .iter()
            .map(|(ip, why)| format!("{ip}: {why}"))
            .collect();
        Some(Problem::new("AddressNotUsable", list.join("; ")))
    } else if a.exhausted {
        Some(Problem::new(
            "AddressNotAssigned",
            "no address pool that selects this Gateway has a free address",
        ))
    } else if a.addresses.is_empty() {
        Some(Problem::new("AddressNotAssigned", "no address assigned"))
    } else {
        None
    };
    AddressOutcome {
        addresses: a.addresses.clone(),
        not_accepted: None,
        not_programmed,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use portico_model::core::ObjectMeta;
    use portico_model::gateway::{GatewayAddresses, GatewayInfrastructure, GatewaySpec};

    use super::*;

    fn gateway(addresses: &[(Option<&str>, Option<&str>)], annotation: Option<&str>) -> Gateway {
        Gateway {
            metadata: ObjectMeta {
                name: Some("gw".into()),
                namespace: Some("ns".into()),
                ..ObjectMeta::default()
            },
            spec: GatewaySpec {
                addresses: Some(
                    addresses
                        .iter()
                        .map(|(t, v)| GatewayAddresses {
                            r#type: t.map(str::to_string),
                            value: v.map(str::to_string),
                        })
                        .collect(),
                ),
                infrastructure: annotation.map(|a| GatewayInfrastructure {
                    annotations: Some(BTreeMap::from([(
                        LBIPAM_IPS_ANNOTATION.to_string(),
                        a.to_string(),
                    )])),
                    ..GatewayInfrastructure::default()
                }),
                ..GatewaySpec::default()
            },
            status: None,
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn spec_addresses_become_requests() {
        assert_eq!(wants(&gateway(&[], None)), Ok(Wants::Dynamic));
        assert_eq!(
            wants(&gateway(
                &[(None, Some("127.0.0.5")), (Some("IPAddress"), None)],
                None
            )),
            Ok(Wants::Static {
                addresses: vec![ip("127.0.0.5")],
                extra_dynamic: true
            })
        );
        for bad in [
            (Some("Hostname"), Some("a.example.com")),
            (Some("x/y"), Some("1.2.3.4")),
            (None, Some("1.2.3")),
        ] {
            let got = wants(&gateway(&[bad], None));
            assert_eq!(
                got.map_err(|p| p.reason),
                Err("UnsupportedAddress"),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn lbipam_annotation_overrides_spec_addresses() {
        let gw = gateway(
            &[(Some("Hostname"), Some("ignored"))],
            Some(" 127.0.0.7, ::1 ,"),
        );
        assert_eq!(
            wants(&gw),
            Ok(Wants::Static {
                addresses: vec![ip("127.0.0.7"), ip("::1")],
                extra_dynamic: false
            })
        );
        let bad = gateway(&[], Some("127.0.0.7,nope"));
        assert_eq!(wants(&bad).map_err(|p| p.reason), Err("UnsupportedAddress"));
    }

    #[test]
    fn outcomes_report_unusable_and_exhausted() {
        let options = Options {
            default_pool: vec!["10.0.0.0/31".parse().expect("net")],
            ..Options::default()
        };
        let a = gateway(&[(None, Some("203.0.113.5"))], None);
        let b = gateway(&[], None);
        let c = gateway(&[], None);
        let d = gateway(&[], None);
        let out = assign(&[&a, &b, &c, &d], &[], &options);
        assert_eq!(
            out[0].not_programmed.as_ref().map(|p| p.reason),
            Some("AddressNotUsable")
        );
        assert_eq!(out[1].addresses, vec![ip("10.0.0.0")]);
        assert_eq!(out[2].addresses, vec![ip("10.0.0.1")]);
        assert_eq!(
            out[3].not_programmed.as_ref().map(|p| p.reason),
            Some("AddressNotAssigned")
        );
    }
}
