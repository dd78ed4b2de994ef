//! Source/destination IP filters: exact addresses or CIDR prefixes.

use std::net::IpAddr;

use ipnet::IpNet;

use super::{Predicate, Side, invalid, when};
use crate::Error;

pub(super) fn compile(side: Side, values: &[String]) -> Result<Option<Predicate>, Error> {
    let field = match side {
        Side::Source => "source_ip",
        Side::Destination => "destination_ip",
    };
    let nets = values
        .iter()
        .map(|v| parse(field, v))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(when(!nets.is_empty(), move |r| {
        let Some(ip) = r.flow.ip else {
            return false;
        };
        let addr = match side {
            Side::Source => ip.source,
            Side::Destination => ip.destination,
        };
        nets.iter().any(|n| n.contains(&addr))
    }))
}

fn parse(field: &'static str, value: &str) -> Result<IpNet, Error> {
    let v = value.trim();
    if v.contains('/') {
        v.parse::<IpNet>()
            .map_err(|e| invalid(field, value, format!("not a CIDR: {e}")))
    } else {
        v.parse::<IpAddr>()
            .map(IpNet::from)
            .map_err(|e| invalid(field, value, format!("not an IP address: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::filter::test_support::recorded;
    use crate::flow::record::{Flow, IpInfo};

    fn flow(src: &str, dst: &str) -> Flow {
        Flow {
            ip: Some(IpInfo {
                source: src.parse().expect("ip"),
                destination: dst.parse().expect("ip"),
            }),
            ..Flow::default()
        }
    }

    #[test]
    fn exact_and_cidr_match_their_side() {
        let src = compile(Side::Source, &["10.1.0.0/16".into(), "fd00::1".into()])
            .expect("valid")
            .expect("set");
        assert!(src(&recorded(flow("10.1.2.3", "1.1.1.1"))));
        assert!(src(&recorded(flow("fd00::1", "fd00::2"))));
        assert!(!src(&recorded(flow("10.2.0.1", "10.1.0.1"))));
        let dst = compile(Side::Destination, &["1.1.1.1".into()])
            .expect("valid")
            .expect("set");
        assert!(dst(&recorded(flow("10.2.0.1", "1.1.1.1"))));
        assert!(!dst(&recorded(flow("1.1.1.1", "10.2.0.1"))));
    }

    #[test]
    fn flow_without_ip_never_matches() {
        let p = compile(Side::Source, &["0.0.0.0/0".into()])
            .expect("valid")
            .expect("set");
        assert!(!p(&recorded(Flow::default())));
    }

    #[test]
    fn no_values_no_predicate() {
        assert!(compile(Side::Source, &[]).expect("valid").is_none());
    }

    #[test]
    fn bad_cidr_and_bad_ip_are_rejected() {
        for bad in ["10.0.0.0/33", "10.0.0/8", "not-an-ip", "1.2.3.4.5", ""] {
            let err = compile(Side::Source, &[bad.to_string()]).err().expect(bad);
            assert!(err.to_string().contains("source_ip"), "{err}");
        }
    }
}
