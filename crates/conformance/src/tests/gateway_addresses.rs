//! Gateway `spec.addresses`: static addresses (unsupported type, unusable
//! address, usable address) and an address without a value.

use serde_json::Value;

use crate::status::{self, Cond, ListenerExpect, gateway_conditions, gateway_listeners};
use crate::{ConformanceTest, Env, Failure, INFRA_NS, conformance_test, manifests};

/// A loopback address Portico standalone can bind.
const USABLE: &str = "127.10.0.200";
/// A documentation address (TEST-NET-2) no local interface holds.
const UNUSABLE: &str = "198.51.100.1";

pub fn tests() -> Vec<ConformanceTest> {
    vec![
        conformance_test!(
            "GatewayStaticAddresses",
            manifests: ["tests/gateway-static-addresses.yaml"],
            features: ["Gateway", "GatewayStaticAddresses"],
            substitutions: [
                ("PLACEHOLDER_USABLE_ADDRS", USABLE),
                ("PLACEHOLDER_UNUSABLE_ADDRS", UNUSABLE),
            ],
            static_addresses
        ),
        conformance_test!(
            "GatewayOptionalAddressValue",
            manifests: ["tests/gateway-optional-address-value.yaml"],
            features: ["Gateway", "GatewayAddressEmpty"],
            optional_address_value
        ),
    ]
}

/// The Gateway as written in the manifests, with only the addresses whose
/// value is in `keep`.
fn with_addresses(env: &Env, name: &str, keep: &[&str]) -> Result<Value, Failure> {
    let mut gw = env
        .documents()
        .iter()
        .find(|d| {
            manifests::kind(d) == "Gateway"
                && manifests::name(d) == name
                && manifests::namespace(d) == INFRA_NS
        })
        .cloned()
        .ok_or_else(|| Failure(format!("Gateway {name} is not in the manifests")))?;
    let addresses = gw
        .pointer_mut("/spec/addresses")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| Failure::new("the Gateway has no spec.addresses"))?;
    addresses.retain(|a| {
        a.get("value")
            .and_then(Value::as_str)
            .is_some_and(|v| keep.contains(&v))
    });
    Ok(gw)
}

async fn static_addresses(env: &Env) -> Result<(), Failure> {
    const GW: &str = "gateway-static-addresses";
    gateway_conditions(
        env,
        INFRA_NS,
        GW,
        &[Cond("Accepted", "False", "UnsupportedAddress")],
    )
    .await?;

    // Without the address of an unsupported type: accepted, not programmed.
    let gw = with_addresses(env, GW, &[UNUSABLE, USABLE])?;
    env.replace_object("Gateway", INFRA_NS, GW, &gw)?;
    gateway_conditions(
        env,
        INFRA_NS,
        GW,
        &[
            Cond("Accepted", "True", "Accepted"),
            Cond("Programmed", "False", "AddressNotUsable"),
        ],
    )
    .await?;

    // Only the usable address left: programmed with exactly that address.
    let gw = with_addresses(env, GW, &[USABLE])?;
    env.replace_object("Gateway", INFRA_NS, GW, &gw)?;
    gateway_conditions(
        env,
        INFRA_NS,
        GW,
        &[
            Cond("Accepted", "True", "Accepted"),
            Cond("Programmed", "True", "Programmed"),
        ],
    )
    .await?;
    gateway_listeners(
        env,
        INFRA_NS,
        GW,
        &[ListenerExpect {
            name: "http",
            supported_kinds: &["HTTPRoute"],
            attached_routes: 0,
            conditions: &[
                Cond("Accepted", "True", ""),
                Cond("ResolvedRefs", "True", ""),
            ],
        }],
    )
    .await?;
    status::eventually(env, "Gateway", INFRA_NS, GW, |gw| {
        let addresses = gw
            .pointer("/status/addresses")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let [only] = addresses.as_slice() else {
            return Err(format!("expected one status address, got {addresses:?}"));
        };
        let value = only.get("value").and_then(Value::as_str).unwrap_or("");
        let type_ = only
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("IPAddress");
        if value != USABLE || type_ != "IPAddress" {
            return Err(format!(
                "status address {only}, expected IPAddress {USABLE}"
            ));
        }
        Ok(())
    })
    .await?;
    Ok(())
}

async fn optional_address_value(env: &Env) -> Result<(), Failure> {
    status::eventually(
        env,
        "Gateway",
        INFRA_NS,
        "gateway-without-address-value",
        |gw| {
            let has_address = gw
                .pointer("/status/addresses/0/value")
                .and_then(Value::as_str)
                .is_some_and(|a| !a.is_empty());
            if has_address {
                Ok(())
            } else {
                Err("no status.addresses".into())
            }
        },
    )
    .await?;
    Ok(())
}
