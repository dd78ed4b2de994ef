//! L4 port filters (TCP and UDP source/destination ports).

use super::{Predicate, Side, invalid, when};
use crate::Error;

pub(super) fn compile(side: Side, values: &[String]) -> Result<Option<Predicate>, Error> {
    let field = match side {
        Side::Source => "source_port",
        Side::Destination => "destination_port",
    };
    let ports = values
        .iter()
        .map(|v| {
            v.trim()
                .parse::<u16>()
                .map_err(|e| invalid(field, v, format!("not a port number: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(when(!ports.is_empty(), move |r| {
        let Some((src, dst)) = r.flow.l4.as_ref().and_then(|l4| l4.ports()) else {
            return false;
        };
        let port = match side {
            Side::Source => src,
            Side::Destination => dst,
        };
        ports.contains(&port)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::filter::test_support::recorded;
    use crate::flow::record::{Flow, Layer4, TcpFlags};

    #[test]
    fn ports_match_their_side() {
        let f = recorded(Flow {
            l4: Some(Layer4::Tcp {
                source_port: 40000,
                destination_port: 8080,
                flags: TcpFlags::default(),
            }),
            ..Flow::default()
        });
        let dst = compile(Side::Destination, &["80".into(), "8080".into()])
            .expect("valid")
            .expect("set");
        assert!(dst(&f));
        let src = compile(Side::Source, &["8080".into()])
            .expect("valid")
            .expect("set");
        assert!(!src(&f));
        let udp = recorded(Flow {
            l4: Some(Layer4::Udp {
                source_port: 53,
                destination_port: 5353,
            }),
            ..Flow::default()
        });
        let src53 = compile(Side::Source, &["53".into()])
            .expect("valid")
            .expect("set");
        assert!(src53(&udp));
        assert!(!src53(&recorded(Flow::default())));
    }

    #[test]
    fn invalid_ports_are_rejected() {
        for bad in ["http", "65536", "-1", ""] {
            let err = compile(Side::Destination, &[bad.into()]).err().expect(bad);
            assert!(err.to_string().contains("destination_port"));
        }
    }
}
