//! Identity of loaded objects in the shape translate's statuses use.

use portico_model::Object;

/// Identity of one object: its kind, namespace (empty when cluster-scoped)
/// and name — the same triple [`portico_translate::Statuses`] is keyed by.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectId {
    pub kind: &'static str,
    pub namespace: String,
    pub name: String,
}

impl ObjectId {
    /// The identity of an object. Namespaced objects without a namespace are
    /// in `default`, as the standalone contract says.
    pub fn of(object: &Object) -> ObjectId {
        let namespace = if object.is_namespaced() {
            object
                .namespace()
                .filter(|ns| !ns.is_empty())
                .unwrap_or("default")
                .to_string()
        } else {
            String::new()
        };
        ObjectId {
            kind: object.kind(),
            namespace,
            name: object.name().to_string(),
        }
    }

    /// `namespace/name`, or `name` when cluster-scoped.
    pub fn namespaced_name(&self) -> String {
        if self.namespace.is_empty() {
            self.name.clone()
        } else {
            format!("{}/{}", self.namespace, self.name)
        }
    }
}

impl std::fmt::Display for ObjectId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind, self.namespaced_name())
    }
}

#[cfg(test)]
mod tests {
    use portico_model::gateway::{Gateway, GatewayClass};

    use super::*;

    #[test]
    fn namespaced_objects_default_to_the_default_namespace() {
        let mut gw = Gateway::default();
        gw.metadata.name = Some("gw".into());
        let id = ObjectId::of(&Object::Gateway(Box::new(gw)));
        assert_eq!(id.namespace, "default");
        assert_eq!(id.to_string(), "Gateway default/gw");
    }

    #[test]
    fn cluster_scoped_objects_have_no_namespace() {
        let mut gc = GatewayClass::default();
        gc.metadata.name = Some("portico".into());
        gc.metadata.namespace = Some("ignored".into());
        let id = ObjectId::of(&Object::GatewayClass(Box::new(gc)));
        assert_eq!(id.namespace, "");
        assert_eq!(id.namespaced_name(), "portico");
    }
}
