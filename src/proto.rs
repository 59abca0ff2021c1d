//! The wire format: messages of `proto/*.proto`, generated at build time by `prost`.
#![allow(missing_docs)]

include!(concat!(env!("OUT_DIR"), "/modelserver.rs"));

impl ModelDescriptor {
    /// Whether it carries a model to build (bytes or a location).
    pub fn carries_model(&self) -> bool {
        self.message_content.is_some()
    }

    /// Its lifecycle operation (a plain descriptor serves its model).
    pub fn operation(&self) -> lifecycle::Operation {
        self.lifecycle
            .as_ref()
            .map_or(lifecycle::Operation::Serve, |lifecycle| {
                lifecycle.operation()
            })
    }
}
