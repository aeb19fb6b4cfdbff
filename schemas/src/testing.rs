//! Types as a newer release might declare them, for the tests of schema
//! evolution here and in the stages that read other releases' messages.

use crate::registry::{Merge, PropertyDef, PropertyType, ResourceDef};
use crate::{Codec, ResourceKind};

/// The Host type with one more optional property, `rack`.
pub fn host_v2() -> &'static ResourceDef {
    let mut props: Vec<PropertyDef> = ResourceKind::Host.def().properties.to_vec();
    props.push(PropertyDef {
        name: "rack",
        ty: PropertyType::String,
        required: false,
        merge: Merge::Latest,
        doc: "Rack",
    });
    let def = ResourceDef {
        properties: Box::leak(props.into_boxed_slice()),
        ..*ResourceKind::Host.def()
    };
    Box::leak(Box::new(def))
}

/// A codec writing every type as today but Host as [`host_v2`].
pub fn newer_codec() -> Result<Codec, crate::CodecError> {
    Codec::new(ResourceKind::ALL.iter().map(|k| {
        if *k == ResourceKind::Host {
            host_v2()
        } else {
            k.def()
        }
    }))
}
