//! Portico's own `LoadBalancerIPPool` (portico.dev/v1alpha1), with the fields
//! of Cilium's CiliumLoadBalancerIPPool.

use kube::CustomResource;
use serde::{Deserialize, Serialize};

use crate::core::LabelSelector;

#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "portico.dev",
    version = "v1alpha1",
    kind = "LoadBalancerIPPool",
    root = "LoadBalancerIpPool",
    plural = "loadbalancerippools",
    status = "LoadBalancerIpPoolStatus",
    schema = "disabled",
    derive = "Default",
    derive = "PartialEq"
)]
#[serde(rename_all = "camelCase")]
pub struct LoadBalancerIpPoolSpec {
    /// Address blocks: a CIDR or an inclusive start/stop range.
    #[serde(default)]
    pub blocks: Vec<IpPoolBlock>,
    /// Which Services (and Gateways) may take addresses from this pool.
    /// Special keys `io.kubernetes.service.namespace` / `io.kubernetes.service.name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_selector: Option<LabelSelector>,
    /// A disabled pool allocates nothing new.
    #[serde(default)]
    pub disabled: bool,
    /// `Yes` or `No`: whether the network and broadcast addresses of a CIDR may
    /// be handed out (/31, /32, /127, /128 are always usable). Default `Yes`.
    #[serde(
        default,
        rename = "allowFirstLastIPs",
        skip_serializing_if = "Option::is_none"
    )]
    pub allow_first_last_ips: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct IpPoolBlock {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cidr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct LoadBalancerIpPoolStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>>,
}
